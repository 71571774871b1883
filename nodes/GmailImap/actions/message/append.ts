/** Message → Append: store an .eml from a binary property into a folder, with flags and an internal (received) date. */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { appendMessage } from '../../../mail/imap/actions/append';
import { ImapActionError } from '../../../mail/imap/actions/errors';
import { splitList } from '../../../mail/imap/postActions';
import { showFor } from '../common';
import type { Operation, OperationInput } from '../types';

const show = showFor('message', ['append']);

export const append: Operation = {
	description: [
		{
			displayName: 'Folder',
			name: 'mailbox',
			type: 'string',
			default: 'INBOX',
			description: 'The folder (Gmail: label) to store the message in',
			displayOptions: show,
		},
		{
			displayName: 'Input Binary Field',
			name: 'binaryPropertyName',
			type: 'string',
			default: 'data',
			required: true,
			hint: 'The name of the input binary field holding the .eml file (an RFC 822 message)',
			displayOptions: show,
		},
		{
			displayName: 'Options',
			name: 'options',
			type: 'collection',
			placeholder: 'Add option',
			default: {},
			displayOptions: show,
			options: [
				{
					displayName: 'Flags',
					name: 'flags',
					type: 'string',
					default: '',
					placeholder: 'e.g. \\Seen, $Imported',
					description: 'Comma-separated flags to store the message with',
				},
				{
					displayName: 'Internal Date',
					name: 'internalDate',
					type: 'dateTime',
					default: '',
					description: 'When the message counts as received (IMAP INTERNALDATE); empty: now',
				},
			],
		},
	],
	async execute({ context, itemIndex, session }: OperationInput): Promise<INodeExecutionData[]> {
		const folder = String(context.getNodeParameter('mailbox', itemIndex, 'INBOX') ?? '').trim() || 'INBOX';
		const property = String(context.getNodeParameter('binaryPropertyName', itemIndex, 'data') ?? '').trim();
		const options = (context.getNodeParameter('options', itemIndex, {}) ?? {}) as IDataObject;
		let internalDate: Date | undefined;
		if (options.internalDate !== undefined && options.internalDate !== '') {
			internalDate = new Date(options.internalDate as string);
			if (Number.isNaN(internalDate.getTime())) {
				throw new ImapActionError(`"Internal Date" must be a date, got "${String(options.internalDate)}"`, 'For example 2024-01-31T09:30:00Z.');
			}
		}
		context.helpers.assertBinaryData(itemIndex, property);
		const content = await context.helpers.getBinaryDataBuffer(itemIndex, property);
		return [{ json: { ...(await appendMessage(session, folder, content, splitList(options.flags), internalDate)) } }];
	},
};
