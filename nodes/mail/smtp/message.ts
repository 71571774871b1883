/**
 * Turns the node's parameters for one item into nodemailer mail options, checking every value that reaches a header
 * or the envelope. Pure (attachments arrive already read). Parameter names follow n8n's Send Email v2.1 where they
 * overlap, so a workflow moves over without new expressions.
 */
import type { SendMailOptions } from 'nodemailer';

import { boundedNumber } from '../parameters';
import type { ReplySource } from './reply';
import { MAX_REPLY_RECIPIENTS, chooseReplyRecipients, replySubject } from './reply';
import type { MailAddress } from './validate';
import {
	MessageInputError,
	assertSingleLine,
	normaliseMessageId,
	parseAddressList,
	parseMessageIdList,
	readHeaderText,
	sanitizeDisplayName,
	toMailText,
} from './validate';

export type EmailFormat = 'text' | 'html' | 'both';
export type Priority = 'high' | 'normal' | 'low';

/** An attachment read from the item's binary data. */
export interface AttachmentInput {
	/** The binary property it came from (the cid of an inline attachment). */
	property: string;
	fileName: string;
	mimeType: string;
	content: Buffer;
	/** True for the `attachments` option (referable as cid:<property>), false for `fileAttachments`. */
	inline: boolean;
}

export interface CustomHeader {
	name: string;
	value: unknown;
}

/** The node's parameter values for one item, as read (unvalidated). */
export interface ComposeInput {
	/** The account of the credential: the From address when fromEmail is empty. */
	accountEmail: string;
	fromEmail?: unknown;
	senderName?: unknown;
	toEmail?: unknown;
	ccEmail?: unknown;
	bccEmail?: unknown;
	replyTo?: unknown;
	subject?: unknown;
	emailFormat?: unknown;
	text?: unknown;
	html?: unknown;
	/** n8n Send Email v2.1 semantics: absent means on. */
	appendAttribution?: unknown;
	/** Link used in the HTML attribution. */
	attributionLink: string;
	/** Set when "Reply to the Input Email" is on. */
	replySource?: ReplySource;
	/** "Reply to All Reply-To Addresses": off (undefined) answers only the first address. */
	replyToAllAddresses?: unknown;
	/** "Max Reply Recipients" as entered: 1–20, empty means 10. */
	maxReplyRecipients?: unknown;
	inReplyTo?: unknown;
	references?: unknown;
	messageId?: unknown;
	priority?: unknown;
	customHeaders?: CustomHeader[];
	attachments?: AttachmentInput[];
	/**
	 * A message with no To, CC or BCC is built instead of refused. Only for storing a draft (Gmail IMAP's Create
	 * Draft), whose recipients may be added later in a mail program; never for sending.
	 */
	allowNoRecipients?: boolean;
}

/** Display names of the parameters, for error messages. */
export const FIELD_LABELS = {
	fromEmail: 'From Email',
	senderName: 'Sender Name',
	toEmail: 'To Email',
	ccEmail: 'CC Email',
	bccEmail: 'BCC Email',
	replyTo: 'Reply To',
	replyToAllAddresses: 'Reply to All Reply-To Addresses',
	maxReplyRecipients: MAX_REPLY_RECIPIENTS.label,
	subject: 'Subject',
	emailFormat: 'Email Format',
	inReplyTo: 'In-Reply-To',
	references: 'References',
	messageId: 'Message-ID',
	priority: 'Priority',
	customHeaders: 'Custom Headers',
	attachments: 'Attachments',
} as const;

export const ATTRIBUTION_TEXT = 'This email was sent automatically with ';

/** The link n8n's Send Email puts into its attribution (n8n's createUtmCampaignLink), for this node's type. */
export function attributionLink(nodeType: string, instanceId?: string): string {
	return (
		'https://n8n.io/?utm_source=n8n-internal&utm_medium=powered_by&utm_campaign=' +
		`${encodeURIComponent(nodeType)}${instanceId ? `_${instanceId}` : ''}`
	);
}

/**
 * Headers the node sets from its own parameters, or that define the MIME structure nodemailer builds: a custom
 * header with one of these names would contradict (or duplicate) what the message says elsewhere.
 */
