import type { INodeProperties } from 'n8n-workflow';

import { authenticationProperty, MAX_MESSAGE_MB_LIMIT, maxMessageSizeOption, messageFormatProperties } from '../mail/descriptions';
import { TRIGGER_NUMBER_RANGES } from './config';

/**
 * Parameters of the Gmail IMAP Trigger. `mailbox`, `postProcessAction`, `format`, `downloadAttachments`,
 * `dataPropertyAttachmentsPrefixName` and `options.customEmailConfig` keep the names, values and meaning of n8n's
 * Email Trigger (IMAP) v2.2, so a workflow can switch nodes without rewiring its expressions.
 */
export const triggerProperties: INodeProperties[] = [
	authenticationProperty(),
	{
		displayName: 'Mailbox Name',
		name: 'mailbox',
		type: 'string',
		default: 'INBOX',
		description:
			'The folder (Gmail: label) to watch, e.g. INBOX or "[Gmail]/All Mail". New mail here is noticed within about a second (IMAP IDLE).',
	},
	{
		displayName: 'Action',
		name: 'postProcessAction',
		type: 'options',
		options: [
			{
				name: 'Mark as Read',
				value: 'read',
				description: 'Mark the message as read once the workflow run it started has succeeded',
			},
			{
				name: 'Nothing',
				value: 'nothing',
				description: 'Leave the message as it is',
			},
		],
		default: 'read',
		description:
			'What to do with a message after its workflow run succeeded. A failed run leaves the message untouched.',
	},
	// format, downloadAttachments, dataPropertyAttachmentsPrefixName: shared with the POP node.
	...messageFormatProperties(),
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Add Gmail Labels After Run',
				name: 'addLabels',
				type: 'string',
				default: '',
				placeholder: 'e.g. Processed, Invoices/2024',
				description: 'Comma-separated Gmail labels to add once the run succeeded (Gmail only)',
			},
			{
				displayName: 'Additional Folders',
				name: 'additionalFolders',
				type: 'string',
				typeOptions: { multipleValues: true },
				default: [],
				placeholder: 'e.g. Support',
				description:
					'More folders (Gmail: labels) to watch over the same connection. They are checked every poll interval and whenever the main mailbox changes.',
			},
			{
				displayName: 'Custom Email Rules',
				name: 'customEmailConfig',
				type: 'string',
				default: '["UNSEEN"]',
				description:
					'IMAP search criteria as a JSON array, as in n8n\'s Email Trigger, e.g. ["UNSEEN", ["FROM", "billing@example.com"]]. Only new messages matching every criterion start a run. Without this option every new message does, read or not.',
			},
			{
				displayName: 'Delete After Run',
				name: 'deleteAfter',
				type: 'boolean',
				default: false,
				description:
					'Whether to delete the message once the run succeeded. On Gmail this only removes it from the watched label; move it to "[Gmail]/Trash" to trash it.',
			},
			{
				displayName: 'Gmail Search',
				name: 'gmailSearch',
				type: 'string',
				default: '',
				placeholder: 'e.g. from:billing@example.com has:attachment',
				description: 'Gmail search syntax (X-GM-RAW); only new messages matching it start a run (Gmail only)',
			},
			{
				displayName: 'Max Attachment Size (MB)',
				name: 'maxAttachmentSizeMb',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: MAX_MESSAGE_MB_LIMIT },
				default: 0,
				description:
					'Attachments larger than this are not output as binary data (they stay listed in attachmentInfo). 0 means no limit.',
			},
			maxMessageSizeOption(),
			{
				displayName: 'Move to Folder After Run',
				name: 'moveToFolder',
				type: 'string',
				default: '',
				placeholder: 'e.g. Processed',
				description: 'Folder (Gmail: label) to move the message to once the run succeeded',
			},
			{
				displayName: 'Output',
				name: 'outputMode',
				type: 'options',
				options: [
					{
						name: 'Automatic',
						value: 'adaptive',
						description:
							'One run per message while mail trickles in; messages found waiting together (a burst, after downtime) start one run per batch. The default from node version 2.',
					},
					{
						name: 'One Run per Message',
						value: 'perMessage',
						description: 'Each message starts its own workflow run: a failure touches only that message. The default of node version 1.',
					},
					{
						name: 'Batches',
						value: 'batch',
						description: 'Messages found together (e.g. after downtime) start one run per batch',
					},
				],
				default: 'adaptive',
			},
			{
				displayName: 'Batch Size',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: TRIGGER_NUMBER_RANGES.batchSize.max },
				default: 50,
				description: 'Most messages in one run (Output: Automatic or Batches)',
			},
			{
				displayName: 'Poll Interval (Seconds)',
				name: 'pollIntervalSeconds',
				type: 'number',
				typeOptions: { minValue: 5, maxValue: TRIGGER_NUMBER_RANGES.pollIntervalSeconds.max },
				default: 60,
				description:
					'How often every folder is checked even without a push notification. Additional folders rely on this.',
			},
			{
				displayName: 'Remove Gmail Labels After Run',
				name: 'removeLabels',
				type: 'string',
				default: '',
				placeholder: 'e.g. \\Inbox, ToDo',
				description: 'Comma-separated Gmail labels to remove once the run succeeded; \\Inbox archives the message (Gmail only)',
			},
			{
				displayName: 'Start With',
				name: 'startFrom',
				type: 'options',
				options: [
					{
						name: 'New Mail Only',
						value: 'new',
						description: 'Only mail that arrives after the workflow is first activated',
					},
					{
						name: 'Unread Mail Too',
						value: 'unread',
						description: 'Also the unread mail already in the folder at first activation',
					},
					{
						name: 'Mail Since a Date',
						value: 'since',
						description: 'Also the mail received since a date, at first activation',
					},
				],
				default: 'new',
				description: 'Where to begin when the workflow is activated for the first time. Later activations continue where the last one stopped.',
			},
			{
				displayName: 'Since',
				name: 'since',
				type: 'dateTime',
				default: '',
				displayOptions: { show: { startFrom: ['since'] } },
				description: 'Mail received (server time) at or after this moment is included at first activation',
			},
		],
	},
];
