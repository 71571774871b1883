import type { Readable } from 'node:stream';
import type { IBinaryData } from 'n8n-workflow';

export type MessageFormat = 'simple' | 'resolved' | 'raw';

/** n8n's `this.helpers.prepareBinaryData`, narrowed to what this module passes. */
export type BinarySink = (content: Buffer, fileName: string, mimeType: string) => Promise<IBinaryData>;

/** A raw RFC 5322 message: the whole source, or a stream of it (an IMAP download, a POP RETR). */
export type MessageSource = Buffer | Readable;

export interface MessageToItemOptions {
	format: MessageFormat;
	/**
	 * Put attachments into `binary`. n8n's `resolved` format always does; its `simple` format only when asked.
	 * The `raw` format never parses the message and ignores this.
	 */
	downloadAttachments: boolean;
	/** Binary property prefix: `attachment_` gives attachment_0, attachment_1, ... */
	attachmentPrefix?: string;
	/**
	 * Attachments whose decoded size is above this many bytes are read and dropped instead of kept; they
	 * are still listed in `json.attachmentInfo` with `skipped: 'tooLarge'` and their real size.
	 */
	maxAttachmentBytes?: number;
	/** Where the message came from (uid, mailbox, uidValidity, flags, Gmail labels..., or POP uidl). */
	attributes: Record<string, unknown>;
	prepareBinaryData: BinarySink;
}

/** One MIME part routed to the attachments: what the parser collects about it and what the item reports. */
export interface AttachmentPart {
	fileName: string;
	mimeType: string;
	/** Decoded size in bytes. */
	size: number;
	/** IMAP-style part number ("1", "2.1"); "1" for a message that is a single part. */
	partId: string;
	/** The part's Content-Disposition value when it had one (`inline`, `attachment`, ...). */
	disposition?: string;
	/** Content-ID without angle brackets, to match `cid:` links in the HTML. */
	contentId?: string;
}

/** An attachment as described in the item's `json.attachmentInfo`. */
export interface AttachmentInfo extends AttachmentPart {
	/** The binary property holding it; absent when it was skipped. */
	binaryPropertyName?: string;
	skipped?: 'tooLarge';
}