const RESERVED_HEADERS = new Map<string, string>([
	['from', 'use "From Email" / "Sender Name"'],
	['sender', 'use "From Email"'],
	['to', 'use "To Email"'],
	['cc', 'use the "CC Email" option'],
	['bcc', 'use the "BCC Email" option (a Bcc header would show the hidden recipients to everyone)'],
	['reply-to', 'use the "Reply To" option'],
	['subject', 'use "Subject"'],
	['message-id', 'use the "Message-ID" option'],
	['in-reply-to', 'use the "In-Reply-To" option'],
	['references', 'use the "References" option'],
	['date', 'the server time of sending is used'],
	['mime-version', 'it is set by the node'],
	['content-type', 'it is set by the node from the email format and attachments'],
	['content-transfer-encoding', 'it is set by the node'],
	['content-disposition', 'it is set by the node'],
	['content-id', 'it is set by the node'],
	['return-path', 'the receiving server sets it from the envelope'],
	['x-priority', 'use the "Priority" option'],
	['importance', 'use the "Priority" option'],
	['x-msmail-priority', 'use the "Priority" option'],
]);

/** RFC 5322 field name: printable US-ASCII except the colon. */
const HEADER_NAME = /^[!-9;-~]+$/;

/**
 * @throws MessageInputError for any value that cannot go into the message as given
 */
export function composeMessage(input: ComposeInput): SendMailOptions {
	const reply = input.replySource;
	// Checked whenever it is set, so a value out of range is reported even while the reply options are unused.
	const maxReplyRecipients = boundedNumber(input.maxReplyRecipients, MAX_REPLY_RECIPIENTS);

	const from = readFrom(input);
	let to = parseAddressList(FIELD_LABELS.toEmail, input.toEmail);
	if (to.length === 0 && reply) to = chooseReplyRecipients(reply, { all: input.replyToAllAddresses, max: maxReplyRecipients });
	const cc = parseAddressList(FIELD_LABELS.ccEmail, input.ccEmail);
	const bcc = parseAddressList(FIELD_LABELS.bccEmail, input.bccEmail);
	if (to.length + cc.length + bcc.length === 0 && input.allowNoRecipients !== true) {
		throw new MessageInputError(
			FIELD_LABELS.toEmail,
			reply
				? `is empty and the input email has no From or Reply-To address to answer; enter a recipient`
				: 'is empty: enter at least one recipient (To, CC or BCC)',
		);
	}
	const replyTo = parseAddressList(FIELD_LABELS.replyTo, input.replyTo);

	let subject = readHeaderText(FIELD_LABELS.subject, input.subject);
	if (!subject && reply) subject = replySubject(reply.subject);

	const format = readFormat(input.emailFormat);
	let text = format === 'html' ? undefined : toMailText(input.text);
	let html = format === 'text' ? undefined : toMailText(input.html);
	// n8n Send Email v2.1: attribution is on unless switched off, goes into the HTML when there is HTML to show
	// (format html, or both with HTML given), otherwise into the text.
	if (input.appendAttribution === undefined || input.appendAttribution === true) {
		if (format === 'html' || (format === 'both' && html)) {
			html = `${html ?? ''}<br><br>---<br><em>${ATTRIBUTION_TEXT}<a href="${escapeAttribute(input.attributionLink)}" target="_blank">n8n</a></em>`;
		} else {
			text = `${text ?? ''}\n\n---\n${ATTRIBUTION_TEXT}n8n\nhttps://n8n.io`;
		}
	}

	// Every display name passes sanitizeDisplayName on its way into a header, whatever its source: the parameters
	// were refused above if they held line breaks, names from the input email were sanitised when read; this is
	// the last line of defence, not left to nodemailer's encoding.
	const message: SendMailOptions = {
		from: safeNames([from])[0],
		to: to.length ? safeNames(to) : undefined,
		cc: cc.length ? safeNames(cc) : undefined,
		bcc: bcc.length ? safeNames(bcc) : undefined,
		replyTo: replyTo.length ? safeNames(replyTo) : undefined,
		subject,
	};
	if (text !== undefined) message.text = text;
	if (html !== undefined) message.html = html;

	// Explicit values win over the ones taken from the input email.
	const inReplyTo = isBlank(input.inReplyTo) ? reply?.messageId : normaliseMessageId(FIELD_LABELS.inReplyTo, input.inReplyTo);
	if (inReplyTo) message.inReplyTo = inReplyTo;
	const references = isBlank(input.references)
		? reply?.references ?? []
		: parseMessageIdList(FIELD_LABELS.references, input.references);
	if (references.length) message.references = references;
	if (!isBlank(input.messageId)) message.messageId = normaliseMessageId(FIELD_LABELS.messageId, input.messageId);

	const priority = readPriority(input.priority);
	if (priority !== 'normal') message.priority = priority;

	const headers = readCustomHeaders(input.customHeaders ?? []);
	if (headers.length) message.headers = headers.map(({ name, value }) => ({ key: name, value }));

	if (input.attachments?.length) {
		message.attachments = input.attachments.map((attachment) => {
			assertSingleLine(`${FIELD_LABELS.attachments}: the file name of binary property "${attachment.property}"`, attachment.fileName);
			assertSingleLine(`${FIELD_LABELS.attachments}: the MIME type of binary property "${attachment.property}"`, attachment.mimeType);
			return {
				filename: attachment.fileName,
				content: attachment.content,
				contentType: attachment.mimeType,
				...(attachment.inline ? { cid: attachment.property } : {}),
			};
		});
	}
	return message;
}

