/**
 * A scripted IMAP server model and a client that implements the trigger's ImapClient interface on top of it.
 * It is the imapflow boundary for unit tests: timing and error paths (kicks, refused tokens, hanging fetches),
 * and the exact commands the trigger sends (UID ranges, Gmail label STOREs, X-GM-RAW searches).
 * Search is evaluated for the keys the trigger uses; any other key throws, so a test can never pass on a query
 * the fake silently ignored.
 * Its asynchrony is setImmediate (each command yields once; 'exists' and 'close' events come on the next turn), so in
 * the suites on jest's fake clock (watcherHarness.ts useFakeClock) it moves only as the test advances the clock, like
 * the watcher's own timers; times it records (connectAttempts) are the fake clock's.
 *
 * Edge answers follow imapflow 2.10 (node_modules/imapflow/dist/cjs), because the trigger must read them right:
 * - no mailbox selected (also after the connection closed, which clears `mailbox`): search() resolves undefined,
 *   download() resolves {}, fetch() throws NoMailboxSelected (NoConnection once closed), a STORE resolves false,
 *   MOVE and EXPUNGE resolve undefined;
 * - the connection gone: commands that reach imapflow's run() throw NoConnection (STORE, MOVE, EXPUNGE, STATUS, SELECT);
 * - NO/BAD from the server (see FakeImapServer.refuse): search() resolves false, fetch() and download() throw an
 *   error with responseStatus 'NO', STORE/MOVE/EXPUNGE resolve false.
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type {
	CopyResponseObject,
	DownloadNotFound,
	DownloadObject,
	FetchMessageObject,
	FetchQueryObject,
	ImapFlowOptions,
	MailboxLockObject,
	MailboxObject,
	SearchObject,
	StatusObject,
	StatusQuery,
	StoreOptions,
} from 'imapflow';

import type { ImapClient } from '../../../../nodes/mail/imap/client';

export interface FakeMessage {
	uid: number;
	flags: Set<string>;
	labels: Set<string>;
	internalDate: Date;
	source: Buffer;
	messageId?: string;
	subject: string;
	threadId: string;
	emailId: string;
	/** RFC822.SIZE as the server reports it when that is not the source's length (Gmail is known to misreport). */
	reportedSize?: number;
}

export interface FakeFolder {
	uidValidity: bigint;
	uidNext: number;
	messages: FakeMessage[];
}

export interface DeliverOptions {
	subject?: string;
	messageId?: string | null;
	date?: Date;
	flags?: string[];
	labels?: string[];
	body?: string;
	/** Raw size to pad the body to (to exercise streaming of large messages). */
	padTo?: number;
	/** Header size to reach with padding fields placed before the Message-ID (a header longer than a prefix read). */
	headerPadTo?: number;
	/** No EXISTS to the sessions (a notification the server failed to send): only a poll finds it. */
	silent?: boolean;
	/** RFC822.SIZE to report instead of the source's length. */
	reportedSize?: number;
}

export type RefusableCommand = 'SEARCH' | 'FETCH' | 'DOWNLOAD' | 'STORE' | 'MOVE' | 'EXPUNGE';

let uidValiditySeed = 1000n;
let messageCounter = 0;

