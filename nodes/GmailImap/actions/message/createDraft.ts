/**
 * Message → Create Draft: the SMTP node's message (same fields, attachments from binary data, reply threading to the
 * input message) stored with APPEND into the folder the server marks as Drafts, flagged \Draft and \Seen. Unlike a
 * sent message, a draft may have no recipient yet (To, CC and BCC all empty): it is stored without them.
 */
import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { sendProperties } from '../../../GmailSmtp/description';
import { appendMessage, buildMessageSource, draftsFolder } from '../../../mail/imap/actions/append';
import { attributionLinkOf, readComposeInput } from '../../../glue';
import { composeMessage } from '../../../mail/smtp/message';
import { NODE_TYPE } from '../../constants';
import { showFor } from '../common';
import type { Operation, OperationInput } from '../types';

/** Parameters the SMTP node has that a draft has no use for. */
const NOT_FOR_DRAFTS = new Set(['authentication', 'operation', 'gmailPort']);

/** What a draft's To Email says: unlike the SMTP node's, it may stay empty. */
const DRAFT_TO_DESCRIPTION =
	'Recipients, comma-separated. You can also specify a name: Nathan Doe &lt;nate@example.com&gt;. May be empty: the draft is stored without recipients (or, with "Reply to the Input Email" on, addressed to the first Reply-To, else From, address of the input email).';

/** The SMTP node's parameters (names, defaults, texts), shown for Create Draft. */
function draftProperties(): INodeProperties[] {
	const show = showFor('message', ['createDraft'])?.show;
	return sendProperties
		.filter((property) => !NOT_FOR_DRAFTS.has(property.name))
		.map((property) => ({
			...property,
			...(property.name === 'toEmail' ? { description: DRAFT_TO_DESCRIPTION } : {}),
			displayOptions: { show: { ...property.displayOptions?.show, ...show } },
		}));
}

export const DRAFT_FLAGS = ['\\Draft', '\\Seen'];

export const createDraft: Operation = {
	description: draftProperties(),
	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const { context, itemIndex, item } = input;
		const compose = await readComposeInput(context, itemIndex, item, attributionLinkOf(context, NODE_TYPE));
		// A draft may wait for its recipients; the SMTP node never sets this and keeps refusing such a message.
		const mail = composeMessage({ ...compose, accountEmail: input.accountEmail, allowNoRecipients: true });
		const source = await buildMessageSource(mail);
		const folder = await draftsFolder(input.session);
		const stored = await appendMessage(input.session, folder, source, DRAFT_FLAGS);
		const messageId = /^message-id:\s*(<[^>\r\n]+>)/im.exec(source.subarray(0, source.indexOf('\r\n\r\n')).toString('utf8'))?.[1];
		return [{ json: { ...stored, ...(messageId ? { messageId } : {}) } }];
	},
};
