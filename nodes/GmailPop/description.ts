import type { INodeProperties } from 'n8n-workflow';

import { GOOGLE_MAIL_CREDENTIAL_TYPE } from '../mail/connection';
import { authenticationProperty, MAX_MESSAGE_MB_LIMIT, maxMessageSizeOption, messageFormatProperties } from '../mail/descriptions';
import { MAX_LISTING_ENTRIES } from '../mail/pop3/client';
import { DEFAULT_SEEN_CAP, MAX_SEEN_CAP, MIN_SEEN_CAP } from '../mail/pop3/seenState';

/**
 * Parameters of the Gmail POP node. The message format properties are shared with the IMAP trigger (see
 * messageFormatProperties), shown here only for the operations that return messages.
 */
const messageOperations = ['getAll', 'get'];

export const popProperties: INodeProperties[] = [
	authenticationProperty(),
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Delete',
				value: 'delete',
				action: 'Delete a message',
				description: 'Delete one message, found by its UIDL',
			},
			{
				name: 'Get',
				value: 'get',
				action: 'Get a message',
				description: 'Download one message, found by its UIDL',
			},
			{
				name: 'Get Count',
				value: 'getCount',
				action: 'Count the messages',
				description: 'Number and total size of the messages in the POP mailbox (STAT)',
			},
			{
				name: 'Get Many',
				value: 'getAll',
				action: 'Get new messages',
				description: 'Download the messages this node has not returned before',
			},
		],
		default: 'getAll',
	},
	{
		displayName: 'UIDL',
		name: 'uidl',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'e.g. 000000017e3b0a54',
		displayOptions: { show: { operation: ['get', 'delete'] } },
		description: "The message's unique ID on the POP server, as output by Get Many in attributes.uidl",
	},
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: false,
		displayOptions: { show: { operation: ['getAll'] } },
		description:
			'Whether to return every new message or only up to a given limit. Gmail lists at most about 250 messages per session in normal mode either way.',
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: MAX_LISTING_ENTRIES },
		default: 50,
		displayOptions: { show: { operation: ['getAll'], returnAll: [false] } },
		description: 'Max number of results to return',
	},
	...messageFormatProperties({ operation: messageOperations }),
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Delete After Download',
				name: 'deleteAfterDownload',
				type: 'boolean',
				default: false,
				displayOptions: { show: { '/operation': ['getAll'] } },
				description:
					'Whether to delete each message from the server once its item was produced. The server applies deletions only when the session ends cleanly, so a failed run deletes nothing. Not done in manual test runs. On Gmail, what happens to downloaded mail is decided by the "When messages are accessed with POP" setting.',
			},
			{
				displayName: 'Gmail Recent Mode',
				name: 'gmailRecentMode',
				type: 'boolean',
				default: false,
				displayOptions: { show: { '/authentication': [GOOGLE_MAIL_CREDENTIAL_TYPE] } },
				description:
					'Whether to log in as "recent:" + the account address: Gmail then lists the last 30 days of mail, including mail already downloaded by other POP clients, instead of about 250 not-yet-downloaded messages. Not verified with OAuth2 logins by this package; check it with your account.',
			},
			{
				displayName: 'Max Attachment Size (MB)',
				name: 'maxAttachmentSizeMb',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: MAX_MESSAGE_MB_LIMIT },
				default: 0,
				displayOptions: { show: { '/operation': messageOperations } },
				description:
					'Attachments larger than this are not output as binary data (they stay listed in attachmentInfo). 0 means no limit.',
			},
			{
				...maxMessageSizeOption(),
				displayOptions: { show: { '/operation': messageOperations } },
				description:
					'Messages larger than this (by the size the server lists) are not downloaded: the node outputs an item with "error", "uidl" and "size" instead and goes on. Get Many counts such a message as handled and never deletes it; raise this and use Get with its UIDL to fetch it. Gmail accepts messages up to about 50 MB.',
			},
			{
				displayName: 'Remember Up To',
				name: 'maxRemembered',
				type: 'number',
				typeOptions: { minValue: MIN_SEEN_CAP, maxValue: MAX_SEEN_CAP },
				default: DEFAULT_SEEN_CAP,
				displayOptions: { show: { '/operation': ['getAll'] } },
				description:
					'How many message IDs (UIDLs) Get Many keeps to recognise messages it returned before. Only messages still on the server are kept; past this number the oldest are folded into a position marker.',
			},
		],
	},
];
