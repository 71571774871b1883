import { MailParser } from 'mailparser';
import type { AttachmentStream, HeaderLines, Headers, MessageText, Otp, StructuredHeader } from 'mailparser';
import type { IBinaryData } from 'n8n-workflow';

import { MessageContentError, type MessageContentProblem } from './errors';
import { FileNameRegistry, defaultFileName, sanitiseFileName } from './fileNames';
import { formatBytes, MESSAGE_LIMITS, type MessageLimits } from './limits';
import { attachmentMimeType, BodySlots, isReportTextSlot, placementOf, type PartPlacement } from './partRoles';
import type { AttachmentPart, BinarySink, MessageSource } from './types';

/**
 * One pass of mailparser's streaming parser over a message, with one change to how it sorts MIME parts:
 * exactly one text/plain and one text/html part are the body; every other leaf part comes out as an
 * attachment stream. Stock mailparser merges every inline text part into the body, folds
 * message/delivery-status into the text, and parses an inline message/rfc822 into the body; here those all
 * stay separate, byte-exact parts (options ignoreEmbedded + keepDeliveryStatus, plus the hook below).
 */

/** The mailsplit node mailparser's createNode() receives (internal to mailparser, see installPartHook). */
interface SplitterNode {
	parentNode?: SplitterNode | false;
	contentType?: string | false;
	disposition?: string | false;
	filename?: string | false;
	root?: boolean;
}

/** The node mailparser's createNode() returns (internal to mailparser). */
interface ParserNode {
	contentType?: string;
	/** mailparser's normalised disposition: 'inline' or 'attachment' for leaves. */
	disposition?: string;
	/** false for text parts mailparser will buffer into the body; setting it true makes it stream the part. */
	isAttachment?: boolean;
	headers: Headers;
	/** Charset-decoded, format=flowed-decoded text with \n line breaks; set when a body part has ended. */
	textContent?: string;
	/** The transfer-encoding decoder mailparser writes the part's raw body into (leaf parts only). */
	decoder?: { write: (chunk: Buffer, ...rest: unknown[]) => boolean };
}

interface MailParserInternals {
	createNode?: (data: SplitterNode) => ParserNode;
}

export interface CollectedAttachment extends AttachmentPart, PartPlacement {
	/** The stored binary; undefined when the part was too large and was drained instead. */
	binary?: IBinaryData;
}

export interface ParsedMessage {
	/** Top-level header lines, raw ("binary" strings, folding included). */
	headerLines: HeaderLines;
	/** mailparser's parsed top-level headers. */
	headers: Headers;
	/** The chosen text/plain body ('' when there is none), decoded to text, \n line breaks. */
	plainBody: string;
	/** The chosen text/html body ('' when there is none), decoded to text, cid: links untouched. */
	htmlBody: string;
	/** mailparser's text/html/textAsHtml built from the chosen bodies (only when computeDerivedText). */
	text?: MessageText;
	/** Attachments in MIME order (empty unless collectAttachments). */
	attachments: CollectedAttachment[];
	/** mailparser's OTP-Token header reading, which simpleParser (and so n8n's `resolved`) passes on. */
	otp?: Otp;
}

export interface ParseOptions {
	collectAttachments: boolean;
	maxAttachmentBytes?: number;
	/** Let mailparser build html-to-text and text-to-html conversions (the `resolved` format needs them). */
	computeDerivedText: boolean;
	store: BinarySink;
	/** Overrides for tests; MESSAGE_LIMITS otherwise. */
	limits?: Partial<MessageLimits>;
}

/**
 * Parses one message; `head` is the start of a stream source that was already read from it. A failure of the
 * message's content (a parse limit, a structure mailparser cannot handle) is thrown as MessageContentError; a failure
 * of the source stream (the download broke) or of `store` (the disk is full) is thrown as it is, because trying
 * again later can help.
 */