export class FakeImapServer {
	readonly folders = new Map<string, FakeFolder>();
	readonly capabilities = new Set<string>(['IMAP4rev1', 'IDLE', 'UIDPLUS', 'MOVE']);
	readonly clients = new Set<FakeImapClient>();
	/** Every command, in order, as a short text (`SEARCH {...}`, `STORE 3 +FLAGS (\Seen)`, ...). */
	readonly commands: string[] = [];
	readonly connectAttempts: Array<{ at: number; token: string }> = [];
	/** Tokens the server accepts; empty set = accept any. */
	readonly acceptedTokens = new Set<string>();
	/** Refuse every token (IMAP disabled for the account, wrong scope). */
	refuseAllTokens = false;
	/** Next connect attempts fail with this error (network fault) while it returns one. */
	connectFailure?: () => Error | undefined;
	/** While set, FETCH of message sources waits for it (a fetch "in flight"). */
	fetchGate?: Promise<void>;
	/** Like some servers (imapflow names Tencent Exmail): BODY[]<start.length> answered with the whole message. */
	ignorePartial = false;
	/** Bytes of message sources sent in FETCH answers (not downloads). */
	sentSourceBytes = 0;
	/**
	 * Keep mailbox.uidNext as imapflow does: set by SELECT and raised by a FETCH answer's UID, not by EXISTS (the fake
	 * otherwise refreshes it at every EXISTS).
	 */
	imapflowUidNext = false;
	/** Gmail X-GM-RAW evaluation for tests: which messages a raw query matches. */
	gmailRaw?: (query: string, message: FakeMessage) => boolean;
	/**
	 * The server answers NO to a command while the connection stays open (Gmail's `NO [UNAVAILABLE]`, a message
	 * Dovecot cannot read). `detail` is the UID range (FETCH, DOWNLOAD, STORE, MOVE, EXPUNGE) or the query (SEARCH);
	 * FETCH also passes what it asks for.
	 */
	refuse?: (command: RefusableCommand, detail: string, query?: FetchQueryObject) => boolean;
	/**
	 * The server answers OK but leaves this message out (a FETCH without its row, a download that comes back empty:
	 * imapflow's `{}`), although the message exists — what a glitching server or a late answer looks like.
	 */
	omit?: (command: 'FETCH' | 'DOWNLOAD', uid: number, query?: FetchQueryObject) => boolean;
	/**
	 * After each row of a FETCH answer, an unsolicited row of the same message with its flags, as imapflow passes on
	 * `* n FETCH (FLAGS … MODSEQ)` (CONDSTORE) when another client changed a flag meanwhile: without a UID (Dovecot) or
	 * with one (servers that always send it).
	 */
	unsolicitedFlagRows?: 'without UID' | 'with UID';
	/** Runs as a SEARCH, FETCH or DOWNLOAD reaches the client, before it looks at its state (e.g. to close it right then). */
	beforeCommand?: (command: 'SEARCH' | 'FETCH' | 'DOWNLOAD', detail: string, client: FakeImapClient) => void;

	constructor(folders: string[] = ['INBOX']) {
		for (const folder of folders) this.createFolder(folder);
	}

	enableGmail(): void {
		this.capabilities.add('X-GM-EXT-1');
	}

	/** The name the server gives in its ID answer (imapflow's serverInfo.name); none by default. */
	serverName?: string;

	createFolder(name: string): FakeFolder {
		const folder: FakeFolder = { uidValidity: ++uidValiditySeed, uidNext: 1, messages: [] };
		this.folders.set(name, folder);
		return folder;
	}

	/** `quietly`: like Dovecot, sessions that have the folder selected are not told and keep their stale view. */
	deleteFolder(name: string, options: { quietly?: boolean } = {}): void {
		this.folders.delete(name);
		if (options.quietly) return;
		for (const client of this.clients) {
			if (client.mailbox && client.mailbox.path === name) client.serverClose('Selected mailbox was deleted, have to disconnect.');
		}
	}

	/** Deletes and recreates a folder with a new UIDVALIDITY, copying the given old messages (same dates and ids). */
	recreateFolder(name: string, keep: (message: FakeMessage) => boolean = () => true, options: { quietly?: boolean } = {}): void {
		const old = this.folders.get(name);
		this.deleteFolder(name, options);
		const fresh = this.createFolder(name);
		for (const message of old?.messages ?? []) {
			if (!keep(message)) continue;
			fresh.messages.push({ ...message, uid: fresh.uidNext++, flags: new Set(message.flags), labels: new Set(message.labels) });
		}
	}

