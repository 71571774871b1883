import { binaryStringToText, decodeBytes } from './charset';

/** One raw header line as mailparser reports it: lower-case name and the unparsed line, folding included. */
export interface RawHeaderLine {
	key: string;
	line: string;
}

export interface UnfoldedHeader {
	/** Lower-case header name. */
	name: string;
	/** The value with folding removed and outer whitespace trimmed, encoded words NOT decoded. */
	value: string;
}

/**
 * Splits a raw header line the way libmime's decodeHeader does (and therefore the way n8n's Email Trigger
 * reads headers): folding line breaks and the whitespace after them become one space, the name is
 * lower-cased, name and value are trimmed. The binary (byte-per-char) line is read as text first.
 */
export function unfoldHeader(rawLine: string): UnfoldedHeader {
	const line = binaryStringToText(rawLine)
		.replace(/(?:\r?\n|\r)[ \t]*/g, ' ')
		.trim();
	const colon = line.indexOf(':');
	if (colon < 0) return { name: '', value: '' };
	return { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() };
}

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?]*)\?=/g;

/**
 * Decodes RFC 2047 encoded words in a header value. Whitespace between two encoded words is dropped, as the
 * RFC says; consecutive words in the same (stateless) charset are joined at byte level before decoding so that a
 * multi-byte character split across two words (common with long UTF-8 subjects) comes out whole.
 */
export function decodeEncodedWords(value: string): string {
	if (!value.includes('=?')) return value;
	const pieces: Array<{ text: string } | { charset: string; bytes: Buffer }> = [];
	let position = 0;
	for (const match of value.matchAll(ENCODED_WORD)) {
		const start = match.index;
		const between = value.slice(position, start);
		const previous = pieces[pieces.length - 1];
		const previousIsWord = previous !== undefined && 'bytes' in previous;
		if (between && !(previousIsWord && /^\s+$/.test(between))) pieces.push({ text: between });
		const [, charset, encoding, payload] = match;
		const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(payload, 'base64') : decodeQWord(payload);
		const last = pieces[pieces.length - 1];
		if (last && 'bytes' in last && sameCharset(last.charset, charset) && !isStateful(charset)) {
			last.bytes = Buffer.concat([last.bytes, bytes]);
		} else {
			pieces.push({ charset, bytes });
		}
		position = start + match[0].length;
	}
	if (position === 0) return value;
	if (position < value.length) pieces.push({ text: value.slice(position) });
	return pieces.map((piece) => ('text' in piece ? piece.text : decodeBytes(piece.bytes, piece.charset))).join('');
}

function decodeQWord(payload: string): Buffer {
	const bytes: number[] = [];
	for (let i = 0; i < payload.length; i++) {
		const char = payload[i];
		if (char === '_') {
			bytes.push(0x20);
		} else if (char === '=' && /^[0-9A-Fa-f]{2}$/.test(payload.slice(i + 1, i + 3))) {
			bytes.push(parseInt(payload.slice(i + 1, i + 3), 16));
			i += 2;
		} else {
			bytes.push(char.charCodeAt(0) & 0xff);
		}
	}
	return Buffer.from(bytes);
}

/**
 * ISO-2022 words each end by switching back to ASCII, so joined bytes put two escape sequences side by side, which a
 * WHATWG decoder reports as an error (U+FFFD): such words are decoded one by one.
 */
function isStateful(charset: string): boolean {
	return /^iso-?2022/i.test(charset.trim());
}

function sameCharset(a: string, b: string): boolean {
	const normalise = (label: string) => label.split('*')[0].toLowerCase().replace(/[^a-z0-9]/g, '');
	return normalise(a) === normalise(b);
}

/**
 * The header block the way n8n's `simple` format sees it (@n8n/imap parseHeaders = libmime decodeHeaders +
 * decodeWords): name → every value in order, encoded words decoded.
 */
export function decodeHeaderBlock(lines: readonly RawHeaderLine[]): Map<string, string[]> {
	const headers = new Map<string, string[]>();
	for (const { line } of lines) {
		const { name, value } = unfoldHeader(line);
		if (!name) continue;
		const values = headers.get(name);
		const decoded = decodeEncodedWords(value);
		if (values) values.push(decoded);
		else headers.set(name, [decoded]);
	}
	return headers;
}