export async function parseMessage(source: MessageSource, options: ParseOptions, head?: Buffer): Promise<ParsedMessage> {
	const limits: MessageLimits = { ...MESSAGE_LIMITS, ...options.limits };
	const parser = new MailParser({
		ignoreEmbedded: true,
		keepDeliveryStatus: true,
		checksumAlgo: false,
		skipHtmlToText: !options.computeDerivedText,
		skipTextToHtml: !options.computeDerivedText,
		// Passed on to mailsplit, which refuses the message with an EMAXLEN error beyond them.
		maxHeadSize: limits.maxHeaderBytes,
		maxChildNodes: limits.maxParts,
	} as ConstructorParameters<typeof MailParser>[0]);
	let limitError: MessageContentError | undefined;
	const refuse = (error: MessageContentError) => {
		limitError ??= error;
		parser.destroy(limitError);
	};
	const hook = installPartHook(parser, limits, refuse);
	const fileNames = new FileNameRegistry();
	const attachments: CollectedAttachment[] = [];
	let text: MessageText | undefined;
	let sourceError: unknown;
	let storeError: unknown;
	const store: BinarySink = async (content, fileName, mimeType) => {
		try {
			return await options.store(content, fileName, mimeType);
		} catch (error) {
			storeError ??= error;
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- no node here; the caller classifies it
			throw error;
		}
	};

	if (Buffer.isBuffer(source)) {
		parser.end(source);
	} else {
		source.once('error', (error) => {
			sourceError ??= error;
			parser.destroy(error);
		});
		// the part of a stream source already read (while checking whether it is small enough for the fast path)
		if (head?.length) parser.write(head);
		source.pipe(parser);
	}

	try {
		for await (const output of parser as AsyncIterable<AttachmentStream | MessageText>) {
			if (output.type === 'text') {
				text = output;
				continue;
			}
			try {
				const attachment = await readAttachment(output, hook.placementOf(output), fileNames, { ...options, store });
				if (attachment) attachments.push(attachment);
			} finally {
				output.release?.();
			}
		}
	} catch (error) {
		parser.destroy();
		if (!Buffer.isBuffer(source)) source.destroy();
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- no node here; the caller classifies it
		if (sourceError !== undefined || storeError !== undefined) throw error;
		throw limitError ?? contentError(error, limits);
	}
	if (limitError) throw limitError;

	if (!hook.sawRoot()) {
		// The hook relies on a mailparser internal; if an upgrade renamed it, parts would be merged or lost.
		throw new Error('mailparser no longer calls createNode(): message parts cannot be classified safely');
	}
	return {
		headerLines: parser.headerLines || [],
		headers: parser.headers || new Map(),
		plainBody: hook.plainBody(),
		htmlBody: hook.htmlBody(),
		text: options.computeDerivedText ? text : undefined,
		attachments,
		otp: parser.otp,
	};
}

/** A parser failure as the message's fault, naming the limit it broke where mailsplit says which. */
function contentError(error: unknown, limits: MessageLimits): MessageContentError {
	const text = error instanceof Error ? error.message : String(error);
	let problem: MessageContentProblem = 'malformed';
	let message = `The message is malformed: ${text}`;
	if (/child nodes/i.test(text)) {
		problem = 'tooManyParts';
		message = `The message has more than ${limits.maxParts} MIME parts`;
	} else if (/header size/i.test(text)) {
		problem = 'headerTooLarge';
		message = `A header block of the message is larger than ${formatBytes(limits.maxHeaderBytes)}`;
	}
	return new MessageContentError(problem, message, { cause: error });
}

/**
 * Wraps mailparser's (internal) createNode(), which runs for every MIME node before mailparser decides
 * whether to buffer the node into the body or stream it as an attachment. The first inline, unnamed
 * text/plain and text/html parts stay the body; any other inline text part is switched to an attachment.
 */