	deliver(folderName: string, options: DeliverOptions = {}): FakeMessage {
		const folder = this.folders.get(folderName);
		if (!folder) throw new Error(`no folder ${folderName}`);
		const number = ++messageCounter;
		const messageId = options.messageId === null ? undefined : (options.messageId ?? `<m${number}@fake.test>`);
		const subject = options.subject ?? `message ${number}`;
		let body = options.body ?? `body of ${subject}`;
		const padding = Array.from({ length: Math.ceil((options.headerPadTo ?? 0) / 72) }, () => `X-Padding: ${'p'.repeat(59)}\r\n`).join('');
		const header = `${padding}${messageId ? `Message-ID: ${messageId}\r\n` : ''}Subject: ${subject}\r\nFrom: a@example.test\r\nTo: b@example.test\r\n\r\n`;
		if (options.padTo && header.length + body.length < options.padTo) body += 'x'.repeat(options.padTo - header.length - body.length);
		const message: FakeMessage = {
			uid: folder.uidNext++,
			flags: new Set(options.flags ?? []),
			labels: new Set(options.labels ?? []),
			internalDate: options.date ?? new Date(),
			source: Buffer.from(header + body),
			messageId,
			subject,
			threadId: `thr${number}`,
			emailId: `gm${number}`,
			reportedSize: options.reportedSize,
		};
		folder.messages.push(message);
		if (!options.silent) for (const client of this.clients) client.notifyExists(folderName);
		return message;
	}

	/** EXPUNGE responses: every client with the folder selected learns the new count (imapflow lowers mailbox.exists). */
	expunged(folderName: string): void {
		const folder = this.folders.get(folderName);
		for (const client of this.clients) {
			if (folder && client.mailbox && client.mailbox.path === folderName) client.mailbox.exists = folder.messages.length;
		}
	}

	/** Like `doveadm kick`: the server ends every session of the user. */
	kick(reason = 'Server shutting down.'): void {
		for (const client of [...this.clients]) client.serverClose(reason);
	}

	openClientCount(): number {
		return [...this.clients].filter((client) => client.usable).length;
	}

	message(folderName: string, uid: number): FakeMessage | undefined {
		return this.folders.get(folderName)?.messages.find((message) => message.uid === uid);
	}
}

function imapError(message: string, fields: Record<string, unknown>): Error {
	return Object.assign(new Error(message), fields);
}

/** imapflow's error for a tagged NO: the command failed, the connection is fine. */
function refusedError(command: string): Error {
	return imapError('Command failed', { responseStatus: 'NO', responseText: `${command} failed: server unavailable`, serverResponseCode: 'UNAVAILABLE' });
}

export class FakeImapClient extends EventEmitter implements ImapClient {
	usable = false;
	mailbox: MailboxObject | false = false;
	readonly capabilities = new Map<string, boolean | number>();
	serverInfo: { name?: string } | null = null;
	byeReason?: string;
	private closed = false;
	readonly token: string;

	constructor(
		private readonly server: FakeImapServer,
		readonly options: ImapFlowOptions,
	) {
		super();
		this.token = options.auth?.accessToken ?? '';
	}

	async connect(): Promise<void> {
		await tick();
		this.server.connectAttempts.push({ at: Date.now(), token: this.token });
		if (this.closed) throw imapError('Connection closed', { code: 'NoConnection' });
		const failure = this.server.connectFailure?.();
		if (failure) throw failure;
		if (this.server.refuseAllTokens || (this.server.acceptedTokens.size > 0 && !this.server.acceptedTokens.has(this.token))) {
			throw imapError('Authentication failed', {
				authenticationFailed: true,
				serverResponseCode: 'AUTHENTICATIONFAILED',
				response: 'Authentication failed.',
				oauthError: { status: '401', schemes: 'bearer', scope: 'mail' },
			});
		}
		for (const capability of this.server.capabilities) this.capabilities.set(capability, true);
		if (this.server.serverName !== undefined) this.serverInfo = { name: this.server.serverName };
		this.usable = true;
		this.server.clients.add(this);
		this.server.commands.push('LOGIN');
	}

	async logout(): Promise<void> {
		this.server.commands.push('LOGOUT');
		this.close();
	}

	close(): void {
		if (this.closed) return;
		this.finish();
	}

	serverClose(reason: string): void {
		if (this.closed) return;
		this.byeReason = reason;
		this.finish();
	}

	private finish(): void {
		this.closed = true;
		this.usable = false;
		if (this.mailbox) this.mailbox = false;
		this.server.clients.delete(this);
		setImmediate(() => this.emit('close'));
	}

	notifyExists(folderName: string): void {
		if (!this.usable || !this.mailbox || this.mailbox.path !== folderName) return;
		const folder = this.server.folders.get(folderName);
		if (!folder || folder !== this.selectedFolder) return;
		const prevCount = this.mailbox.exists;
		this.mailbox.exists = folder.messages.length;
		if (!this.server.imapflowUidNext) this.mailbox.uidNext = folder.uidNext;
		setImmediate(() => this.emit('exists', { path: folderName, count: folder.messages.length, prevCount }));
	}

