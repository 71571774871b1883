/**
 * Storing a message into a folder (IMAP APPEND): a draft built like the SMTP node's message, or a given .eml. The
 * output names the message's UID where the server reports it (UIDPLUS APPENDUID), so a later operation can use it.
 */
import MailComposer from 'nodemailer/lib/mail-composer';
import type { SendMailOptions } from 'nodemailer';

import { ImapActionError } from './errors';
import { findSpecialUseFolder } from './folders';
import type { ImapActionSession } from './session';

export interface AppendResult {
	mailbox: string;
	uid?: number;
	uidValidity?: string;
	flags: string[];
}

/** The RFC 5322 bytes of a message composed for nodemailer; Bcc is kept (a draft shows it, as mail clients do). */
export async function buildMessageSource(mail: SendMailOptions): Promise<Buffer> {
	const compiled = new MailComposer(mail).compile();
	compiled.keepBcc = true;
	return await compiled.build();
}

/** The folder the server marks as Drafts (special use \Drafts); refused when it marks none. */
export async function draftsFolder(session: ImapActionSession): Promise<string> {
	const drafts = await findSpecialUseFolder(session, '\\Drafts');
	if (!drafts) {
		throw new ImapActionError(
			'This server marks no folder as Drafts (special use \\Drafts)',
			'Store the message with Message → Append into the folder your mail program uses for drafts, with the flag \\Draft.',
		);
	}
	return drafts;
}

/** Only what IMAP allows as a flag: a system flag or an atom keyword (no spaces, brackets, quotes, wildcards). */
export function checkFlags(flags: string[]): string[] {
	for (const flag of flags) {
		if (!/^\\?[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]+$/.test(flag) || flag.toLowerCase() === '\\recent') {
			throw new ImapActionError(`"${flag}" is not a flag the server can store`, 'Use system flags such as \\Seen, \\Flagged, \\Draft or keywords such as $Processed.');
		}
	}
	return flags;
}

export async function appendMessage(
	session: ImapActionSession,
	folder: string,
	content: Buffer,
	flags: string[],
	internalDate?: Date,
): Promise<AppendResult> {
	if (content.length === 0) throw new ImapActionError('The message to store is empty', 'Give the node an .eml file (RFC 822 message) in the binary property.');
	const client = await session.client();
	const appended = await client.append(folder, content, checkFlags(flags), internalDate);
	if (!appended) {
		throw new ImapActionError(`The server refused to store the message in "${folder}"`, 'Check that the folder exists (Folder → Get Many) and that the message is a valid .eml file.');
	}
	return {
		mailbox: appended.destination,
		...(appended.uid !== undefined ? { uid: appended.uid } : {}),
		...(appended.uidValidity !== undefined ? { uidValidity: String(appended.uidValidity) } : {}),
		flags,
	};
}
