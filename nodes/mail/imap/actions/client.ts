/**
 * The slice of imapflow the Gmail IMAP action node uses: the trigger's ImapClient plus folder management, COPY and
 * APPEND. ImapFlow satisfies it structurally; unit tests put a scripted fake at this boundary.
 */
import type {
	AppendResponseObject,
	CopyResponseObject,
	ListOptions,
	ListResponse,
	MailboxCreateResponse,
	MailboxDeleteResponse,
	MailboxRenameResponse,
	MessageRangeOptions,
} from 'imapflow';

import type { ImapClient } from '../client';

export interface ImapActionClient extends ImapClient {
	list(options?: ListOptions): Promise<ListResponse[]>;
	mailboxCreate(path: string): Promise<MailboxCreateResponse>;
	mailboxRename(path: string, newPath: string): Promise<MailboxRenameResponse>;
	mailboxDelete(path: string): Promise<MailboxDeleteResponse>;
	/** false: the server refused; undefined (imapflow 2.10): no mailbox selected, as after a close. */
	messageCopy(range: string, destination: string, options?: MessageRangeOptions): Promise<CopyResponseObject | false | undefined>;
	append(path: string, content: string | Buffer, flags?: string[], idate?: Date | string): Promise<AppendResponseObject | false>;
}