	private ensureUsable(): void {
		if (!this.usable) throw imapError('Connection not available', { code: 'NoConnection' });
	}

	/** The folder as it was when SELECTed (a recreated folder is a different object, as on a real server). */
	private selectedFolder?: FakeFolder;

	private selected(): FakeFolder {
		this.ensureUsable();
		const folder = this.mailbox ? this.selectedFolder : undefined;
		if (!folder) throw imapError('No mailbox selected', { code: 'NoMailboxSelected' });
		return folder;
	}

	async getMailboxLock(path: string): Promise<MailboxLockObject> {
		await tick();
		this.ensureUsable();
		if (!this.mailbox || this.mailbox.path !== path) {
			this.server.commands.push(`SELECT ${path}`);
			const folder = this.server.folders.get(path);
			if (!folder) {
				this.mailbox = false;
				throw imapError(`Mailbox doesn't exist: ${path}`, { mailboxMissing: true, responseStatus: 'NO' });
			}
			this.selectedFolder = folder;
			this.mailbox = {
				path,
				delimiter: '/',
				flags: new Set(),
				uidValidity: folder.uidValidity,
				uidNext: folder.uidNext,
				exists: folder.messages.length,
			};
		}
		return { path, release: () => undefined };
	}

	/** SELECT by name, also of the folder already selected (then it may turn out to be a different folder now). */
	async mailboxOpen(path: string): Promise<MailboxObject> {
		this.mailbox = false;
		await this.getMailboxLock(path);
		return this.mailbox as unknown as MailboxObject;
	}

	async status(path: string, query: StatusQuery): Promise<StatusObject | false> {
		await tick();
		this.ensureUsable();
		this.server.commands.push(`STATUS ${path}`);
		const folder = this.server.folders.get(path);
		if (!folder) throw imapError(`Mailbox doesn't exist: ${path}`, { code: 'NotFound' });
		return {
			path,
			uidNext: query.uidNext ? folder.uidNext : undefined,
			uidValidity: query.uidValidity ? folder.uidValidity : undefined,
			messages: query.messages ? folder.messages.length : undefined,
		};
	}

	async search(query: SearchObject): Promise<number[] | false | undefined> {
		await tick();
		this.server.beforeCommand?.('SEARCH', describe(query), this);
		// imapflow checks `mailbox` before sending anything; a closed connection has none.
		if (!this.mailbox) return undefined;
		const folder = this.selected();
		this.server.commands.push(`SEARCH ${describe(query)}`);
		if (this.server.refuse?.('SEARCH', describe(query))) return false;
		const max = folder.messages.reduce((highest, message) => Math.max(highest, message.uid), 0);
		return folder.messages.filter((message) => this.matches(query, message, max)).map((message) => message.uid);
	}

	private matches(query: SearchObject, message: FakeMessage, maxUid: number): boolean {
		for (const [key, value] of Object.entries(query)) {
			if (value === undefined) continue;
			switch (key) {
				case 'all':
					break;
				case 'uid':
					if (!inUidSet(String(value), message.uid, maxUid)) return false;
					break;
				case 'seen':
					if (message.flags.has('\\Seen') !== value) return false;
					break;
				case 'flagged':
					if (message.flags.has('\\Flagged') !== value) return false;
					break;
				case 'since':
					if (message.internalDate.getTime() < startOfDay(value as Date)) return false;
					break;
				case 'subject':
					if (!message.subject.toLowerCase().includes(String(value).toLowerCase())) return false;
					break;
				case 'not':
					if (this.matches(value as SearchObject, message, maxUid)) return false;
					break;
				case 'or':
					if (!(value as SearchObject[]).some((part) => this.matches(part, message, maxUid))) return false;
					break;
				case 'gmraw':
					if (!this.capabilities.has('X-GM-EXT-1')) throw imapError('X-GM-RAW needs X-GM-EXT-1', { code: 'MissingServerExtension' });
					if (!this.server.gmailRaw?.(String(value), message)) return false;
					break;
				default:
					throw new Error(`FakeImapClient cannot evaluate search key "${key}"`);
			}
		}
		return true;
	}

