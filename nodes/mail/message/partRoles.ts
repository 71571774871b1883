/**
 * Which MIME leaf part becomes what: the body (first inline, unnamed text/plain and text/html), or an attachment, and
 * where n8n's own trigger would have put it. One set of rules for both readers of a message: the mailparser hook
 * (parseMessage) and the fast `simple` path (fastSimple).
 */

export interface PartPlacement {
	/** n8n's `simple` format downloads exactly the parts whose Content-Disposition is `attachment`. */
	inN8nSimple: boolean;
	/** n8n's `resolved` format (stock simpleParser) puts these parts into `binary`. */
	inN8nResolved: boolean;
}

/** Text types mailparser merges into the body when stock options are used (its default `textTypes`). */
const STOCK_BODY_TYPES = ['text/plain', 'text/html', 'message/delivery-status'];

/** Text types mailparser keeps as body text with our options (keepDeliveryStatus). */
const BODY_TYPES = ['text/plain', 'text/html'];

/**
 * Where n8n's trigger would have put a leaf part. `disposition` is the part's lower-cased Content-Disposition value
 * (undefined without one), computed here for stock mailparser options, which treat delivery-status as body text.
 */
export function placementOf(contentType: string, disposition: string | undefined): PartPlacement {
	const stockDisposition = disposition
		? disposition === 'inline'
			? 'inline'
			: 'attachment'
		: STOCK_BODY_TYPES.includes(contentType)
			? 'inline'
			: 'attachment';
	const stockBody = STOCK_BODY_TYPES.includes(contentType) && stockDisposition === 'inline';
	const stockEmbedded = contentType === 'message/rfc822' && disposition === 'inline';
	return { inN8nSimple: disposition === 'attachment', inN8nResolved: !stockBody && !stockEmbedded };
}

/**
 * mailparser's own decision (createNode, with keepDeliveryStatus): a leaf is streamed as an attachment unless it is
 * text/plain or text/html and inline (explicitly, or without a disposition).
 */
export function streamedAsAttachment(contentType: string, disposition: string | undefined): boolean {
	if (!BODY_TYPES.includes(contentType)) return true;
	return disposition !== undefined && disposition !== 'inline';
}

/**
 * RFC 6522: a report's first part is the human-readable text, whatever some senders label it: the first part of a
 * multipart/report, labelled message/delivery-status, unnamed and not an attachment.
 */
export function isReportTextSlot(part: {
	contentType: string;
	disposition: string | undefined;
	named: boolean;
	firstChild: boolean;
	parentContentType: string | undefined;
}): boolean {
	if (!part.firstChild || part.contentType !== 'message/delivery-status') return false;
	if (part.disposition !== undefined && part.disposition !== 'inline') return false;
	return !part.named && part.parentContentType === 'multipart/report';
}

/** Hands out the body slots: the first unnamed text/plain and text/html among the parts mailparser keeps as text. */
export class BodySlots<T> {
	plain?: T;
	html?: T;

	/** True when `part` takes a body slot; false means it is an attachment. */
	take(contentType: string, named: boolean, part: T): boolean {
		if (named) return false;
		if (contentType === 'text/plain' && this.plain === undefined) {
			this.plain = part;
			return true;
		}
		if (contentType === 'text/html' && this.html === undefined) {
			this.html = part;
			return true;
		}
		return false;
	}
}

/**
 * An attachment's MIME type as the item reports it. A text part's bytes stay in their original charset, so a charset
 * other than UTF-8/ASCII is kept in the MIME type; without it the bytes could not be read back correctly.
 */
export function attachmentMimeType(contentType: string, charset: string | undefined): string {
	const mimeType = contentType || 'application/octet-stream';
	if (!mimeType.startsWith('text/')) return mimeType;
	if (!charset || /^(utf-?8|us-ascii|ascii)$/i.test(charset.trim())) return mimeType;
	return `${mimeType}; charset=${charset.trim().toLowerCase()}`;
}
