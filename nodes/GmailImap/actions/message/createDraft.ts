/**
 * Message → Create Draft: the SMTP node's message (same fields, attachments from binary data, reply threading to the
 * input message) stored with APPEND into the folder the server marks as Drafts, flagged \Draft and \Seen.
 */
import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { sendProperties } from '../../../GmailSmtp/description';
import { appendMessage, buildMessageSource, draftsFolder } from '../../../mail/imap/actions/append';
import { attributionLink, composeMessage } from '../../../mail/smtp/message';
import { readComposeInput } from '../../../GmailSmtp/execute';
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
		const { context, itemIndex, item } = input;
		const instanceId = typeof context.getInstanceId === 'function' ? context.getInstanceId() : undefined;
		const compose = await readComposeInput(context, itemIndex, item, attributionLink(NODE_TYPE, instanceId));
		const mail = composeMessage({ ...compose, accountEmail: input.accountEmail });
		const source = await buildMessageSource(mail);
		const folder = await draftsFolder(input.session);
		const stored = await appendMessage(input.session, folder, source, DRAFT_FLAGS);
		const messageId = /^message-id:\s*(<[^>\r\n]+>)/im.exec(source.subarray(0, source.indexOf('\r\n\r\n')).toString('utf8'))?.[1];
		return [{ json: { ...stored, ...(messageId ? { messageId } : {}) } }];
	},
};
