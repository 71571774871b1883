import type { Headers } from 'mailparser';
import type { IBinaryKeyData, IDataObject, INodeExecutionData } from 'n8n-workflow';

import { binaryStringToText } from './charset';
import { decodeHeaderBlock, unfoldHeader } from './headers';
import { setOwn, toJsonObject, toJsonValue } from './jsonSafe';
import { FAST_SIMPLE_LIMITS, fastSimpleParts } from './fastSimple';
import { parseMessage, type CollectedAttachment, type ParsedMessage } from './parseMessage';
import { readWholeSource, splitHeaderAndBody } from './rawSource';
import { readSourcePrefix } from './sourcePrefix';
import type { AttachmentInfo, MessageSource, MessageToItemOptions } from './types';

export type { AttachmentInfo, BinarySink, MessageFormat, MessageSource, MessageToItemOptions } from './types';

export const DEFAULT_ATTACHMENT_PREFIX = 'attachment_';

/** Headers n8n's `simple` item carries at the top level; every other header goes under `metadata`. */
const SIMPLE_TOP_LEVEL_HEADERS = ['cc', 'date', 'from', 'subject', 'to'];

/** The parsed headers n8n's `resolved` item (stock simpleParser) lifts to the top level, and their keys. */
const RESOLVED_TOP_LEVEL_HEADERS: Array<[header: string, key: string]> = [
	['subject', 'subject'],
	['references', 'references'],
	['date', 'date'],
	['to', 'to'],
	['from', 'from'],
	['cc', 'cc'],
	['bcc', 'bcc'],
	['message-id', 'messageId'],
	['in-reply-to', 'inReplyTo'],
	['reply-to', 'replyTo'],
];

/**
 * Turns one raw RFC 5322 message into one n8n item, in the shapes of n8n's Email Trigger (IMAP) v2.2
 * (`simple`, `resolved`, `raw`), plus `attributes` from the caller. Used by the IMAP trigger and the POP node.
 *
 * A stream source is parsed as it arrives; attachments are kept only up to `maxAttachmentBytes` each, so
 * memory stays around the size of the attachments kept. On failure a stream source is destroyed.
 *
 * `simple` first tries the fast path (fastSimple.ts): a message of up to FAST_SIMPLE_LIMITS.maxMessageBytes (a
 * stream is read that far first) that it accepts is read in one synchronous pass; the item is the same as
 * mailparser's. Every other message, and the rest of a larger stream, goes through mailparser as before.
 */
export async function messageToItem(
	source: MessageSource,
	options: MessageToItemOptions,
): Promise<INodeExecutionData> {
	const attributes = toJsonObject(options.attributes);
	if (options.format === 'raw') return rawItem(await readWholeSource(source), attributes);

	let head: Buffer | undefined;
	if (options.format === 'simple' && fastSimpleEnabled) {
		const fast = await fastSimpleItem(source, options, attributes);
		if ('item' in fast) return fast.item;
		({ source, head } = fast);
	}
	const parsed = await parseMessage(
		source,
		{
			collectAttachments: options.downloadAttachments,
			maxAttachmentBytes: options.maxAttachmentBytes,
			computeDerivedText: options.format === 'resolved',
			store: options.prepareBinaryData,
		},
		head,
	);
	const json = options.format === 'simple' ? simpleJson(parsed, attributes) : resolvedJson(parsed, attributes);
	return withAttachments(json, parsed.attachments, options);
}

let fastSimpleEnabled = true;

/**
 * Turns the fast path of the `simple` format on or off (it is on). For benchmarks and tests that compare it with
 * mailparser's path; the items are the same either way.
 */
export function useFastSimplePath(enabled: boolean): void {
	fastSimpleEnabled = enabled;
}

/**
 * The `simple` item from fastSimpleParts when the message is small and ordinary; otherwise what mailparser's path
 * needs to go on: the source, and for a large stream the head already read from it (the rest is still unread).
 */
async function fastSimpleItem(
	source: MessageSource,
	options: MessageToItemOptions,
	attributes: IDataObject,
): Promise<{ item: INodeExecutionData } | { source: MessageSource; head?: Buffer }> {
	const stream = Buffer.isBuffer(source) ? undefined : source;
	try {
		let message: Buffer;
		if (stream) {
			const prefix = await readSourcePrefix(stream, FAST_SIMPLE_LIMITS.maxMessageBytes);
			if (!prefix.complete) return { source: stream, head: prefix.head };
			message = prefix.message;
		} else {
			message = source as Buffer;
		}
		const parts = await fastSimpleParts(message, {
			collectAttachments: options.downloadAttachments,
			maxAttachmentBytes: options.maxAttachmentBytes,
			store: options.prepareBinaryData,
		});
		if (!parts) return { source: message };
		return { item: withAttachments(simpleJson(parts, attributes), parts.attachments, options) };
	} catch (error) {
		// a broken download or a failed store, as on mailparser's path: the source is given up
		stream?.destroy();
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- no node here; the caller classifies it
		throw error;
	}
}

/** The item: `json`, plus the attachments in `binary` and `attachmentInfo` when they were requested. */
function withAttachments(json: IDataObject, attachments: CollectedAttachment[], options: MessageToItemOptions): INodeExecutionData {
	const item: INodeExecutionData = { json };
	if (options.downloadAttachments && attachments.length) {
		const { binary, info } = placeAttachments(
			attachments,
			options.format === 'resolved' ? 'resolved' : 'simple',
			options.attachmentPrefix ?? DEFAULT_ATTACHMENT_PREFIX,
		);
		json.attachmentInfo = info as unknown as IDataObject[];
		if (Object.keys(binary).length) item.binary = binary;
	}
	return item;
}

