/**
 * One IMAP session for a whole execution of the action node: opened on the first item that needs it, shared by all
 * items, logged out at the end. Token refresh on a refused login is the trigger's (openImapSession/withTokenRetry);
 * a connection lost between items is opened again (a bounded number of times), never in the middle of a command.
 */
import type { ImapFlowOptions, MailboxObject } from 'imapflow';

import type { TokenSource } from '../../auth/tokens';
import type { MailEndpoint } from '../../connection';
import { createImapFlowClient, isMailboxMissing } from '../client';
import type { TriggerLogger } from '../logger';
import { DEFAULT_SESSION_TIMING, type ImapSession, openImapSession, type SessionTiming } from '../session';
import type { ImapActionClient } from './client';
import { ImapActionError, missingFolderError } from './errors';

export type ImapActionClientFactory = (options: ImapFlowOptions) => ImapActionClient;

export interface ActionSessionOptions {
	endpoint: MailEndpoint;
	tokens: TokenSource;
	logger: TriggerLogger;
	createClient?: ImapActionClientFactory;
	timing?: Partial<SessionTiming>;
	/** How often a lost connection is opened again within one execution (default 2). */
	maxReopen?: number;
}

/** Where a folder operation runs: the selected folder's UIDVALIDITY and what the server said about it. */
export interface SelectedFolder {
	path: string;
	uidValidity: string;
	exists: number;
	uidNext?: number;
}

const realFactory: ImapActionClientFactory = (options) => createImapFlowClient(options) as ImapActionClient;

export class ImapActionSession {
	private session?: ImapSession;
	private opening?: Promise<ImapSession>;
	private opens = 0;
	private readonly clients = new Set<ImapActionClient>();

	constructor(private readonly options: ActionSessionOptions) {}

	/** How many connections this execution opened (one, unless one was lost between items). */
	get openCount(): number {
		return this.opens;
	}

	/** Whether the current connection can still take commands (false before the first item and after a loss). */
	get isOpen(): boolean {
		return this.session?.isOpen ?? false;
	}

	/** The client of an open session; opens one (again) when there is none. */
	async client(): Promise<ImapActionClient> {
		if (this.session?.isOpen) return this.session.client as ImapActionClient;
		const maxReopen = this.options.maxReopen ?? 2;
		if (this.opens > maxReopen) {
			throw new ImapActionError(
				`The IMAP connection was lost ${this.opens} times in this execution; giving up`,
				'Check the server and the network, then run the node again.',
				true,
			);
		}
		if (this.session) this.options.logger.warn(`Gmail IMAP: the connection was lost; opening a new one (${this.options.endpoint.host})`);
		this.session?.destroy();
		this.session = undefined;
		this.opening ??= this.open().finally(() => {
			this.opening = undefined;
		});
		this.session = await this.opening;
		return this.session.client as ImapActionClient;
	}

	/** The server's capabilities (after login). */
	async capabilities(): Promise<Map<string, boolean | number>> {
		return (await this.client()).capabilities;
	}

	/** Gmail's IMAP extension (labels, X-GM-RAW, thread ids). */
	async isGmail(): Promise<boolean> {
		return (await this.capabilities()).has('X-GM-EXT-1');
	}

	/**
	 * Selects `path` (holding imapflow's lock on it) while `work` runs. A folder the server does not have becomes an
	 * error that names it.
	 */
	async inFolder<T>(path: string, work: (client: ImapActionClient, folder: SelectedFolder) => Promise<T>): Promise<T> {
		const client = await this.client();
		let lock: { release(): void };
		try {
			lock = await client.getMailboxLock(path);
		} catch (error) {
			if (isMailboxMissing(error)) throw missingFolderError(path);
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- mapped to an n8n error by the node (toNodeError)
			throw error;
		}
		try {
			const mailbox = client.mailbox as MailboxObject | false;
			if (!mailbox) throw new ImapActionError(`The folder "${path}" could not be opened`, 'Run the node again.');
			return await work(client, {
				path: mailbox.path,
				uidValidity: String(mailbox.uidValidity),
				exists: mailbox.exists,
				uidNext: mailbox.uidNext,
			});
		} finally {
			lock.release();
		}
	}

	/** LOGOUT (bounded), then the socket is closed. Safe to call when nothing was opened. */
	async close(): Promise<void> {
		const session = this.session;
		this.session = undefined;
		if (session) await session.retire(2000);
		for (const client of this.clients) {
			try {
				client.close();
			} catch {
				// already closed
			}
		}
		this.clients.clear();
	}

	private async open(): Promise<ImapSession> {
		this.opens++;
		const factory = this.options.createClient ?? realFactory;
		const session = await openImapSession({
			endpoint: this.options.endpoint,
			tokens: this.options.tokens,
			// An action node never waits for new mail: no IDLE between its commands.
			createClient: (imapOptions) => factory({ ...imapOptions, disableAutoIdle: true }),
			logger: this.options.logger,
			timing: { ...DEFAULT_SESSION_TIMING, socketTimeoutMs: 120_000, ...this.options.timing },
			track: (client) => this.clients.add(client as ImapActionClient),
			label: 'gmail-imap-node',
		});
		return session;
	}
}