function installPartHook(parser: MailParser, limits: MessageLimits, refuse: (error: MessageContentError) => void) {
	const internals = parser as unknown as MailParserInternals;
	const originalCreateNode = internals.createNode;
	if (typeof originalCreateNode !== 'function') {
		throw new Error('mailparser no longer has createNode(): message parts cannot be classified safely');
	}
	const placements = new WeakMap<Headers, PartPlacement>();
	const bodies = new BodySlots<ParserNode>();
	let rootSeen = false;
	const childSeen = new WeakSet<SplitterNode>();

	internals.createNode = (data: SplitterNode): ParserNode => {
		const node = originalCreateNode.call(parser, data);
		if (data.root) rootSeen = true;
		const firstChild = !!data.parentNode && !childSeen.has(data.parentNode);
		if (data.parentNode) childSeen.add(data.parentNode);
		if (depthOf(data) > limits.maxDepth) {
			refuse(new MessageContentError('nestedTooDeep', `The message's MIME parts are nested more than ${limits.maxDepth} levels deep`));
		}
		const contentType = node.contentType ?? '';
		if (/^multipart\//i.test(contentType)) return node;

		const disposition = typeof data.disposition === 'string' ? data.disposition.toLowerCase() : undefined;
		const named = typeof data.filename === 'string' && data.filename !== '';
		placements.set(node.headers, placementOf(contentType, disposition));

		const parent = data.parentNode;
		const parentContentType = parent && typeof parent.contentType === 'string' ? parent.contentType.toLowerCase() : undefined;
		if (bodies.plain === undefined && isReportTextSlot({ contentType, disposition, named, firstChild, parentContentType })) {
			node.contentType = 'text/plain';
			node.disposition = 'inline';
			node.isAttachment = false;
			placements.delete(node.headers);
		}
		if (!node.isAttachment) {
			// mailparser only leaves text/plain and text/html (inline or without disposition) in the body
			if (!bodies.take(node.contentType ?? '', named, node)) node.isAttachment = true;
			// A body part is held in memory whole (attachments are streamed): bound what goes in.
			else limitBodyText(node, limits.maxBodyTextBytes, refuse);
		}
		return node;
	};

	return {
		placementOf: (attachment: AttachmentStream): PartPlacement =>
			placements.get(attachment.headers) ?? { inN8nSimple: false, inN8nResolved: true },
		sawRoot: () => rootSeen,
		plainBody: () => bodies.plain?.textContent ?? '',
		htmlBody: () => bodies.html?.textContent ?? '',
	};
}

function depthOf(node: SplitterNode): number {
	let depth = 0;
	for (let parent = node.parentNode; parent; parent = parent.parentNode) depth++;
	return depth;
}

/** Counts the raw bytes mailparser writes into a body part's decoder and refuses the message past the limit. */
function limitBodyText(node: ParserNode, maxBytes: number, refuse: (error: MessageContentError) => void): void {
	const decoder = node.decoder;
	if (!decoder) return;
	const write = decoder.write.bind(decoder);
	let bytes = 0;
	decoder.write = (chunk: Buffer, ...rest: unknown[]) => {
		bytes += chunk.length;
		if (bytes <= maxBytes) return write(chunk, ...rest);
		refuse(new MessageContentError('bodyTextTooLarge', `A text body part of the message is larger than ${formatBytes(maxBytes)}`));
		return true;
	};
}

/** Reads one attachment stream to its end (mailparser stalls otherwise) and stores it unless too large. */
async function readAttachment(
	attachment: AttachmentStream,
	placement: PartPlacement,
	fileNames: FileNameRegistry,
	options: ParseOptions,
): Promise<CollectedAttachment | undefined> {
	const chunks: Buffer[] = [];
	let size = 0;
	let tooLarge = false;
	for await (const chunk of attachment.content as AsyncIterable<Buffer>) {
		size += chunk.length;
		if (!options.collectAttachments || tooLarge) continue;
		if (options.maxAttachmentBytes !== undefined && size > options.maxAttachmentBytes) {
			tooLarge = true;
			chunks.length = 0;
			continue;
		}
		chunks.push(chunk);
	}
	if (!options.collectAttachments) return undefined;

	const mimeType = mimeTypeOf(attachment);
	const fileName = fileNames.claim(sanitiseFileName(attachment.filename) ?? defaultFileName(mimeType));
	const collected: CollectedAttachment = {
		...placement,
		fileName,
		mimeType,
		size,
		partId: attachment.partId ?? '1',
		disposition: attachment.contentDisposition,
		contentId: attachment.cid,
	};
	if (!tooLarge) {
		// one chunk (the common case for small parts) is handed over as is instead of being copied
		const content = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
		collected.binary = await options.store(content, fileName, mimeType);
	}
	return collected;
}

/** mailparser's content type (for application/octet-stream it guesses from the file name, as n8n shows it). */
function mimeTypeOf(attachment: AttachmentStream): string {
	const contentType = attachment.headers.get('content-type') as StructuredHeader | undefined;
	const charset = typeof contentType?.params?.charset === 'string' ? contentType.params.charset : undefined;
	return attachmentMimeType(attachment.contentType, charset);
}
