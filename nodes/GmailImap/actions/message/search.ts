/**
 * Message → Search: the trigger's Custom Email Rules and Gmail Search (X-GM-RAW, Gmail only), received after/before,
 * newest first, up to a limit; one item per message.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { ImapActionError } from '../../../mail/imap/actions/errors';
import { headersItem, messageItem, searchMessages } from '../../../mail/imap/actions/read';
import { parseCustomCriteria } from '../../../mail/imap/search';
import { boundedNumber } from '../../../mail/parameters';
import { showFor } from '../common';
import type { Operation, OperationInput } from '../types';
import { outputProperties, readOutputChoice, sizeOptions } from './output';

export const SEARCH_LIMIT_RANGE = { label: 'Limit', min: 1, max: 10_000, fallback: 50, integer: true };

const show = showFor('message', ['search']);

export const search: Operation = {
	description: [
		{
			displayName: 'Folder',
			name: 'mailbox',
			type: 'string',
			default: 'INBOX',
			description: 'The folder (Gmail: label) to search, e.g. INBOX or "[Gmail]/All Mail"',
			displayOptions: show,
		},
		{
			displayName: 'Return All',
			name: 'returnAll',
			type: 'boolean',
			default: false,
			description: 'Whether to return all results or only up to a given limit',
			displayOptions: show,
		},
		{
			displayName: 'Limit',
			name: 'limit',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: SEARCH_LIMIT_RANGE.max },
			default: 50,
			description: 'Max number of results to return',
			displayOptions: { show: { ...show?.show, returnAll: [false] } },
		},
		{
			displayName: 'Filters',
			name: 'filters',
			type: 'collection',
			placeholder: 'Add filter',
			default: {},
			displayOptions: show,
			options: [
				{
					displayName: 'Custom Email Rules',
					name: 'customEmailConfig',
					type: 'string',
					default: '["UNSEEN"]',
					description:
						'IMAP search criteria as a JSON array, as in the Gmail IMAP Trigger and n8n\'s Email Trigger, e.g. ["UNSEEN", ["FROM", "billing@example.com"]]. Every criterion must match.',
				},
				{
					displayName: 'Gmail Search',
					name: 'gmailSearch',
					type: 'string',
					default: '',
					placeholder: 'e.g. from:billing@example.com has:attachment',
					description: 'Gmail search syntax (X-GM-RAW); Gmail only',
				},
				{
					displayName: 'Received After',
					name: 'receivedAfter',
					type: 'dateTime',
					default: '',
					description: 'Messages received (server time) at or after this moment',
				},
				{
					displayName: 'Received Before',
					name: 'receivedBefore',
					type: 'dateTime',
					default: '',
					description: 'Messages received (server time) before this moment',
				},
			],
		},
		...outputProperties(['search']),
		{
			displayName: 'Options',
			name: 'options',
			type: 'collection',
			placeholder: 'Add option',
			default: {},
			displayOptions: show,
			options: [
				{
					displayName: 'Newest First',
					name: 'newestFirst',
					type: 'boolean',
					default: true,
					description: 'Whether the newest messages (highest UID) come first; off: oldest first',
				},
				...sizeOptions(),
			],
		},
	],

	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const { context, itemIndex, session } = input;
		const parameter = (name: string, fallback: unknown) => context.getNodeParameter(name, itemIndex, fallback);
		const folderPath = String(parameter('mailbox', 'INBOX') ?? '').trim() || 'INBOX';
		const returnAll = parameter('returnAll', false) === true;
		const limit = returnAll ? undefined : boundedNumber(parameter('limit', 50), SEARCH_LIMIT_RANGE);
		const filters = (parameter('filters', {}) ?? {}) as IDataObject;
		const options = (parameter('options', {}) ?? {}) as IDataObject;
		const output = readOutputChoice(input);
		const request = {
			criteria: parseCustomCriteria(filters.customEmailConfig),
			gmailSearch: typeof filters.gmailSearch === 'string' ? filters.gmailSearch : undefined,
			since: readDate(filters.receivedAfter, 'Received After'),
			before: readDate(filters.receivedBefore, 'Received Before'),
			limit,
			newestFirst: options.newestFirst !== false,
		};
		const gmail = await session.isGmail();
		return await session.inFolder(folderPath, async (client, folder) => {
			const found = await searchMessages(client, folder, request, gmail);
			const items: INodeExecutionData[] = [];
			for (const message of found) {
				items.push(
					output.headersOnly ? headersItem(folder, message) : await messageItem(client, folder, message, output.settings, output.maxMessageBytes),
				);
			}
			return items;
		});
	},
};

function readDate(value: unknown, label: string): Date | undefined {
	if (value === undefined || value === null || value === '') return undefined;
	const date = new Date(value as string);
	if (Number.isNaN(date.getTime())) throw new ImapActionError(`"${label}" must be a date, got "${String(value)}"`, 'For example 2024-01-31T00:00:00Z.');
	return date;
}
