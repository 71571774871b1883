import type { ParserLibraries } from './parserLibraries';

/**
 * A part's body decoded the way mailparser decodes it, for the forms where doing it in one call on the whole body
 * provably gives mailparser's streamed result: base64 only when it is clean (alphabet and line breaks, padding only
 * at the end), quoted-printable with libqp (whose stream decoder also decodes the whole input at its end), text in
 * UTF-8/ASCII, a single-byte charset or one of the Japanese charsets libmime decodes whole. Anything else is declined (undefined).
 */

/** The transfer-decoded bytes (what an attachment holds, and what a text body is read from). */
export function transferDecode(body: Buffer, encoding: string, libraries: ParserLibraries): Buffer | undefined {
	switch (encoding) {
		case 'base64':
			return decodeCleanBase64(body);
		case 'quoted-printable':
			return libraries.splitterQp.decode(body);
		default:
			// mailsplit passes every other encoding (7bit, 8bit, binary, unknown) through unchanged
			return body;
	}
}

// Only the base64 alphabet, CR/LF/space/tab (which libbase64 strips and Buffer skips), and up to two '=' at the end.
const CLEAN_BASE64 = /^[A-Za-z0-9+/\r\n\t ]*(?:={1,2}[\r\n\t ]*)?$/;

/**
 * libbase64's stream decoder strips everything outside [A-Za-z0-9+/=] and decodes padded segments one by one; Node's
 * decoder reads '-' and '_' as base64url and stops at the first '='. On clean input the two agree, so only that is
 * accepted.
 */
function decodeCleanBase64(body: Buffer): Buffer | undefined {
	const text = body.toString('latin1');
	if (!CLEAN_BASE64.test(text)) return undefined;
	return Buffer.from(text, 'base64');
}

/**
 * mailparser's text for a body part: format=flowed undone (text/plain only), bytes read in the part's charset, CRLF
 * and LF turned into \n. Undefined declines other charsets (multi-byte ones decoded in pieces, UTF-16, unknown ones).
 */
export function decodeBodyText(
	bytes: Buffer,
	part: { charset?: string; flowed: boolean; delSp: boolean },
	libraries: ParserLibraries,
): string | undefined {
	let content = bytes;
	if (part.flowed && content.length) {
		content = Buffer.from(libraries.splitterMime.decodeFlowed(content.toString('latin1'), part.delSp), 'latin1');
	}
	const charset = part.charset || 'utf-8';
	let text: string;
	if (['ascii', 'usascii', 'utf8'].includes(charset.toLowerCase().replace(/[^a-z0-9]+/g, ''))) {
		text = content.toString();
	} else {
		const normalised = libraries.parserCharset.normalizeCharset(charset);
		if (normalised === 'UTF-8') {
			text = content.toString();
		} else if (SINGLE_BYTE_CHARSET.test(normalised)) {
			text = libraries.parserCharset.decode(content, charset);
		} else if (WHOLE_BODY_CHARSET.test(normalised)) {
			// mailparser's decode stream writes its text out as UTF-8: a lone surrogate comes back as U+FFFD
			text = libraries.parserCharset.decode(content, charset);
			if (/[\ud800-\udfff]/.test(text)) text = Buffer.from(text).toString();
		} else {
			return undefined;
		}
	}
	return text.replace(/\r?\n/g, '\n');
}

/**
 * Charsets (as libmime names them) that iconv-lite decodes byte by byte, so decoding the whole body at once equals
 * mailparser's chunk-by-chunk decode stream.
 */
const SINGLE_BYTE_CHARSET = /^(?:windows-125[0-8]|ISO-8859-(?:[1-9]|1[0-5])|KOI8-[RU])$/;

/** libmime's Japanese charsets (JIS, ISO-2022-JP, EUC-JP): its decode stream collects the body and decodes it whole. */
const WHOLE_BODY_CHARSET = /^jis|^iso-?2022-?jp|^EUCJP/i;
