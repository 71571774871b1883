import { createRequire } from 'node:module';

/**
 * The pieces of mailparser's own libraries (libmime, libqp) that the fast `simple` path calls, loaded from where
 * mailparser and its splitter load them, so both paths decode header parameters, encoded words, format=flowed,
 * charsets and quoted-printable with the very same code. None of them is a dependency of this package of its own:
 * if one cannot be found (a future mailparser dropped it), the fast path is off and every message takes mailparser.
 */

/** libmime's parsed structured header value: `text/plain; charset=utf-8` → { value, params }. */
export interface StructuredValue {
	value: string;
	params: Record<string, string>;
	/** Non-enumerable: the params assembled from RFC 2231 segments (already decoded). */
	decodedParams: string[];
}

interface Libmime {
	parseHeaderValue(value: string, options: { stripComments: boolean }): StructuredValue;
	decodeWords(value: string): string;
	decodeHeader(line: string): { key: string; value: string };
	decodeFlowed(text: string, delSp: boolean): string;
	detectMimeType(fileName: string): string;
}

interface LibmimeCharset {
	decode(bytes: Buffer, charset: string): string;
	normalizeCharset(charset: string): string;
}

interface Libqp {
	decode(input: Buffer): Buffer;
}

export interface ParserLibraries {
	/** libmime as mailsplit (the MIME splitter) uses it: part headers, file names, format=flowed. */
	splitterMime: Libmime;
	/** libmime as mailparser uses it: Content-ID, attachment types, the charset of text bodies. */
	parserMime: Libmime;
	parserCharset: LibmimeCharset;
	/** libqp as mailsplit's quoted-printable decoder uses it. */
	splitterQp: Libqp;
}

let loaded: ParserLibraries | null | undefined;

/** The libraries, or undefined when they cannot be loaded (then the fast path declines every message). */
export function parserLibraries(): ParserLibraries | undefined {
	if (loaded === undefined) loaded = load();
	return loaded ?? undefined;
}

function load(): ParserLibraries | null {
	try {
		const fromParser = createRequire(require.resolve('mailparser'));
		const fromSplitter = createRequire(fromParser.resolve('@zone-eu/mailsplit'));
		const libraries: ParserLibraries = {
			splitterMime: fromSplitter('libmime') as Libmime,
			parserMime: fromParser('libmime') as Libmime,
			parserCharset: fromParser('libmime/lib/charset.js') as LibmimeCharset,
			splitterQp: fromSplitter('libqp') as Libqp,
		};
		const complete =
			typeof libraries.splitterMime.parseHeaderValue === 'function' &&
			typeof libraries.splitterMime.decodeWords === 'function' &&
			typeof libraries.splitterMime.decodeHeader === 'function' &&
			typeof libraries.splitterMime.decodeFlowed === 'function' &&
			typeof libraries.parserMime.decodeHeader === 'function' &&
			typeof libraries.parserMime.detectMimeType === 'function' &&
			typeof libraries.parserCharset.decode === 'function' &&
			typeof libraries.parserCharset.normalizeCharset === 'function' &&
			typeof libraries.splitterQp.decode === 'function';
		return complete ? libraries : null;
	} catch {
		return null;
	}
}
