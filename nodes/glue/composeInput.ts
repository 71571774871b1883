/**
 * The SMTP node's message parameters of one item, read from n8n (attachments from the item's binary data): for the
 * Gmail SMTP node's Send and the Gmail IMAP node's Create Draft, which show the same fields.
 */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { collectAttachments } from '../mail/smtp/attachments';
import type { ComposeInput, CustomHeader } from '../mail/smtp/message';
import { attributionLink } from '../mail/smtp/message';
import { readReplySource } from '../mail/smtp/reply';

/** The "sent with n8n" link of a node type, with this n8n's instance id where n8n gives it. */
export function attributionLinkOf(context: Pick<IExecuteFunctions, 'getInstanceId'>, nodeType: string): string {
	return attributionLink(nodeType, typeof context.getInstanceId === 'function' ? context.getInstanceId() : undefined);
}

/** The parameters of one item; `link` is the node's attributionLinkOf(). */
export async function readComposeInput(
	context: IExecuteFunctions,
	itemIndex: number,
	item: INodeExecutionData,
	link: string,
): Promise<Omit<ComposeInput, 'accountEmail'>> {
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
		attributionLink: link,
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
