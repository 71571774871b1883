/**
 * The Message-ID header field, as `BODY[HEADER.FIELDS (MESSAGE-ID)]` gives it: the field's first line and its
 * continuation lines. Case-insensitive and anchored at a line start, so a folded line or `X-Message-ID` never matches.
 * A line starts after LF only, as servers split lines (the `m` flag would also start one after a lone CR).
 */
export const MESSAGE_ID_FIELD = /(?<![^\n])message-id[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*/i;

const LF = 0x0a;
const CR = 0x0d;

/**
 * The Message-ID field(s) of a message read from the start of its source, as the server gives them for
 * `BODY[HEADER.FIELDS (MESSAGE-ID)]`; an empty buffer when the header has none. Undefined when the header does not end
 * within `head` and `head` is not the whole message: the field may come later.
 */
export function messageIdFieldIn(head: Buffer, whole: boolean): Buffer | undefined {
	const end = headerEnd(head);
	if (end === undefined && !whole) return undefined;
	// latin1: one character per byte, so the field's bytes come back unchanged.
	const field = MESSAGE_ID_FIELD.exec(head.toString('latin1', 0, end ?? head.length));
	return field ? Buffer.from(`${field[0]}\r\n`, 'latin1') : Buffer.alloc(0);
}

/** Where the header ends: the offset of its empty line (LF or CRLF alone), or undefined when there is none. */
function headerEnd(source: Buffer): number | undefined {
	if (source[0] === LF || (source[0] === CR && source[1] === LF)) return 0;
	const crlf = source.indexOf('\n\r\n');
	// An LF-only empty line counts only before the CRLF one (not a scan of the whole prefix for each message).
	const lf = (crlf < 0 ? source : source.subarray(0, crlf + 2)).indexOf('\n\n');
	if (lf >= 0) return lf + 1;
	return crlf < 0 ? undefined : crlf + 1;
}
