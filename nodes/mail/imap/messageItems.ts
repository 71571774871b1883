/**
 * What a watched message looks like in an item: its `attributes` (where it is, Gmail's ids), and the error item for a
 * message the trigger could not turn into a normal item — attributes plus the headers the server's ENVELOPE gave.
 */
import type { Readable } from 'node:stream';
import type { MessageAddressObject, MessageEnvelopeObject } from 'imapflow';
import type { INodeExecutionData } from 'n8n-workflow';

/** One message as the watcher hands it to the item builder (MIME → n8n item lives in nodes/mail/message). */
export interface WatchedMessage {
	folder: string;
	uid: number;
	uidValidity: string;
	source: Buffer | Readable;
	size?: number;
	flags: string[];
	internalDate?: Date;
	messageId?: string;
	/** The server's parsed summary of the headers; what an error item can still show. */
	envelope?: MessageEnvelopeObject;
	/** Gmail (X-GM-EXT-1) only. */
	labels?: string[];
	threadId?: string;
	/** X-GM-MSGID on Gmail, OBJECTID EMAILID elsewhere. */
	emailId?: string;
	/** Emitted again: its first run was never reported finished (see docs/delivery.md). */
	redelivered?: boolean;
}

export type MessageDescription = Omit<WatchedMessage, 'source'>;

/** Header values in an error item are cut here: the item names the message, it does not carry hostile megabytes. */
const MAX_HEADER_TEXT = 1_000;

/** What the item's `attributes` carry: where the message is, and Gmail's ids where the server has them. */
export function messageAttributes(message: MessageDescription): Record<string, unknown> {
	const attributes: Record<string, unknown> = {
		uid: message.uid,
		mailbox: message.folder,
		uidValidity: message.uidValidity,
		flags: message.flags,
	};
	if (message.internalDate) attributes.internalDate = message.internalDate.toISOString();
	if (message.size !== undefined) attributes.size = message.size;
	if (message.labels) attributes.labels = message.labels;
	if (message.threadId) attributes.threadId = message.threadId;
	if (message.emailId) {
		if (message.labels) attributes.gmailMessageId = message.emailId;
		else attributes.emailId = message.emailId;
	}
	if (message.redelivered) attributes.redelivered = true;
	return attributes;
}

/**
 * The item for a message that has no normal item: `error` says why, `headers` what the server's ENVELOPE tells of it
 * (subject, from, to, cc, date, message id), `attributes` where it is, so a workflow can route it and a person find it.
 */
export function messageErrorItem(message: MessageDescription, error: string): INodeExecutionData {
	const json: INodeExecutionData['json'] = { error };
	const headers = envelopeHeaders(message.envelope);
	if (Object.keys(headers).length > 0) json.headers = headers;
	json.attributes = { ...messageAttributes(message), messageId: message.messageId ?? message.envelope?.messageId ?? null };
	return { json };
}

/** Names a message in logs and errors: folder, UID and Message-ID. */
export function describeMessage(message: Pick<MessageDescription, 'uid' | 'folder' | 'messageId' | 'envelope'>): string {
	const messageId = message.messageId ?? message.envelope?.messageId;
	return `UID ${message.uid} in "${message.folder}"${messageId ? ` (Message-ID ${cut(messageId)})` : ''}`;
}

function envelopeHeaders(envelope: MessageEnvelopeObject | undefined): Record<string, string> {
	const headers: Record<string, string> = {};
	if (!envelope) return headers;
	if (envelope.subject) headers.subject = cut(envelope.subject);
	for (const key of ['from', 'replyTo', 'to', 'cc'] as const) {
		const text = addressText(envelope[key]);
		if (text) headers[key] = text;
	}
	if (envelope.date instanceof Date && !Number.isNaN(envelope.date.getTime())) headers.date = envelope.date.toISOString();
	if (envelope.messageId) headers.messageId = cut(envelope.messageId);
	if (envelope.inReplyTo) headers.inReplyTo = cut(envelope.inReplyTo);
	return headers;
}

function addressText(addresses: MessageAddressObject[] | undefined): string {
	if (!addresses?.length) return '';
	const text = addresses
		.map(({ name, address }) => (name ? `"${name.replace(/["\\]/g, '')}" <${address ?? ''}>` : (address ?? '')))
		.join(', ');
	return cut(text);
}

function cut(text: string): string {
	// Control characters (CR/LF among them) never reach an item from a header.
	const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
	return clean.length > MAX_HEADER_TEXT ? `${clean.slice(0, MAX_HEADER_TEXT)}…` : clean;
}
