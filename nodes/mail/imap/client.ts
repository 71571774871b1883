import { ImapFlow } from 'imapflow';
import type {
	CopyResponseObject,
	DownloadNotFound,
	DownloadObject,
	DownloadOptions,
	FetchMessageObject,
	FetchOptions,
	FetchQueryObject,
	ImapFlowOptions,
	MailboxLockObject,
	MailboxLockOptions,
	MailboxObject,
	MailboxOpenOptions,
	MessageRangeOptions,
	SearchObject,
	StatusObject,
	StatusQuery,
	StoreOptions,
	ExistsEvent,
} from 'imapflow';

/**
 * The slice of imapflow's ImapFlow that the trigger uses. The watcher and session talk to this interface only, so
 * unit tests can put a scripted fake at exactly this boundary and check the commands sent (Gmail's label commands,
 * UID ranges) and the timing and error paths, without a server. ImapFlow itself satisfies it structurally.
 */
export interface ImapClient {
	readonly usable: boolean;
	readonly mailbox: MailboxObject | false;
	readonly capabilities: Map<string, boolean | number>;
	/** What the server's ID answer said (imapflow sends ID where offered); null or absent without one. */
	readonly serverInfo?: { name?: string | false } | null;
	readonly byeReason?: string;
	connect(): Promise<void>;
	logout(): Promise<void>;
	close(): void;
	getMailboxLock(path: string, options?: MailboxLockOptions): Promise<MailboxLockObject>;
	mailboxOpen(path: string, options?: MailboxOpenOptions): Promise<MailboxObject>;
	status(path: string, query: StatusQuery): Promise<StatusObject | false>;
	/** false: the server refused (NO/BAD); undefined: no mailbox selected (imapflow 2.10: also after the connection closed). */
	search(query: SearchObject, options?: MessageRangeOptions): Promise<number[] | false | undefined>;
	fetch(range: string, query: FetchQueryObject, options?: FetchOptions): AsyncGenerator<FetchMessageObject, false | void, undefined>;
	/** {} (no `content`) both for a missing message and when no mailbox is selected, as after a close. */
	download(range: string, part?: string, options?: DownloadOptions): Promise<DownloadObject | DownloadNotFound>;
	messageFlagsAdd(range: string, flags: string[], options?: StoreOptions): Promise<boolean>;
	messageFlagsRemove(range: string, flags: string[], options?: StoreOptions): Promise<boolean>;
	/** imapflow 2.10 resolves undefined (not false) when no mailbox is selected, as after a close. */
	messageMove(range: string, destination: string, options?: MessageRangeOptions): Promise<CopyResponseObject | false | undefined>;
	/** imapflow 2.10 resolves undefined (not false) when no mailbox is selected, as after a close. */
	messageDelete(range: string, options?: MessageRangeOptions): Promise<boolean | undefined>;
	on(event: 'close', listener: () => void): unknown;
	on(event: 'error', listener: (error: Error) => void): unknown;
	on(event: 'exists', listener: (data: ExistsEvent) => void): unknown;
}

export type ImapClientFactory = (options: ImapFlowOptions) => ImapClient;

/** The real thing: one ImapFlow per connection (an ImapFlow never reconnects; a closed one is thrown away). */
export const createImapFlowClient: ImapClientFactory = (options) => new ImapFlow(options);

/** imapflow's error fields the trigger looks at (all optional: which ones exist depends on where the error came from). */
export interface ImapErrorFields {
	code?: string;
	authenticationFailed?: boolean;
	serverResponseCode?: string;
	responseText?: string;
	response?: unknown;
	oauthError?: unknown;
	mailboxMissing?: boolean;
	reason?: string;
}

export function imapErrorFields(error: unknown): ImapErrorFields {
	return error && typeof error === 'object' ? (error as ImapErrorFields) : {};
}

/** The server says the folder does not exist: imapflow confirms a refused SELECT (mailboxMissing) or STATUS (NotFound) with LIST. */
export function isMailboxMissing(error: unknown): boolean {
	const fields = imapErrorFields(error);
	return fields.mailboxMissing === true || fields.code === 'NotFound' || fields.serverResponseCode === 'NONEXISTENT';
}