	async *fetch(range: string, query: FetchQueryObject): AsyncGenerator<FetchMessageObject, false | void, undefined> {
		await tick();
		this.server.beforeCommand?.('FETCH', range, this);
		const folder = this.selected();
		this.server.commands.push(`FETCH ${range} ${Object.keys(query).filter((key) => query[key as keyof FetchQueryObject]).join(',')}`);
		if (query.source && this.server.fetchGate) await this.server.fetchGate;
		this.ensureUsable();
		if (this.server.refuse?.('FETCH', range, query)) throw refusedError('FETCH');
		const max = folder.messages.reduce((highest, message) => Math.max(highest, message.uid), 0);
		for (const message of folder.messages.filter((candidate) => inUidSet(range, candidate.uid, max))) {
			this.ensureUsable();
			if (this.server.omit?.('FETCH', message.uid, query)) continue;
			const result: FetchMessageObject = { seq: 0, uid: message.uid };
			if (this.mailbox && this.mailbox.uidNext <= message.uid) this.mailbox.uidNext = message.uid + 1;
			if (query.flags) result.flags = new Set(message.flags);
			if (query.internalDate) result.internalDate = message.internalDate;
			if (query.size) result.size = message.reportedSize ?? message.source.length;
			if (query.envelope) result.envelope = { messageId: message.messageId, subject: message.subject };
			// BODY.PEEK[HEADER.FIELDS (...)]: the asked-for header lines as the message has them, then the blank line
			if (Array.isArray(query.headers)) {
				const wanted = query.headers.map((name) => name.toLowerCase());
				const lines = message.messageId !== undefined && wanted.includes('message-id') ? `Message-ID: ${message.messageId}\r\n` : '';
				result.headers = Buffer.from(`${lines}\r\n`);
			}
			// BODY.PEEK[]<start.length>: that part only (RFC 3501 partial fetch)
			if (typeof query.source === 'object' && !this.server.ignorePartial) {
				const start = query.source.start ?? 0;
				result.source = message.source.subarray(start, query.source.maxLength === undefined ? undefined : start + query.source.maxLength);
			} else if (query.source) result.source = message.source;
			if (result.source) this.server.sentSourceBytes += result.source.length;
			if (this.capabilities.has('X-GM-EXT-1')) {
				result.emailId = message.emailId;
				if (query.labels) result.labels = new Set(message.labels);
				if (query.threadId) result.threadId = message.threadId;
			}
			yield result;
			if (this.server.unsolicitedFlagRows) {
				const uid = this.server.unsolicitedFlagRows === 'with UID' ? message.uid : (undefined as unknown as number);
				yield { seq: 0, uid, flags: new Set(message.flags) };
			}
		}
	}

	async download(range: string): Promise<DownloadObject | DownloadNotFound> {
		await tick();
		this.server.beforeCommand?.('DOWNLOAD', range, this);
		// imapflow's downloadMessage(): no mailbox (also after a close) → an empty object, like a missing message.
		if (!this.mailbox) return {};
		const folder = this.selected();
		this.server.commands.push(`DOWNLOAD ${range}`);
		if (this.server.refuse?.('DOWNLOAD', range)) throw refusedError('FETCH');
		const message = folder.messages.find((candidate) => candidate.uid === Number(range));
		if (!message || this.server.omit?.('DOWNLOAD', message.uid)) return {};
		const chunks: Buffer[] = [];
		for (let offset = 0; offset < message.source.length; offset += 64 * 1024) {
			chunks.push(message.source.subarray(offset, offset + 64 * 1024));
		}
		return {
			meta: { expectedSize: message.source.length, contentType: 'message/rfc822' },
			content: Readable.from(chunks),
		} as DownloadObject;
	}

	async messageFlagsAdd(range: string, flags: string[], options?: StoreOptions): Promise<boolean> {
		return await this.store(range, flags, options, 'add');
	}

	async messageFlagsRemove(range: string, flags: string[], options?: StoreOptions): Promise<boolean> {
		return await this.store(range, flags, options, 'remove');
	}

