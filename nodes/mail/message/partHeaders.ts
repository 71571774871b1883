import type { RawHeaderLine } from './headers';
import type { ParserLibraries, StructuredValue } from './parserLibraries';

/**
 * One MIME part's header block read the way mailsplit (mailparser's splitter) reads it: the header lines as
 * mailparser reports them, and the fields that decide how the part is split, decoded and classified. Anything
 * outside the plain, common forms is declined (undefined) rather than imitated, so the fast path only ever
 * accepts headers on which it provably agrees with mailsplit.
 */
export interface PartHeaders {
	/** Every header line, "binary" strings with folding (mailsplit Headers: key lower-cased, line as sent). */
	lines: RawHeaderLine[];
	/** Lower-cased type/subtype. */
	contentType: string;
	/** The boundary of a multipart, undefined for a leaf part. */
	boundary?: Buffer;
	/** Lower-cased Content-Transfer-Encoding ('' when absent). */
	encoding: string;
	/** The charset parameter as written. */
	charset?: string;
	/** Lower-cased Content-Disposition value, encoded words decoded. */
	disposition?: string;
	/** File name from Content-Disposition filename or Content-Type name, decoded. */
	filename?: string;
	/** text/plain; format=flowed (and delsp=yes). */
	flowed: boolean;
	delSp: boolean;
	/** Content-ID without angle brackets, as mailparser computes `cid`. */
	contentId?: string;
}

/** The headers whose values steer parsing; each must appear at most once (see structuralText for the bytes allowed). */
const STRUCTURAL_HEADERS = ['content-type', 'content-disposition', 'content-transfer-encoding', 'content-id'];

/**
 * Most header blocks of the parts inside a multipart are the same few byte strings across a mailbox
 * ("Content-Type: text/plain; charset=utf-8" and its transfer encoding, as a mailer writes them), and so are most
 * Content-Type values without a boundary; their readings are kept, a bounded number of them. A message's own header
 * block (unique: Message-ID, Date) and boundary values are not. Readings are shared and never changed.
 */
const CACHED_BLOCK_BYTES = 1024;
const CACHE_ENTRIES = 512;
const blockCache = new Map<string, PartHeaders | null>();
const valueCache = new Map<string, StructuredValue>();

/**
 * Parses one header block (every line up to and including the empty line that ends it); undefined declines.
 * `repeating`: the block is likely to recur in other messages (a part inside a multipart), worth remembering.
 */
export function readPartHeaders(block: Buffer, libraries: ParserLibraries, repeating = false): PartHeaders | undefined {
	if (!repeating || block.length > CACHED_BLOCK_BYTES) return parsePartHeaders(block, libraries);
	const key = block.toString('latin1');
	let parsed = blockCache.get(key);
	if (parsed === undefined) {
		parsed = parsePartHeaders(block, libraries) ?? null;
		if (blockCache.size >= CACHE_ENTRIES) blockCache.clear();
		blockCache.set(key, parsed);
	}
	return parsed ?? undefined;
}

/** libmime's parseHeaderValue (with comments stripped, as mailsplit calls it), remembered for repeated values. */
function structuredValue(value: string, libraries: ParserLibraries): StructuredValue {
	if (!value) return { value: '', params: {}, decodedParams: [] };
	if (value.includes('boundary')) return libraries.splitterMime.parseHeaderValue(value, { stripComments: true });
	let parsed = valueCache.get(value);
	if (!parsed) {
		parsed = libraries.splitterMime.parseHeaderValue(value, { stripComments: true });
		if (valueCache.size >= CACHE_ENTRIES) valueCache.clear();
		valueCache.set(value, parsed);
	}
	return parsed;
}

function parsePartHeaders(block: Buffer, libraries: ParserLibraries): PartHeaders | undefined {
	const lines = headerLines(block);
	if (!lines) return undefined;
	const structural = new Map<string, string>();
	for (const { key, line } of lines) {
		if (!STRUCTURAL_HEADERS.includes(key)) continue;
		const text = structuralText(key, line);
		if (structural.has(key) || text === undefined) return undefined;
		structural.set(key, text);
	}
	const mime = libraries.splitterMime;
	const first = (key: string): string => {
		const line = structural.get(key);
		return line === undefined ? '' : String(mime.decodeHeader(line).value || '').trim();
	};

	const dispositionValue = first('content-disposition');
	const disposition = structuredValue(dispositionValue, libraries);
	let contentTypeValue: string;
	if (structural.has('content-type')) {
		contentTypeValue = first('content-type');
	} else {
		// mailsplit guesses the type from a file name here; rare enough to leave to mailparser
		if (disposition.params.filename) return undefined;
		contentTypeValue = /^attachment$/i.test(disposition.value) ? 'application/octet-stream' : 'text/plain';
	}
	const contentType = structuredValue(contentTypeValue, libraries);

	const encodingValue = first('content-transfer-encoding');
	// mailsplit strips comments from the encoding with a rule of its own; a plain token needs none
	if (encodingValue.includes('(')) return undefined;
	const type = (contentType.value || '').toLowerCase().trim();
	if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return undefined;

	const dispositionType = (disposition.value || '').toLowerCase().trim();
	// an encoded word in the disposition type would be decoded by mailsplit; no real mail has one
	if (dispositionType.includes('=?')) return undefined;

	const parsed: PartHeaders = {
		lines,
		contentType: type,
		encoding: encodingValue.toLowerCase().trim(),
		flowed: false,
		delSp: false,
	};
	const boundary = boundaryOf(type, contentType);
	if (boundary === null) return undefined;
	if (boundary) parsed.boundary = boundary;

	const charset = contentType.params.charset;
	if (charset) {
		// mailparser decodes encoded words in parameters where mailsplit does not: they would disagree
		if (charset.includes('=?')) return undefined;
		parsed.charset = charset;
	}
	if (dispositionType) parsed.disposition = dispositionType;
	const filename = fileNameOf(disposition, contentType, mime.decodeWords.bind(mime));
	if (filename) parsed.filename = filename;
	if (type === 'text/plain' && flag(contentType.params.format) === 'flowed') {
		parsed.flowed = true;
		parsed.delSp = flag(contentType.params.delsp) === 'yes';
	}
	const contentId = contentIdOf(structural.get('content-id'), libraries);
	if (contentId !== undefined) parsed.contentId = contentId;
	return parsed;
}

