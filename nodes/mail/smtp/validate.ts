/**
 * Checks for values that end up in message headers or the SMTP envelope. Everything here refuses rather than
 * repairs: a value with a line break is how header injection works ("a@x.com\r\nBcc: b@y.com" parses as a
 * different recipient list), and a silently "fixed" address sends mail somewhere the user did not ask for.
 */
import addressparser from 'nodemailer/lib/addressparser';

/** Bad input for one field of one message. `field` is the parameter's display name. */
export class MessageInputError extends Error {
	readonly field: string;

	constructor(field: string, problem: string) {
		super(`${field} ${problem}`);
		this.name = 'MessageInputError';
		this.field = field;
	}
}

export interface MailAddress {
	name: string;
	address: string;
}

/** Control characters other than tab. CR and LF are reported separately (header injection). */
const CONTROL_CHARACTER = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/**
 * A header value must be one line: CR or LF would start a new header (or the body) in the message, and other
 * control characters have no business in a header either.
 * @throws MessageInputError
 */
export function assertSingleLine(field: string, value: string): void {
	if (/[\r\n]/.test(value)) {
		throw new MessageInputError(
			field,
			'contains a line break (CR or LF). Header values must be a single line; the message was not sent, because a ' +
				'line break in a header can add headers or recipients (header injection).',
		);
	}
	const control = CONTROL_CHARACTER.exec(value);
	if (control) {
		const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
		throw new MessageInputError(field, `contains the control character U+${code}, which is not allowed in a header`);
	}
}

/**
 * Characters removed from display names that come from outside the workflow (the input email's From / Reply-To in
 * reply mode): C0 controls including CR and LF, DEL, C1 controls (NEL among them), the Unicode line and paragraph
 * separators, and the bidirectional overrides/isolates that make a name display differently from what it says.
 */
const DISPLAY_NAME_UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g;

/**
 * A display name made safe for a header: every unsafe character (see DISPLAY_NAME_UNSAFE) becomes a space, runs of
 * white space become one space, the ends are trimmed. "Eve\r\nBcc: victim@x" becomes "Eve Bcc: victim@x": still
 * visible as text in the name, never a header line of its own. Used for names the user did not type (a stranger's
 * header must not be able to fail or redirect the reply); the node's own parameters are refused instead (assertSingleLine).
 */