	private async store(range: string, flags: string[], options: StoreOptions | undefined, operation: 'add' | 'remove'): Promise<boolean> {
		await tick();
		this.ensureUsable();
		if (!this.mailbox || !this.selectedFolder) return false;
		const folder = this.selectedFolder;
		if (options?.useLabels && !this.capabilities.has('X-GM-EXT-1')) return false;
		const sign = operation === 'add' ? '+' : '-';
		this.server.commands.push(`STORE ${range} ${sign}${options?.useLabels ? 'X-GM-LABELS' : 'FLAGS'} (${flags.join(' ')})`);
		if (this.server.refuse?.('STORE', range)) return false;
		const max = folder.messages.reduce((highest, message) => Math.max(highest, message.uid), 0);
		for (const message of folder.messages.filter((candidate) => inUidSet(range, candidate.uid, max))) {
			const target = options?.useLabels ? message.labels : message.flags;
			for (const flag of flags) {
				if (operation === 'add') target.add(flag);
				else target.delete(flag);
			}
		}
		return true;
	}

	async messageMove(range: string, destination: string): Promise<CopyResponseObject | false | undefined> {
		await tick();
		this.ensureUsable();
		if (!this.mailbox || !this.selectedFolder) return undefined;
		const folder = this.selectedFolder;
		const target = this.server.folders.get(destination);
		const max = folder.messages.reduce((highest, message) => Math.max(highest, message.uid), 0);
		if (!this.capabilities.has('MOVE')) {
			// imapflow without MOVE: COPY, then STORE \Deleted and UID EXPUNGE; false when either step is refused, even after the COPY.
			this.server.commands.push(`COPY ${range} ${destination}`);
			if (!target || this.server.refuse?.('MOVE', range)) return false;
			for (const message of folder.messages.filter((candidate) => inUidSet(range, candidate.uid, max))) target.messages.push({ ...message, uid: target.uidNext++ });
			return (await this.messageDelete(range)) ? { path: this.mailbox.path, destination } : false;
		}
		this.server.commands.push(`MOVE ${range} ${destination}`);
		if (!target || this.server.refuse?.('MOVE', range)) return false;
		const moving = folder.messages.filter((candidate) => inUidSet(range, candidate.uid, max));
		folder.messages = folder.messages.filter((candidate) => !moving.includes(candidate));
		for (const message of moving) target.messages.push({ ...message, uid: target.uidNext++ });
		this.server.expunged(this.mailbox ? this.mailbox.path : '');
		return { path: this.mailbox ? this.mailbox.path : '', destination };
	}

	async messageDelete(range: string): Promise<boolean | undefined> {
		await tick();
		this.ensureUsable();
		if (!this.mailbox || !this.selectedFolder) return undefined;
		const folder = this.selectedFolder;
		this.server.commands.push(`DELETE ${range}`);
		if (this.server.refuse?.('EXPUNGE', range)) return false;
		const max = folder.messages.reduce((highest, message) => Math.max(highest, message.uid), 0);
		folder.messages = folder.messages.filter((candidate) => !inUidSet(range, candidate.uid, max));
		this.server.expunged(this.mailbox ? this.mailbox.path : '');
		return true;
	}
}

export function fakeClientFactory(server: FakeImapServer): (options: ImapFlowOptions) => FakeImapClient {
	return (options) => new FakeImapClient(server, options);
}

function tick(): Promise<void> {
	return new Promise((resolve) => setImmediate(resolve));
}

function startOfDay(date: Date): number {
	const copy = new Date(date);
	copy.setUTCHours(0, 0, 0, 0);
	return copy.getTime();
}

/** IMAP sequence-set membership, with `*` = the highest UID (so `n:*` includes it even when it is below n). */
export function inUidSet(set: string, uid: number, maxUid: number): boolean {
	return set.split(',').some((part) => {
		const [startText, endText] = part.split(':');
		const start = startText === '*' ? maxUid : Number(startText);
		if (endText === undefined) return uid === start;
		const end = endText === '*' ? maxUid : Number(endText);
		return uid >= Math.min(start, end) && uid <= Math.max(start, end);
	});
}

function describe(query: SearchObject): string {
	return JSON.stringify(query, (_key, value: unknown) => (value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? String(value) : value));
}
