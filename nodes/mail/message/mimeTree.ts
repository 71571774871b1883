import type { PartHeaders } from './partHeaders';

/**
 * Splits a whole message (a Buffer) into its MIME tree with mailsplit's rules (the splitter inside mailparser):
 * lines end at LF; a delimiter line is `--boundary`, optionally `--` after it, then spaces/tabs, then CR* LF (or the
 * end of input for a closing delimiter), with one leading CR/CRLF allowed; the line break in front of a delimiter
 * belongs to the delimiter. Only well-formed trees are accepted: every multipart is closed, each delimiter belongs to
 * the multipart directly around the current part, every header block ends with an empty line. Anything else is
 * declined (undefined) and left to mailparser, whose recovery rules for broken structure are not imitated here.
 */

export interface TreeLimits {
	/** Parts at every level, root included, beyond which the message is declined. */
	maxParts: number;
	/** Nesting depth (the root is 0) beyond which the message is declined. */
	maxDepth: number;
	/** One header block's size as mailsplit counts it against maxHeadSize, beyond which the message is declined. */
	maxHeaderCost: number;
	/** Longest line (bytes, line break included) before the message is declined. */
	maxLineBytes: number;
}

export interface MimePart {
	headers: PartHeaders;
	parent?: MimePart;
	/** IMAP-style part number ("1", "1.2"); undefined for the root. */
	partId?: string;
	/** Whether this part is the first child of its parent. */
	firstChild: boolean;
	children: MimePart[];
	/** The body as it is fed to the part's transfer decoder (leaves only). */
	body: Buffer;
}

/** Reads a header block (of the message itself when `root`) into PartHeaders, or undefined to decline the message. */
export type HeaderReader = (block: Buffer, root: boolean) => PartHeaders | undefined;

// mailsplit's HEADER_LINE_MIN_COST: a header line counts at least this much against the header size limit.
const HEADER_LINE_MIN_COST = 64;
// mailsplit's BOUNDARY_LINE_SUFFIX: "--" prefix, "--" suffix, 998 SP/HTAB, CRLF.
const BOUNDARY_LINE_SUFFIX = 2 + 2 + 998 + 2;

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;

interface OpenPart extends MimePart {
	children: OpenPart[];
	parent?: OpenPart;
	depth: number;
	bodyStart: number;
	/** A multipart whose closing delimiter has been seen (later lines are its epilogue). */
	closed: boolean;
}

/** The message's MIME tree, or undefined when the fast path declines the message. */
export function splitMimeTree(message: Buffer, readHeaders: HeaderReader, limits: TreeLimits): MimePart | undefined {
	const root = newPart(undefined);
	let current = root;
	let inHeader = true;
	let headerStart = 0;
	let headerCost = 0;
	let parts = 1;

	for (let lineStart = 0; lineStart < message.length; ) {
		const newline = message.indexOf(LF, lineStart);
		const lineEnd = newline < 0 ? message.length : newline + 1;
		if (lineEnd - lineStart > limits.maxLineBytes) return undefined;

		const delimiter = delimiterOf(message, lineStart, lineEnd, current);
		if (delimiter) {
			if (inHeader) return undefined;
			let parent: OpenPart;
			if (delimiter.kind === 'ownClose') {
				// a closing delimiter in the preamble: mailsplit ignores it and goes on, not worth imitating
				return undefined;
			} else if (delimiter.kind === 'ownNext') {
				// the first delimiter of a multipart: its first child starts
				if (current.children.length) return undefined;
				parent = current;
			} else {
				// a delimiter of the multipart around the current part: that part is complete
				if (delimiter.owner !== current.parent) return undefined;
				if (current.headers.boundary && !current.closed) return undefined;
				endBody(message, current, lineStart, delimiter.kind === 'parentNext');
				parent = delimiter.owner;
			}
			if (delimiter.kind === 'parentClose') {
				current = parent;
				current.closed = true;
			} else {
				if (++parts > limits.maxParts) return undefined;
				current = newPart(parent);
				if (current.depth > limits.maxDepth) return undefined;
				inHeader = true;
				headerStart = lineEnd;
				headerCost = 0;
			}
		} else if (inHeader) {
			const length = lineEnd - lineStart;
			const endsBlock = (length === 1 && message[lineStart] === LF) || (length === 2 && message[lineStart] === CR && message[lineStart + 1] === LF);
			headerCost += endsBlock ? length : Math.max(length, HEADER_LINE_MIN_COST);
			if (headerCost > limits.maxHeaderCost) return undefined;
			if (endsBlock) {
				const headers = readHeaders(message.subarray(headerStart, lineEnd), current === root);
				if (!headers) return undefined;
				current.headers = headers;
				current.bodyStart = lineEnd;
				inHeader = false;
			}
		}
		lineStart = lineEnd;
	}

	// Truncated structure (an open multipart, a header block without its empty line) is mailparser's to recover.
	if (inHeader || current !== root) return undefined;
	if (root.headers.boundary) return root.closed ? root : undefined;
	root.body = message.subarray(root.bodyStart);
	return root;
}

