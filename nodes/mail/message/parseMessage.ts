import { MailParser } from 'mailparser';
import type { AttachmentStream, HeaderLines, Headers, MessageText, Otp, StructuredHeader } from 'mailparser';
import type { IBinaryData } from 'n8n-workflow';

import { FileNameRegistry, defaultFileName, sanitiseFileName } from './fileNames';
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
}

interface MailParserInternals {
	createNode?: (data: SplitterNode) => ParserNode;
}

interface PartPlacement {
	/** n8n's `simple` format downloads exactly the parts whose Content-Disposition is `attachment`. */
	inN8nSimple: boolean;
	/** n8n's `resolved` format (stock simpleParser) puts these parts into `binary`. */
	inN8nResolved: boolean;
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
}

/** Text types mailparser merges into the body when stock options are used (its default `textTypes`). */
const STOCK_BODY_TYPES = ['text/plain', 'text/html', 'message/delivery-status'];

export async function parseMessage(source: MessageSource, options: ParseOptions): Promise<ParsedMessage> {
	const parser = new MailParser({
		ignoreEmbedded: true,
		keepDeliveryStatus: true,
		checksumAlgo: false,
		skipHtmlToText: !options.computeDerivedText,
		skipTextToHtml: !options.computeDerivedText,
	});
	const hook = installPartHook(parser);
	const fileNames = new FileNameRegistry();
	const attachments: CollectedAttachment[] = [];
	let text: MessageText | undefined;

	if (Buffer.isBuffer(source)) {
		parser.end(source);
	} else {
		source.once('error', (error) => parser.destroy(error));
		source.pipe(parser);
	}

	try {
		for await (const output of parser as AsyncIterable<AttachmentStream | MessageText>) {
			if (output.type === 'text') {
				text = output;
				continue;
			}
			try {
				const attachment = await readAttachment(output, hook.placementOf(output), fileNames, options);
				if (attachment) attachments.push(attachment);
			} finally {
				output.release?.();
			}
		}
	} catch (error) {
		parser.destroy();
		if (!Buffer.isBuffer(source)) source.destroy();
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- no node here; callers wrap it with the item
		throw error;
	}

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

/**
 * Wraps mailparser's (internal) createNode(), which runs for every MIME node before mailparser decides
 * whether to buffer the node into the body or stream it as an attachment. The first inline, unnamed
 * text/plain and text/html parts stay the body; any other inline text part is switched to an attachment.
 */
function installPartHook(parser: MailParser) {
	const internals = parser as unknown as MailParserInternals;
	const originalCreateNode = internals.createNode;
	if (typeof originalCreateNode !== 'function') {
		throw new Error('mailparser no longer has createNode(): message parts cannot be classified safely');
	}
	const placements = new WeakMap<Headers, PartPlacement>();
	let plainNode: ParserNode | undefined;
	let htmlNode: ParserNode | undefined;
	let rootSeen = false;

	internals.createNode = (data: SplitterNode): ParserNode => {
		const node = originalCreateNode.call(parser, data);
		if (data.root) rootSeen = true;
		const contentType = node.contentType ?? '';
		if (/^multipart\//i.test(contentType)) return node;

		const rawDisposition = typeof data.disposition === 'string' ? data.disposition.toLowerCase() : undefined;
		// mailparser's own defaulting, computed for stock options (ours treat delivery-status differently)
		const stockDisposition = rawDisposition
			? rawDisposition === 'inline'
				? 'inline'
				: 'attachment'
			: STOCK_BODY_TYPES.includes(contentType)
				? 'inline'
				: 'attachment';
		const stockBody = STOCK_BODY_TYPES.includes(contentType) && stockDisposition === 'inline';
		const stockEmbedded = contentType === 'message/rfc822' && rawDisposition === 'inline';
		placements.set(node.headers, {
			inN8nSimple: rawDisposition === 'attachment',
			inN8nResolved: !stockBody && !stockEmbedded,
		});

		if (!node.isAttachment) {
			// mailparser only leaves text/plain and text/html (inline or without disposition) in the body
			const named = typeof data.filename === 'string' && data.filename !== '';
			if (contentType === 'text/plain' && !plainNode && !named) plainNode = node;
			else if (contentType === 'text/html' && !htmlNode && !named) htmlNode = node;
			else node.isAttachment = true;
		}
		return node;
	};

	return {
		placementOf: (attachment: AttachmentStream): PartPlacement =>
			placements.get(attachment.headers) ?? { inN8nSimple: false, inN8nResolved: true },
		sawRoot: () => rootSeen,
		plainBody: () => plainNode?.textContent ?? '',
		htmlBody: () => htmlNode?.textContent ?? '',
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

/**
 * mailparser's content type (for application/octet-stream it guesses from the file name, as n8n shows it).
 * A text part's bytes stay in their original charset, so a charset other than UTF-8/ASCII is kept in the
 * MIME type; without it the bytes could not be read back correctly.
 */
function mimeTypeOf(attachment: AttachmentStream): string {
	const mimeType = attachment.contentType || 'application/octet-stream';
	if (!mimeType.startsWith('text/')) return mimeType;
	const contentType = attachment.headers.get('content-type') as StructuredHeader | undefined;
	const charset = typeof contentType?.params?.charset === 'string' ? contentType.params.charset : undefined;
	if (!charset || /^(utf-?8|us-ascii|ascii)$/i.test(charset.trim())) return mimeType;
	return `${mimeType}; charset=${charset.trim().toLowerCase()}`;
}
