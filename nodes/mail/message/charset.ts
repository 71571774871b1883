/**
 * Bytes → text where this module decodes text itself (RFC 2047 words and raw 8-bit header lines) with Node's
 * TextDecoder (the WHATWG labels cover what mail uses). Message bodies are decoded by mailparser (libmime).
 */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * windows-1252 bytes 0x80-0x9F (€, ‚, „, …, ‘, ’, “, ”, –, — ...). Node 20's TextDecoder drops these bytes
 * for every label that maps to windows-1252 (latin1, iso-8859-1, us-ascii included), so that charset is
 * decoded here; the five bytes windows-1252 leaves undefined map to the C1 control of the same number.
 */
const WINDOWS_1252_0X80 =
	'\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
	'\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function decodeWindows1252(bytes: Uint8Array): string {
	let text = '';
	for (const byte of bytes) {
		text += byte >= 0x80 && byte <= 0x9f ? WINDOWS_1252_0X80[byte - 0x80] : String.fromCharCode(byte);
	}
	return text;
}

/**
 * Decodes bytes that claim a charset. An unknown or refused charset never throws and never drops bytes
 * silently: valid UTF-8 is read as UTF-8, anything else byte-for-byte as windows-1252, so every byte still
 * shows up as some character instead of a replacement mark.
 */
export function decodeBytes(bytes: Uint8Array, charset: string | undefined): string {
	const label = normaliseCharsetLabel(charset);
	if (label && !REFUSED_CHARSETS.has(label.replace(/[^a-z0-9]/g, ''))) {
		let decoder: InstanceType<typeof TextDecoder> | undefined;
		try {
			decoder = new TextDecoder(label);
		} catch {
			// unknown label: fall through to the byte-preserving fallback
		}
		if (decoder?.encoding === 'windows-1252') return decodeWindows1252(bytes);
		if (decoder) return decoder.decode(bytes);
	}
	return decodeUtf8OrLatin1(bytes);
}

/** UTF-8 when the bytes are valid UTF-8, otherwise windows-1252 (every byte kept as a character). */
export function decodeUtf8OrLatin1(bytes: Uint8Array): string {
	try {
		return strictUtf8.decode(bytes);
	} catch {
		return decodeWindows1252(bytes);
	}
}

/**
 * mailparser hands out raw header lines as "binary" strings (one char per byte). Header lines in modern mail
 * may carry raw UTF-8 (RFC 6532); older mail sometimes raw latin-1. Read UTF-8 when it is valid, otherwise keep
 * the byte-per-char reading, which is exactly what n8n shows for such a header.
 */
export function binaryStringToText(binary: string): string {
	if (!/[^\x00-\x7f]/.test(binary)) return binary;
	const bytes = Buffer.from(binary, 'latin1');
	try {
		return strictUtf8.decode(bytes);
	} catch {
		return binary;
	}
}

/**
 * UTF-7 can smuggle markup past filters ("+ADw-script+AD4-"), base64/hex are transfer encodings, not charsets:
 * mailparser refuses to decode them and so do we.
 */
const REFUSED_CHARSETS = new Set(['utf7', 'unicode11utf7', 'csunicode11utf7', 'utf7imap', 'base64', 'hex']);

function normaliseCharsetLabel(charset: string | undefined): string | undefined {
	if (!charset) return undefined;
	// RFC 2231 allows a language after the charset in encoded words: =?utf-8*en?Q?...?=
	const label = charset.split('*')[0].trim().toLowerCase();
	return label || undefined;
}
