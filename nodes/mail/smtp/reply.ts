/**
 * "Reply to the input email": reads what a reply needs (Message-ID, References, subject, who to answer) from an
 * item produced by this package's Gmail IMAP Trigger or POP3 node, in any of their formats — the same shapes n8n's
 * own Email Trigger (IMAP) produces, so its items work too:
 * - `simple`: `subject`, `from` at the top level, every other header under `metadata` (lower-case names);
 * - `resolved`: `headers` maps lower-case names to the raw header line, plus mailparser's `messageId`,
 *   `references`, `subject`, `from` / `replyTo` (address objects);
 * - `raw`: the header section as text in `rawHeaders`.
 */
import type { IDataObject } from 'n8n-workflow';

import { decodeEncodedWords } from '../message/headers';
import type { MailAddress } from './validate';
import { MessageInputError, parseAddressList, parseMessageIdList } from './validate';

export interface ReplySource {
	/** Message-ID of the message being answered, with angle brackets. */
	messageId: string;
	/** References for the reply: the original's References (or In-Reply-To), then its Message-ID. */
	references: string[];
	/** The original subject, decoded; undefined when it had none. */
	subject?: string;
	/** Whom a reply goes to: the original's Reply-To when present, else its From; empty when neither is readable. */
	replyRecipients: MailAddress[];
}

export const REPLY_FIELD = 'Reply to the Input Email';

/**
 * @throws MessageInputError when the item carries no Message-ID (not an email item, or one without the header)
 */
export function readReplySource(json: IDataObject): ReplySource {
	const header = headerReader(json);
	const messageIdText = header('message-id') ?? (typeof json.messageId === 'string' ? json.messageId : undefined);
	let messageIds: string[] = [];
	try {
		messageIds = parseMessageIdList(REPLY_FIELD, messageIdText);
	} catch {
		messageIds = [];
	}
	if (messageIds.length === 0) {
		throw new MessageInputError(
			REPLY_FIELD,
			'is on, but the input item has no Message-ID header to reply to. It needs an email item from the Gmail IMAP ' +
				'Trigger or Gmail POP3 node (any format); or turn the option off and set "In-Reply-To" and "References" yourself.',
		);
	}
	const messageId = messageIds[0];

	// RFC 5322 3.6.4: the reply's References are the parent's References (or, without them, its In-Reply-To when
	// that holds a single ID), followed by the parent's Message-ID.
	let ancestors = safeIds(header('references') ?? (json.references as unknown));
	if (ancestors.length === 0) {
		const inReplyTo = safeIds(header('in-reply-to') ?? (json.inReplyTo as unknown));
		if (inReplyTo.length === 1) ancestors = inReplyTo;
	}
	const references = [...ancestors.filter((id) => id !== messageId), messageId];

	const subject = header('subject') ?? (typeof json.subject === 'string' ? json.subject : undefined);
	const replyTo = readRecipients(json.replyTo, header('reply-to', 'raw'));
	const replyRecipients = replyTo.length > 0 ? replyTo : readRecipients(json.from, header('from', 'raw'));
	return { messageId, references, subject, replyRecipients };
}

/** "Re: <subject>" unless it already starts with "Re:" (any case), so a thread keeps one subject. */
export function replySubject(original: string | undefined): string {
	const subject = (original ?? '').replace(/[\r\n]+/g, ' ').trim();
	if (/^re\s*:/i.test(subject)) return subject;
	return subject ? `Re: ${subject}` : 'Re:';
}

/**
 * Addresses from the original's From / Reply-To. Structured address objects (the resolved format) are used as they
 * are. Header text is parsed BEFORE encoded words are decoded where the raw text is at hand, because a decoded
 * display name may contain a comma or angle brackets; where only decoded text exists (the simple format) and it
 * does not parse, the bare addresses are taken without names.
 */
function readRecipients(structured: unknown, headerText: string | undefined): MailAddress[] {
	if (structured && typeof structured === 'object') {
		try {
			const addresses = parseAddressList(REPLY_FIELD, structured);
			if (addresses.length > 0) return addresses;
		} catch {
			// fall through to the header text
		}
	}
	if (!headerText) return [];
	try {
		return parseAddressList(REPLY_FIELD, headerText).map(({ name, address }) => ({ name: decodeEncodedWords(name), address }));
	} catch {
		const bare = headerText.match(/[^\s<>,;:"()]+@[^\s<>,;:"()]+/g) ?? [];
		const addresses: MailAddress[] = [];
		for (const address of bare) {
			try {
				addresses.push({ name: '', address: parseAddressList(REPLY_FIELD, address)[0].address });
			} catch {
				// not an address after all
			}
		}
		return addresses;
	}
}

type HeaderReader = (name: string, form?: 'decoded' | 'raw') => string | undefined;

/**
 * name → value of the first such header, for whichever item format this is: decoded (encoded words turned into
 * text) or raw (as in the message, where the format still has it; the simple format only has decoded text).
 */
function headerReader(json: IDataObject): HeaderReader {
	if (typeof json.rawHeaders === 'string') {
		const headers = parseHeaderBlock(json.rawHeaders);
		return (name, form = 'decoded') => {
			const value = headers.get(name);
			return value === undefined || form === 'raw' ? value : decodeEncodedWords(value);
		};
	}
	const resolvedHeaders = json.headers;
	if (resolvedHeaders && typeof resolvedHeaders === 'object' && !Array.isArray(resolvedHeaders)) {
		const lines = resolvedHeaders as IDataObject;
		return (name, form = 'decoded') => {
			const line = lines[name];
			if (typeof line !== 'string') return undefined;
			// n8n's resolved format keeps the whole line ("Message-ID: <...>"); strip the name when it is there.
			const unfolded = unfold(line);
			const value = unfolded.toLowerCase().startsWith(`${name}:`) ? unfolded.slice(name.length + 1).trim() : unfolded.trim();
			return form === 'raw' ? value : decodeEncodedWords(value);
		};
	}
	const metadata = json.metadata && typeof json.metadata === 'object' ? (json.metadata as IDataObject) : {};
	return (name) => {
		// The simple format keeps cc, date, from, subject and to at the top level, the rest under metadata.
		const value = ['cc', 'date', 'from', 'subject', 'to'].includes(name) ? json[name] : metadata[name];
		return typeof value === 'string' ? value : undefined;
	};
}

function parseHeaderBlock(block: string): Map<string, string> {
	const headers = new Map<string, string>();
	const end = block.search(/\r?\n\r?\n/);
	const section = end >= 0 ? block.slice(0, end) : block;
	for (const line of unfold(section).split(/\r?\n/)) {
		const colon = line.indexOf(':');
		if (colon <= 0) continue;
		const name = line.slice(0, colon).trim().toLowerCase();
		if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
	}
	return headers;
}

/** Folded header lines (a line break followed by white space) joined into one line. */
function unfold(text: string): string {
	return text.replace(/\r?\n(?=[ \t])/g, '');
}

function safeIds(value: unknown): string[] {
	try {
		return parseMessageIdList(REPLY_FIELD, value);
	} catch {
		// A malformed References header in the original must not block the reply: thread on its Message-ID alone.
		return [];
	}
}
