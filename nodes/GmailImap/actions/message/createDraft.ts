/**
 * Message → Create Draft: the SMTP node's message (same fields, attachments from binary data, reply threading to the
 * input message) stored with APPEND into the folder the server marks as Drafts, flagged \Draft and \Seen.
 */
import type { IDataObject, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { sendProperties } from '../../../GmailSmtp/description';
import { appendMessage, buildMessageSource, draftsFolder } from '../../../mail/imap/actions/append';
import { collectAttachments } from '../../../mail/smtp/attachments';
import { attributionLink, composeMessage, type ComposeInput, type CustomHeader } from '../../../mail/smtp/message';
import { readReplySource } from '../../../mail/smtp/reply';
import { NODE_TYPE } from '../../constants';
import { showFor } from '../common';
import type { Operation, OperationInput } from '../types';

/** Parameters the SMTP node has that a draft has no use for. */
const NOT_FOR_DRAFTS = new Set(['authentication', 'operation', 'gmailPort']);

/** The SMTP node's parameters (names, defaults, texts), shown for Create Draft. */
function draftProperties(): INodeProperties[] {
	const show = showFor('message', ['createDraft'])?.show;
	return sendProperties
		.filter((property) => !NOT_FOR_DRAFTS.has(property.name))
		.map((property) => ({ ...property, displayOptions: { show: { ...property.displayOptions?.show, ...show } } }));
}

export const DRAFT_FLAGS = ['\\Draft', '\\Seen'];

export const createDraft: Operation = {
	description: draftProperties(),
	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const compose = await readComposeInput(input);
		const mail = composeMessage({ ...compose, accountEmail: input.accountEmail });
		const source = await buildMessageSource(mail);
		const folder = await draftsFolder(input.session);
		const stored = await appendMessage(input.session, folder, source, DRAFT_FLAGS);
		const messageId = /^message-id:\s*(<[^>\r\n]+>)/im.exec(source.subarray(0, source.indexOf('\r\n\r\n')).toString('utf8'))?.[1];
		return [{ json: { ...stored, ...(messageId ? { messageId } : {}) } }];
	},
};

/** The item's SMTP parameters, as the SMTP node reads them; attachments from the item's binary data. */
async function readComposeInput({ context, itemIndex, item }: OperationInput): Promise<Omit<ComposeInput, 'accountEmail'>> {
	const parameter = (name: string, fallback: unknown) => context.getNodeParameter(name, itemIndex, fallback) as unknown;
	const emailFormat = parameter('emailFormat', 'html');
	const options = (parameter('options', {}) ?? {}) as IDataObject;
	const customHeaders = ((options.customHeaders as IDataObject | undefined)?.header ?? []) as CustomHeader[];
	const attachments = await collectAttachments(
		{ inline: options.attachments, files: options.fileAttachments },
		{
			item,
			assertBinaryData: (property) => context.helpers.assertBinaryData(itemIndex, property),
			getBinaryDataBuffer: async (property) => await context.helpers.getBinaryDataBuffer(itemIndex, property),
		},
	);
	const instanceId = typeof context.getInstanceId === 'function' ? context.getInstanceId() : undefined;
	return {
		fromEmail: parameter('fromEmail', ''),
		senderName: options.senderName,
		toEmail: parameter('toEmail', ''),
		ccEmail: options.ccEmail,
		bccEmail: options.bccEmail,
		replyTo: options.replyTo,
		subject: parameter('subject', ''),
		emailFormat,
		text: emailFormat === 'text' || emailFormat === 'both' ? parameter('text', '') : undefined,
		html: emailFormat === 'html' || emailFormat === 'both' ? parameter('html', '') : undefined,
		appendAttribution: options.appendAttribution,
		attributionLink: attributionLink(NODE_TYPE, instanceId),
		replySource: options.replyToInputEmail === true ? readReplySource(item.json) : undefined,
		replyToAllAddresses: options.replyToAllAddresses,
		maxReplyRecipients: options.maxReplyRecipients,
		inReplyTo: options.inReplyTo,
		references: options.references,
		messageId: options.messageId,
		priority: options.priority,
		customHeaders,
		attachments,
	};
}