function newPart(parent: OpenPart | undefined): OpenPart {
	const part: OpenPart = {
		headers: undefined as unknown as PartHeaders,
		firstChild: false,
		children: [],
		body: EMPTY,
		depth: parent ? parent.depth + 1 : 0,
		bodyStart: 0,
		closed: false,
	};
	if (parent) {
		part.parent = parent;
		part.firstChild = parent.children.length === 0;
		parent.children.push(part);
		part.partId = parent.partId ? `${parent.partId}.${parent.children.length}` : String(parent.children.length);
	}
	return part;
}

const EMPTY = Buffer.alloc(0);

/**
 * A leaf's body ends at the delimiter line; the line break before the delimiter belongs to the delimiter. mailsplit
 * quirk, kept: a body that is nothing but one line break keeps it when another part follows (it hands on the line as
 * read once nothing is left after trimming), and loses it before the closing delimiter.
 */
function endBody(message: Buffer, part: OpenPart, delimiterStart: number, anotherPartFollows: boolean): void {
	if (part.headers.boundary) return;
	let end = delimiterStart;
	if (end > part.bodyStart && message[end - 1] === LF) {
		end--;
		if (end > part.bodyStart && message[end - 1] === CR) end--;
	}
	if (end === part.bodyStart && anotherPartFollows) end = delimiterStart;
	part.body = message.subarray(part.bodyStart, end);
}

type Delimiter =
	| { kind: 'ownNext' }
	| { kind: 'ownClose' }
	| { kind: 'parentNext'; owner: OpenPart }
	| { kind: 'parentClose'; owner: OpenPart };

/** mailsplit's checkBoundary: the current part's own boundary (unless closed), then every enclosing multipart's. */
function delimiterOf(message: Buffer, start: number, end: number, current: OpenPart): Delimiter | undefined {
	const length = end - start;
	let offset = 0;
	if (length >= 1 && (message[start] === CR || message[start] === LF)) {
		offset = length >= 2 && message[start] === CR && message[start + 1] === LF ? 2 : 1;
	}
	if (length < 4 || message[start + offset] !== DASH || message[start + offset + 1] !== DASH) return undefined;
	const own = current.headers?.boundary;
	if (own && !current.closed) {
		const match = compareBoundary(message, start, end, offset, own);
		if (match) return match === 1 ? { kind: 'ownNext' } : { kind: 'ownClose' };
	}
	for (let owner = current.parent; owner; owner = owner.parent) {
		const boundary = owner.headers.boundary;
		if (!boundary) continue;
		const match = compareBoundary(message, start, end, offset, boundary);
		if (match) return match === 1 ? { kind: 'parentNext', owner } : { kind: 'parentClose', owner };
	}
	return undefined;
}

/** mailsplit's compareBoundary: 1 for `--b`, 2 for `--b--`, undefined for no delimiter of this boundary. */
function compareBoundary(message: Buffer, start: number, end: number, offset: number, boundary: Buffer): 1 | 2 | undefined {
	const length = end - start;
	if (length < boundary.length + 3 + offset || length > boundary.length + BOUNDARY_LINE_SUFFIX + offset) return undefined;
	const from = start + offset + 2;
	if (message.compare(boundary, 0, boundary.length, from, from + boundary.length) !== 0) return undefined;
	let at = from + boundary.length;
	let result: 1 | 2 = 1;
	if (message[at] === DASH && at < end) {
		if (at + 1 >= end || message[at + 1] !== DASH) return undefined;
		result = 2;
		at += 2;
	}
	while (at < end && (message[at] === 0x20 || message[at] === 0x09)) at++;
	if (at === end) return result === 2 ? 2 : undefined;
	while (at < end && message[at] === CR) at++;
	if (at < end && message[at] === LF) at++;
	return at === end ? result : undefined;
}
