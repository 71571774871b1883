/**
 * "Reply to the input email": reads what a reply needs (Message-ID, References, subject, who to answer) from an item
 * of this package's trigger or POP node in any format (simple: top level + `metadata`; resolved: `headers` and
 * mailparser's fields; raw: `rawHeaders`), the same shapes n8n's own Email Trigger (IMAP) produces.
 */
import type { IDataObject } from 'n8n-workflow';

import { decodeEncodedWords } from '../message/headers';
import type { NumberRange } from '../parameters';
import { boundedNumber } from '../parameters';
import type { MailAddress } from './validate';
import { MessageInputError, parseAddressList, parseMessageIdList, sanitizeDisplayName, toMailText } from './validate';

export interface ReplySource {
	/** Message-ID of the message being answered, with angle brackets. */
	messageId: string;
	/** References for the reply: the original's References (or In-Reply-To), then its Message-ID. */
	references: string[];
	/** The original subject, decoded; undefined when it had none. */
	subject?: string;
	/**
	 * Every address a reply could go to: the original's Reply-To when present, else its From; empty when neither is
	 * readable. Display names are sanitised (sanitizeDisplayName). Who actually gets the reply is decided by
	 * chooseReplyRecipients: by default only the first of these.
	 */
	replyRecipients: MailAddress[];
	/** The header replyRecipients were read from (for error messages). */
	replyRecipientsHeader?: 'Reply-To' | 'From';
}

export const REPLY_FIELD = 'Reply to the Input Email';
export const REPLY_ALL_FIELD = 'Reply to All Reply-To Addresses';

/**
 * "Max Reply Recipients": how many of the input email's Reply-To (or From) addresses a reply may go to when "Reply to
 * All Reply-To Addresses" is on. The hard maximum keeps one inbound message from turning the account into a mass
 * mailer: whoever writes the input email chooses its Reply-To, not the workflow's owner.
 */
export const MAX_REPLY_RECIPIENTS: NumberRange = { label: 'Max Reply Recipients', min: 1, max: 20, fallback: 10, integer: true };

export interface ReplyRecipientPolicy {
	/** "Reply to All Reply-To Addresses": answer every address instead of only the first. */
	all?: unknown;
	/** "Max Reply Recipients" as entered (checked here against MAX_REPLY_RECIPIENTS). */
	max?: unknown;
}

/**
 * Whom a reply goes to. By default ONE address: the first Reply-To address, else the first From address, however
 * many the input email lists. With "Reply to All Reply-To Addresses" on: all of them, up to "Max Reply Recipients";
 * more than that refuses the item (nothing is sent, the error says how many and what to change) instead of silently
 * answering an arbitrary first few.
 * @throws ParameterRangeError when "Max Reply Recipients" is outside 1–20 (checked even when the option is off)
 * @throws MessageInputError when there are more addresses than allowed
 */
export function chooseReplyRecipients(source: Pick<ReplySource, 'replyRecipients' | 'replyRecipientsHeader'>, policy: ReplyRecipientPolicy = {}): MailAddress[] {
	const max = boundedNumber(policy.max, MAX_REPLY_RECIPIENTS);
	const candidates = source.replyRecipients;
	if (policy.all !== true) return candidates.slice(0, 1);
	if (candidates.length > max) {
		const header = source.replyRecipientsHeader ?? 'Reply-To';
		throw new MessageInputError(
			REPLY_ALL_FIELD,
			`is on and the input email lists ${candidates.length} ${header} addresses, more than "${MAX_REPLY_RECIPIENTS.label}" ` +
				`(${max}) allows. The reply was sent to none of them. Raise "${MAX_REPLY_RECIPIENTS.label}" (at most ` +
				`${MAX_REPLY_RECIPIENTS.max}), turn "${REPLY_ALL_FIELD}" off to answer only the first address, or enter the ` +
				'recipients in "To Email".',
		);
	}
	return candidates;
}

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
	if (replyTo.length > 0) return { messageId, references, subject, replyRecipients: replyTo, replyRecipientsHeader: 'Reply-To' };
	const from = readRecipients(json.from, header('from', 'raw'));
	return { messageId, references, subject, replyRecipients: from, replyRecipientsHeader: from.length > 0 ? 'From' : undefined };
}

/** "Re: <subject>" unless it already starts with "Re:" (any case), so a thread keeps one subject. */
export function replySubject(original: string | undefined): string {
	const subject = (original ?? '').replace(/[\r\n]+/g, ' ').trim();
	if (/^re\s*:/i.test(subject)) return subject;
	return subject ? `Re: ${subject}` : 'Re:';
}

/**
 * Addresses from the original's From / Reply-To. Structured address objects (the resolved format) are used as they
 * are, their names sanitised. Header text is parsed BEFORE encoded words are decoded where the raw text is at hand, because a decoded
 * display name may contain a comma or angle brackets; where only decoded text exists (the simple format) and it
 * does not parse, the bare addresses are taken without names.
 */
function readRecipients(structured: unknown, headerText: string | undefined): MailAddress[] {
	if (structured && typeof structured === 'object') {
		try {
			const addresses = parseAddressList(REPLY_FIELD, withSanitisedNames(structured, 0));
			if (addresses.length > 0) return addresses;
		} catch {
			// fall through to the header text
		}
	}
	if (!headerText) return [];
	// A stranger's header: control characters (a decoded simple-format header may hold CR/LF) become spaces, and each
	// name is sanitised again after its encoded words are decoded ("=?utf-8?Q?Eve=0D=0ABcc:...?=" decodes to CR LF).
	const text = sanitizeDisplayName(headerText);
	try {
		return parseAddressList(REPLY_FIELD, text).map(({ name, address }) => ({ name: sanitizeDisplayName(decodeEncodedWords(name)), address }));
	} catch {
		// Addresses in angle brackets are the mailboxes; an address-like text outside them is part of a display name
		// ("Eve Bcc: victim@x.example <eve@example.com>") and is only taken when no bracketed address exists.
		const bracketed = [...text.matchAll(/<([^\s<>,;:"()]+@[^\s<>,;:"()]+)>/g)].map((match) => match[1]);
		const bare = bracketed.length > 0 ? bracketed : text.match(/[^\s<>,;:"()]+@[^\s<>,;:"()]+/g) ?? [];
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

/** A copy of mailparser-style address objects ({ address, name } / { value: [...] }) with every name sanitised. */
function withSanitisedNames(value: unknown, depth: number): unknown {
	if (depth > 3 || value === null || typeof value !== 'object') return value;
	if (Array.isArray(value)) return value.map((entry) => withSanitisedNames(entry, depth + 1));
	const record = value as Record<string, unknown>;
	const copy: Record<string, unknown> = { ...record };
	if (typeof record.address === 'string' && record.name !== undefined && record.name !== null) {
		copy.name = sanitizeDisplayName(toMailText(record.name));
	}
	if (Array.isArray(record.value)) copy.value = withSanitisedNames(record.value, depth + 1);
	return copy;
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
