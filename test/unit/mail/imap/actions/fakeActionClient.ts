/**
 * The unit IMAP fake (../fakeImap.ts) with what the action node uses beyond the trigger: LIST with special use,
 * CREATE / RENAME / DELETE of folders, COPY, APPEND, MOVE answering COPYUID (as Gmail and Dovecot with UIDPLUS do),
 * and SEARCH HEADER. Every command is recorded in the server's `commands`, so tests check exactly what was sent.
 */
import type {
	AppendResponseObject,
	CopyResponseObject,
	ImapFlowOptions,
	ListResponse,
	MailboxCreateResponse,
	MailboxDeleteResponse,
	MailboxRenameResponse,
	SearchObject,
} from 'imapflow';

import type { ImapActionClient } from '../../../../../nodes/mail/imap/actions/client';
import { FakeImapClient, type FakeImapServer, inUidSet } from '../fakeImap';

/** Gmail's folders as its IMAP server lists them (English names), with their special use. */
export const GMAIL_FOLDERS: Record<string, string | undefined> = {
	INBOX: undefined,
	'[Gmail]/All Mail': '\\All',
	'[Gmail]/Drafts': '\\Drafts',
	'[Gmail]/Sent Mail': '\\Sent',
	'[Gmail]/Trash': '\\Trash',
};

export class FakeActionServerExtras {
	readonly specialUse = new Map<string, string>();
	/** MOVE and COPY answer COPYUID (UIDPLUS). */
	copyUid = true;
}

export class FakeActionClient extends FakeImapClient implements ImapActionClient {
	constructor(
		private readonly fakeServer: FakeImapServer,
		private readonly extras: FakeActionServerExtras,
		options: ImapFlowOptions,
	) {
		super(fakeServer, options);
	}

	private record(command: string): void {
		if (!this.usable) throw Object.assign(new Error('Connection not available'), { code: 'NoConnection' });
		this.fakeServer.commands.push(command);
	}

	async list(): Promise<ListResponse[]> {
		this.record('LIST');
		return [...this.fakeServer.folders.keys()].map((path) => ({
			path,
			pathAsListed: path,
			name: path.split('/').pop() ?? path,
			delimiter: '/',
			parent: [],
			parentPath: '',
			flags: new Set<string>(),
			specialUse: this.extras.specialUse.get(path),
			listed: true,
			subscribed: true,
		}));
	}

	async mailboxCreate(path: string): Promise<MailboxCreateResponse> {
		this.record(`CREATE ${path}`);
		const created = !this.fakeServer.folders.has(path);
		if (created) this.fakeServer.createFolder(path);
		return { path, created };
	}

	async mailboxRename(path: string, newPath: string): Promise<MailboxRenameResponse> {
		this.record(`RENAME ${path} ${newPath}`);
		const folder = this.fakeServer.folders.get(path);
		if (!folder) throw Object.assign(new Error('Mailbox does not exist'), { responseStatus: 'NO', serverResponseCode: 'NONEXISTENT' });
		this.fakeServer.folders.delete(path);
		this.fakeServer.folders.set(newPath, folder);
		return { path, newPath };
	}

	async mailboxDelete(path: string): Promise<MailboxDeleteResponse> {
		this.record(`DELETE-FOLDER ${path}`);
		if (!this.fakeServer.folders.has(path)) throw Object.assign(new Error('Mailbox does not exist'), { responseStatus: 'NO', serverResponseCode: 'NONEXISTENT' });
		this.fakeServer.deleteFolder(path, { quietly: true });
		return { path };
	}

	async search(query: SearchObject): Promise<number[] | false | undefined> {
		if (!query.header) return await super.search(query);
		const { header, ...rest } = query;
		if (Object.keys(rest).length > 0) throw new Error('FakeActionClient: HEADER only alone');
		if (!this.mailbox) return undefined;
		this.record(`SEARCH HEADER ${JSON.stringify(header)}`);
		const [[name, value]] = Object.entries(header);
		if (name.toLowerCase() !== 'message-id') throw new Error(`FakeActionClient cannot search header ${name}`);
		return (this.selectedMessages() ?? []).filter((message) => (message.messageId ?? '').includes(String(value))).map((message) => message.uid);
	}

	async messageMove(range: string, destination: string): Promise<CopyResponseObject | false | undefined> {
		const moving = this.selectedMessages()?.filter((message) => inUidSet(range, message.uid, Number.MAX_SAFE_INTEGER)) ?? [];
		const target = this.fakeServer.folders.get(destination);
		const firstUid = target?.uidNext ?? 0;
		const result = await super.messageMove(range, destination);
		if (!result || !target || !this.extras.copyUid) return result;
		return { ...result, uidValidity: target.uidValidity, uidMap: new Map(moving.map((message, index) => [message.uid, firstUid + index])) };
	}

	async messageCopy(range: string, destination: string): Promise<CopyResponseObject | false | undefined> {
		if (!this.mailbox) return undefined;
		this.record(`COPY ${range} ${destination}`);
		const target = this.fakeServer.folders.get(destination);
		if (!target) return false;
		const copying = this.selectedMessages()?.filter((message) => inUidSet(range, message.uid, Number.MAX_SAFE_INTEGER)) ?? [];
		const uidMap = new Map<number, number>();
		for (const message of copying) {
			uidMap.set(message.uid, target.uidNext);
			target.messages.push({ ...message, uid: target.uidNext++, flags: new Set(message.flags), labels: new Set(message.labels) });
		}
		return { path: this.mailbox.path, destination, ...(this.extras.copyUid ? { uidValidity: target.uidValidity, uidMap } : {}) };
	}

	async append(path: string, content: string | Buffer, flags: string[] = [], idate?: Date | string): Promise<AppendResponseObject | false> {
		this.record(`APPEND ${path} (${flags.join(' ')})${idate ? ` ${new Date(idate).toISOString()}` : ''}`);
		const folder = this.fakeServer.folders.get(path);
		if (!folder) return false;
		const source = Buffer.isBuffer(content) ? content : Buffer.from(content);
		const text = source.toString('utf8');
		const uid = folder.uidNext++;
		folder.messages.push({
			uid,
			flags: new Set(flags),
			labels: new Set(),
			internalDate: idate ? new Date(idate) : new Date(),
			source,
			messageId: /^message-id:\s*(.+)$/im.exec(text)?.[1]?.trim(),
			subject: /^subject:\s*(.*)$/im.exec(text)?.[1]?.trim() ?? '',
			threadId: `thr-append-${uid}`,
			emailId: `gm-append-${uid}`,
		});
		return { destination: path, uid, uidValidity: folder.uidValidity };
	}

	/** The messages of the selected folder as the server has them now. */
	private selectedMessages() {
		return this.mailbox ? this.fakeServer.folders.get(this.mailbox.path)?.messages : undefined;
	}
}

export function fakeActionClientFactory(server: FakeImapServer, extras: FakeActionServerExtras): (options: ImapFlowOptions) => FakeActionClient {
	return (options) => new FakeActionClient(server, extras, options);
}