/** From: the From Email parameter (which may carry a display name), else the credential's account. */
function readFrom(input: ComposeInput): MailAddress {
	const senderName = readHeaderText(FIELD_LABELS.senderName, input.senderName);
	const given = parseAddressList(FIELD_LABELS.fromEmail, input.fromEmail);
	if (given.length > 1) {
		throw new MessageInputError(FIELD_LABELS.fromEmail, `must be one address, got ${given.length}`);
	}
	const address = given[0]?.address ?? input.accountEmail;
	const name = senderName || given[0]?.name || '';
	return { name, address };
}

function safeNames(addresses: readonly MailAddress[]): MailAddress[] {
	return addresses.map(({ name, address }) => ({ name: sanitizeDisplayName(name), address }));
}

function readFormat(value: unknown): EmailFormat {
	// n8n Send Email v2.1 defaults to html.
	if (value === undefined || value === null || value === '') return 'html';
	if (value === 'text' || value === 'html' || value === 'both') return value;
	throw new MessageInputError(FIELD_LABELS.emailFormat, `must be text, html or both, got "${toMailText(value)}"`);
}

function readPriority(value: unknown): Priority {
	if (value === undefined || value === null || value === '') return 'normal';
	if (value === 'high' || value === 'normal' || value === 'low') return value;
	throw new MessageInputError(FIELD_LABELS.priority, `must be high, normal or low, got "${toMailText(value)}"`);
}

function readCustomHeaders(headers: readonly CustomHeader[]): Array<{ name: string; value: string }> {
	const result: Array<{ name: string; value: string }> = [];
	for (const header of headers) {
		const name = toMailText(header.name).trim();
		if (!name) throw new MessageInputError(FIELD_LABELS.customHeaders, 'has a header without a name');
		assertSingleLine(`${FIELD_LABELS.customHeaders}: the name "${name}"`, name);
		if (!HEADER_NAME.test(name)) {
			throw new MessageInputError(
				FIELD_LABELS.customHeaders,
				`has the invalid header name "${name}": names are printable ASCII letters, digits and symbols, without spaces or a colon`,
			);
		}
		const reason = RESERVED_HEADERS.get(name.toLowerCase());
		if (reason) throw new MessageInputError(FIELD_LABELS.customHeaders, `cannot set "${name}": ${reason}`);
		const value = toMailText(header.value);
		assertSingleLine(`${FIELD_LABELS.customHeaders}: the value of "${name}"`, value);
		result.push({ name, value: value.trim() });
	}
	return result;
}

function isBlank(value: unknown): boolean {
	return value === undefined || value === null || (typeof value === 'string' && value.trim() === '') || (Array.isArray(value) && value.length === 0);
}

function escapeAttribute(value: string): string {
	return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