/**
 * n8n `raw`: `raw` is the message body after the header section (IMAP BODY[TEXT]) as a UTF-8 string, exactly
 * what n8n's trigger returns despite its UI text promising base64url. n8n's item drops the header section,
 * without which a multipart body cannot even be split, so `rawHeaders` carries it here.
 */
function rawItem(message: Buffer, attributes: IDataObject): INodeExecutionData {
	const { header, body } = splitHeaderAndBody(message);
	return { json: { raw: body.toString('utf8'), rawHeaders: header.toString('utf8'), attributes } };
}

/**
 * n8n `simple`: the first text/html and text/plain bodies ('' when absent), `metadata` with every other
 * header, and cc/date/from/subject/to at the top level — all as header text with encoded words decoded and
 * the first occurrence of a repeated header. `date` is that header's text, never a parsed or invented time.
 */
function simpleJson(parsed: Pick<ParsedMessage, 'headerLines' | 'plainBody' | 'htmlBody'>, attributes: IDataObject): IDataObject {
	const metadata: IDataObject = {};
	const json: IDataObject = {
		textHtml: parsed.htmlBody,
		textPlain: parsed.plainBody,
		metadata,
		attributes,
	};
	for (const [name, values] of decodeHeaderBlock(parsed.headerLines)) {
		setOwn(SIMPLE_TOP_LEVEL_HEADERS.includes(name) ? json : metadata, name, values[0]);
	}
	return json;
}

/**
 * n8n `resolved`: simpleParser's result with `headers` turned into name → raw header line (the last one
 * wins for a repeated header, as in n8n), Dates as ISO strings, attachments moved to `binary`.
 * Differences, all so nothing is invented or hidden: `html` keeps its cid: links (the images are in
 * `binary`) instead of inlining them as data: URLs; an unparseable Date gives `date: null` (mailparser would
 * substitute the current time) while `headers.date` keeps the raw line.
 */
function resolvedJson(parsed: ParsedMessage, attributes: IDataObject): IDataObject {
	const headers: IDataObject = {};
	for (const { key, line } of parsed.headerLines) setOwn(headers, key, binaryStringToText(line));

	const json: IDataObject = { headers, html: parsed.text?.html ?? false };
	if (parsed.text?.text !== undefined) json.text = parsed.text.text;
	if (parsed.text?.textAsHtml !== undefined) json.textAsHtml = parsed.text.textAsHtml;
	if (parsed.text?.textConversionError) json.textConversionError = parsed.text.textConversionError.message;
	for (const [header, key] of RESOLVED_TOP_LEVEL_HEADERS) {
		if (!parsed.headers.has(header)) continue;
		const value = header === 'date' ? trustworthyDate(parsed) : toJsonValue(parsed.headers.get(header));
		if (value !== undefined) json[key] = value;
	}
	if (parsed.otp) json.otp = toJsonValue(parsed.otp) as IDataObject;
	json.attributes = attributes;
	return json;
}

/** mailparser replaces a Date header it cannot parse with the current time; report that as null instead. */
function trustworthyDate(parsed: ParsedMessage): string | null {
	const firstDateLine = parsed.headerLines.find(({ key }) => key === 'date');
	if (!firstDateLine) return null;
	const { value } = unfoldHeader(firstDateLine.line);
	if (Number.isNaN(new Date(value).getTime())) return null;
	const parsedDate = (parsed.headers as Headers).get('date');
	return parsedDate instanceof Date ? parsedDate.toISOString() : null;
}

/**
 * Binary keys are numbered so a workflow built on n8n's trigger finds the same file under the same key:
 * first the parts n8n would have put into `binary` for this format (in MIME order), then the parts n8n
 * leaves out (inline images, unnamed parts, delivery reports, ... — also in MIME order). Skipped parts get
 * no key but keep their place in `attachmentInfo`.
 */
function placeAttachments(
	attachments: CollectedAttachment[],
	format: 'simple' | 'resolved',
	prefix: string,
): { binary: IBinaryKeyData; info: AttachmentInfo[] } {
	const inN8n = (attachment: CollectedAttachment) =>
		format === 'simple' ? attachment.inN8nSimple : attachment.inN8nResolved;
	const ordered = [...attachments.filter(inN8n), ...attachments.filter((attachment) => !inN8n(attachment))];
	const binary: IBinaryKeyData = {};
	const info: AttachmentInfo[] = [];
	let index = 0;
	for (const attachment of ordered) {
		const entry: AttachmentInfo = {
			fileName: attachment.fileName,
			mimeType: attachment.mimeType,
			size: attachment.size,
			partId: attachment.partId,
		};
		if (attachment.disposition) entry.disposition = attachment.disposition;
		if (attachment.contentId) entry.contentId = attachment.contentId;
		if (attachment.binary) {
			entry.binaryPropertyName = `${prefix}${index++}`;
			binary[entry.binaryPropertyName] = attachment.binary;
		} else {
			entry.skipped = 'tooLarge';
		}
		info.push(entry);
	}
	return { binary, info };
}