export function sanitizeDisplayName(name: unknown): string {
	return toMailText(name).replace(DISPLAY_NAME_UNSAFE, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * n8n's Send Email turns any parameter value into text the same way (numbers and booleans as text, objects as
 * JSON); kept so expressions behave alike in both nodes.
 */
export function toMailText(value: unknown): string {
	if (value === undefined || value === null) return '';
	if (typeof value === 'string') return value;
	if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
	return JSON.stringify(value) ?? '';
}

/** A single-line text parameter (subject, sender name, ...), trimmed. */
export function readHeaderText(field: string, value: unknown): string {
	const text = toMailText(value);
	assertSingleLine(field, text);
	return text.trim();
}

/**
 * Recipients or a sender in any shape a workflow is likely to hold them:
 * - text: `a@example.com, Name <b@example.com>; c@example.com` (comma or semicolon separated, groups flattened);
 * - an array of any of these;
 * - `{ address, name }` (nodemailer, mailparser address entries);
 * - `{ value: [{ address, name }, ...] }` (mailparser's AddressObject, what an email trigger's `from` holds).
 * Every address is checked; an empty value gives an empty list.
 * @throws MessageInputError naming the offending entry
 */
export function parseAddressList(field: string, value: unknown): MailAddress[] {
	const addresses: MailAddress[] = [];
	collectAddresses(field, value, addresses, 0);
	return addresses;
}

function collectAddresses(field: string, value: unknown, into: MailAddress[], depth: number): void {
	if (value === undefined || value === null || value === '') return;
	if (depth > 3) throw new MessageInputError(field, 'is nested too deeply to be read as a list of addresses');
	if (typeof value === 'string') {
		for (const entry of parseAddressText(field, value)) into.push(entry);
		return;
	}
	if (Array.isArray(value)) {
		for (const element of value) collectAddresses(field, element, into, depth + 1);
		return;
	}
	if (typeof value === 'object') {
		const record = value as Record<string, unknown>;
		if (typeof record.address === 'string') {
			const name = record.name === undefined || record.name === null ? '' : toMailText(record.name);
			assertSingleLine(field, name);
			assertSingleLine(field, record.address);
			into.push({ name: name.trim(), address: checkAddress(field, record.address.trim()) });
			return;
		}
		if (Array.isArray(record.value)) {
			collectAddresses(field, record.value, into, depth + 1);
			return;
		}
	}
	throw new MessageInputError(
		field,
		`must be email addresses as text (like "a@example.com, Name <b@example.com>"), got ${describeValue(value)}`,
	);
}

function parseAddressText(field: string, text: string): MailAddress[] {
	assertSingleLine(field, text);
	if (text.trim() === '') return [];
	const parsed = addressparser(text, { flatten: true });
	const result: MailAddress[] = [];
	for (const entry of parsed) {
		const name = (entry.name ?? '').trim();
		const address = (entry.address ?? '').trim();
		if (!address) {
			throw new MessageInputError(field, `contains "${name || text.trim()}", which is not an email address`);
		}
		// "a@x.com b@y.com" (a missing comma) parses as the address a@x.com named "b@y.com": refuse, or one of the two
		// intended recipients would silently get nothing.
		if (name.includes('@') && !text.includes('"')) {
			throw new MessageInputError(
				field,
				`has "${name}" next to <${address}> without a comma between them; separate addresses with commas`,
			);
		}
		result.push({ name, address: checkAddress(field, address) });
	}
	return result;
}

/**
 * A deliverable-looking address: one @, a local part without spaces or brackets, and a domain with at least one
 * dot (or an address literal like [192.0.2.1]). Not a full RFC 5321 parser: it catches the mistakes workflows
 * actually make (empty parts, a name where the address should be, a missing domain) without refusing unusual
 * but valid addresses (plus signs, international domains and local parts).
 */
export function checkAddress(field: string, address: string): string {
	const at = address.lastIndexOf('@');
	const local = at >= 0 ? address.slice(0, at) : '';
	const domain = at >= 0 ? address.slice(at + 1) : '';
	let problem: string | undefined;
	if (at < 0) problem = 'has no @';
	else if (!local) problem = 'has nothing before the @';
	else if (!domain) problem = 'has no domain after the @';
	else if (!isValidLocalPart(local)) problem = 'has characters that are not allowed before the @';
	else if (!isValidDomain(domain)) problem = `has an invalid domain "${domain}"`;
	if (problem) throw new MessageInputError(field, `contains the invalid address "${address}": it ${problem}`);
	return address;
}

function isValidLocalPart(local: string): boolean {
	// A quoted local part ("john doe"@example.com) may hold almost anything; line breaks were refused before.
	if (/^"(?:[^"\\]|\\.)+"$/.test(local)) return true;
	return /^[^\s<>()[\]\\,;:@"]+$/.test(local) && !local.startsWith('.') && !local.endsWith('.') && !local.includes('..');
}

function isValidDomain(domain: string): boolean {
	if (/^\[(?:\d{1,3}\.){3}\d{1,3}\]$/.test(domain) || /^\[IPv6:[0-9A-Fa-f:.]+\]$/i.test(domain)) return true;
	if (domain.length > 253 || !domain.includes('.')) return false;
	// Letters of any script (international domain names), digits and hyphens; no empty labels, no edge hyphens.
	return domain
		.split('.')
		.every((label) => label.length > 0 && label.length <= 63 && /^[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?$/u.test(label));
}

/** `<id@host>`: what a Message-ID, In-Reply-To or References entry must look like. */
const MESSAGE_ID = /^<[^<>\s@]+@[^<>\s@]+>$/;

/**
 * One Message-ID, with or without its angle brackets.
 * @throws MessageInputError
 */
export function normaliseMessageId(field: string, value: unknown): string {
	const text = toMailText(value).trim();
	assertSingleLine(field, text);
	const withBrackets = text.startsWith('<') ? text : `<${text}>`;
	if (!MESSAGE_ID.test(withBrackets)) {
		throw new MessageInputError(field, `must be a message ID like <id@example.com>, got "${text}"`);
	}
	return withBrackets;
}

/**
 * A list of Message-IDs (References): text with IDs separated by spaces or commas, or an array. Duplicates are
 * dropped, the order is kept (oldest first, as References lists them).
 * @throws MessageInputError
 */
export function parseMessageIdList(field: string, value: unknown): string[] {
	const tokens: unknown[] = [];
	const gather = (entry: unknown): void => {
		if (entry === undefined || entry === null || entry === '') return;
		if (Array.isArray(entry)) {
			entry.forEach(gather);
			return;
		}
		const text = toMailText(entry);
		assertSingleLine(field, text);
		// Bracketed IDs may be written without separators between them ("<a@x><b@y>").
		const bracketed = text.match(/<[^<>]*>/g);
		const rest = text.replace(/<[^<>]*>/g, ' ');
		for (const id of bracketed ?? []) tokens.push(id);
		for (const bare of rest.split(/[\s,]+/)) if (bare) tokens.push(bare);
	};
	gather(value);
	const ids: string[] = [];
	for (const token of tokens) {
		const id = normaliseMessageId(field, token);
		if (!ids.includes(id)) ids.push(id);
	}
	return ids;
}

function describeValue(value: unknown): string {
	if (Array.isArray(value)) return 'a list';
	if (value === null) return 'null';
	if (typeof value === 'object') return 'an object without an "address" field';
	return `a ${typeof value}`;
}