/**
 * mailsplit's Headers parse: trailing line breaks dropped, lines split at CRLF or LF, a line starting with space or
 * tab continues the one before. An mbox "From " or HTTP "POST " first line, and lines without a colon (whose key
 * mailsplit takes from a continuation), are declined.
 */
function headerLines(block: Buffer): RawHeaderLine[] | undefined {
	const raw = block.toString('latin1');
	let end = raw.length;
	while (end > 0 && (raw.charCodeAt(end - 1) === 0x0a || raw.charCodeAt(end - 1) === 0x0d)) end--;
	const rawLines = raw.slice(0, end).split(/\r?\n/);
	if (rawLines.length === 1 && rawLines[0] === '') return [{ key: '', line: '' }];
	const lines: RawHeaderLine[] = [];
	for (const rawLine of rawLines) {
		const folded = rawLine.charCodeAt(0) === 0x20 || rawLine.charCodeAt(0) === 0x09;
		if (folded && lines.length) {
			lines[lines.length - 1].line += '\r\n' + rawLine;
			continue;
		}
		const colon = rawLine.indexOf(':');
		if (colon < 0) return undefined;
		lines.push({ key: rawLine.slice(0, colon).toLowerCase().trim(), line: rawLine });
	}
	if (/^(?:From|POST) /i.test(lines[0].line)) return undefined;
	return lines;
}

/**
 * The boundary of a multipart (undefined for a leaf); null declines: a multipart without a usable boundary, or a
 * leaf that carries a boundary parameter (mailsplit would split the leaf's body at it).
 */
function boundaryOf(type: string, contentType: StructuredValue): Buffer | undefined | null {
	const boundary = (contentType.params.boundary || '').trimEnd();
	if (!type.startsWith('multipart/')) return boundary ? null : undefined;
	if (!boundary || !/^[\x21-\x7e][\x20-\x7e]*$/.test(boundary)) return null;
	return Buffer.from(boundary, 'latin1');
}

/** mailsplit's file name: Content-Disposition filename, else Content-Type name, encoded words decoded unless RFC 2231. */
function fileNameOf(
	disposition: StructuredValue,
	contentType: StructuredValue,
	decodeWords: (value: string) => string,
): string | undefined {
	const fromDisposition = disposition.params.filename;
	const name = fromDisposition || contentType.params.name;
	if (!name) return undefined;
	const decoded = fromDisposition
		? disposition.decodedParams.includes('filename')
		: contentType.decodedParams.includes('name');
	if (decoded) return name;
	try {
		return decodeWords(name);
	} catch {
		return name;
	}
}

/** mailparser's `cid`: the first Content-ID, trimmed, without angle brackets; undefined when there is none. */
function contentIdOf(line: string | undefined, libraries: ParserLibraries): string | undefined {
	if (line === undefined) return undefined;
	const value = String(libraries.parserMime.decodeHeader(line).value || '').trim();
	if (!value) return undefined;
	return value.trim().replace(/^<|>$/g, '').trim();
}

function flag(value: string | undefined): string | undefined {
	return value?.toLowerCase().trim();
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A structural header line as mailsplit reads it: plain ASCII as it is; raw UTF-8 (a file name written unencoded)
 * only in Content-Type and Content-Disposition, where mailsplit reads the line as UTF-8 and mailparser takes nothing
 * but the charset parameter from it. Other bytes (latin-1, controls, a literal U+FFFD that makes mailsplit keep the
 * bytes, line separators its header regex stops at) are declined.
 */
function structuralText(key: string, line: string): string | undefined {
	if (!/[^\x09\x0a\x0d\x20-\x7e]/.test(line)) return line;
	if (key !== 'content-type' && key !== 'content-disposition') return undefined;
	if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(line)) return undefined;
	let text: string;
	try {
		text = strictUtf8.decode(Buffer.from(line, 'latin1'));
	} catch {
		return undefined;
	}
	return /[\u0080-\u009f\u2028\u2029\ufffd]/.test(text) ? undefined : text;
}
