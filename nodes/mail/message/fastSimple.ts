import { decodeBodyText, transferDecode } from './bodyDecoding';
import { FileNameRegistry, defaultFileName, sanitiseFileName } from './fileNames';
import type { RawHeaderLine } from './headers';
import { MESSAGE_LIMITS } from './limits';
import { splitMimeTree, type MimePart, type TreeLimits } from './mimeTree';
import type { CollectedAttachment } from './parseMessage';
import { parserLibraries, type ParserLibraries } from './parserLibraries';
import { readPartHeaders } from './partHeaders';
import { attachmentMimeType, BodySlots, isReportTextSlot, placementOf, streamedAsAttachment, type PartPlacement } from './partRoles';
import type { BinarySink } from './types';

/**
 * The fast path of the `simple` format: for an ordinary, small, well-formed message, the parts n8n's `simple` item is
 * built from (top-level header lines, the text and HTML bodies, the attachments) read in one synchronous pass over
 * the whole message, instead of through mailparser's streams (a Transform, a splitter, a decoder stream per part and
 * an event-loop turn per chunk, and every header of every part parsed into addresses and dates the `simple` item
 * never shows). It gives exactly what parseMessage gives for the messages it accepts — the differential test
 * (test/unit/mail/message/fastSimple.test.ts) holds it to that — and declines (undefined) every other message,
 * which then takes mailparser as before.
 *
 * Declined: messages above FAST_SIMPLE_LIMITS (so a message near a parse limit always meets mailparser's limits and
 * their MessageContentError), broken structure (an unclosed multipart, a header block without its empty line, a
 * delimiter of an outer multipart inside an inner one), unusual structural headers (repeated, non-ASCII, comments in
 * the encoding, a boundary on a leaf, no Content-Type but a file name), base64 with characters outside its alphabet
 * or padding inside, and text in charsets that are neither UTF-8/ASCII nor single-byte.
 */

export const FAST_SIMPLE_LIMITS = {
	/** Whole message, as received; larger messages are streamed through mailparser with bounded memory. */
	maxMessageBytes: 512 * 1024,
	maxParts: Math.min(100, MESSAGE_LIMITS.maxParts),
	maxDepth: Math.min(10, MESSAGE_LIMITS.maxDepth),
	maxHeaderCost: Math.min(64 * 1024, MESSAGE_LIMITS.maxHeaderBytes),
	maxLineBytes: 32 * 1024,
} as const satisfies TreeLimits & { maxMessageBytes: number };

export interface SimpleParts {
	/** Top-level header lines, raw ("binary" strings, folding included), as mailparser reports them. */
	headerLines: RawHeaderLine[];
	plainBody: string;
	htmlBody: string;
	/** Attachments in MIME order (empty unless collectAttachments). */
	attachments: CollectedAttachment[];
}

export interface FastSimpleOptions {
	collectAttachments: boolean;
	maxAttachmentBytes?: number;
	store: BinarySink;
}

/** One leaf that becomes an attachment, decoded but not yet stored. */
interface PendingAttachment {
	part: MimePart;
	placement: PartPlacement;
	content: Buffer;
}

/**
 * The `simple` item's parts of a whole message, or undefined when the fast path declines it. Nothing is stored
 * before the whole message has been accepted, so a declined message is stored once, by mailparser's path. A failing
 * store rejects with its own error, as in parseMessage.
 */
export async function fastSimpleParts(message: Buffer, options: FastSimpleOptions): Promise<SimpleParts | undefined> {
	const libraries = parserLibraries();
	if (!libraries || message.length > FAST_SIMPLE_LIMITS.maxMessageBytes) return undefined;
	const root = splitMimeTree(message, (block, isRoot) => readPartHeaders(block, libraries, !isRoot), FAST_SIMPLE_LIMITS);
	if (!root) return undefined;

	const bodies = new BodySlots<MimePart>();
	const texts = new Map<MimePart, string>();
	const pending: PendingAttachment[] = [];
	for (const part of leavesOf(root)) {
		const { contentType, disposition } = part.headers;
		const named = !!part.headers.filename;
		const placement = placementOf(contentType, disposition);
		const parentContentType = part.parent?.headers.contentType;
		const reportText =
			bodies.plain === undefined &&
			isReportTextSlot({ contentType, disposition, named, firstChild: part.firstChild, parentContentType });
		const bodyType = reportText ? 'text/plain' : contentType;
		const isBody = (reportText || !streamedAsAttachment(contentType, disposition)) && bodies.take(bodyType, named, part);

		// an attachment nobody asked for is not decoded at all (mailparser reads it and drops it)
		if (!isBody && !options.collectAttachments) continue;
		const content = transferDecode(part.body, part.headers.encoding, libraries);
		if (!content) return undefined;
		if (isBody) {
			const text = decodeBodyText(content, part.headers, libraries);
			if (text === undefined) return undefined;
			texts.set(part, text);
		} else {
			pending.push({ part, placement, content });
		}
	}

	const attachments = await storeAttachments(pending, options, libraries);
	return {
		headerLines: root.headers.lines,
		plainBody: bodies.plain ? (texts.get(bodies.plain) ?? '') : '',
		htmlBody: bodies.html ? (texts.get(bodies.html) ?? '') : '',
		attachments,
	};
}

/** The leaf parts in MIME order (depth first, as mailparser meets them). */
function* leavesOf(part: MimePart): Generator<MimePart> {
	if (!part.headers.boundary) {
		yield part;
		return;
	}
	for (const child of part.children) yield* leavesOf(child);
}

/** What parseMessage's readAttachment makes of each attachment, stored one after another in MIME order. */
async function storeAttachments(
	pending: PendingAttachment[],
	options: FastSimpleOptions,
	libraries: ParserLibraries,
): Promise<CollectedAttachment[]> {
	const fileNames = new FileNameRegistry();
	const attachments: CollectedAttachment[] = [];
	for (const { part, placement, content } of pending) {
		const { contentType, filename, disposition, contentId, charset } = part.headers;
		// mailparser guesses the type of an application/octet-stream part from its file name
		const guessed =
			contentType === 'application/octet-stream' && filename
				? libraries.parserMime.detectMimeType(filename) || 'application/octet-stream'
				: contentType;
		const mimeType = attachmentMimeType(guessed, charset);
		const fileName = fileNames.claim(sanitiseFileName(filename) ?? defaultFileName(mimeType));
		const attachment: CollectedAttachment = {
			...placement,
			fileName,
			mimeType,
			size: content.length,
			partId: part.partId ?? '1',
			disposition,
			contentId,
		};
		const tooLarge = options.maxAttachmentBytes !== undefined && content.length > options.maxAttachmentBytes;
		if (!tooLarge) attachment.binary = await options.store(content, fileName, mimeType);
		attachments.push(attachment);
	}
	return attachments;
}
