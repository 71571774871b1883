import type { INodeProperties } from 'n8n-workflow';

import { GOOGLE_MAIL_CREDENTIAL_TYPE } from '../mail/connection';
import { authenticationProperty } from '../mail/descriptions';

/**
 * Parameters of the Gmail SMTP node. `fromEmail`, `toEmail`, `subject`, `emailFormat`, `text`, `html` and the
 * options `ccEmail`, `bccEmail`, `replyTo`, `attachments`, `fileAttachments` and `appendAttribution` keep the names,
 * values and defaults of n8n's Send Email v2.1, so a workflow can switch nodes without rewiring its expressions.
 */
export const sendProperties: INodeProperties[] = [
	authenticationProperty(),
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		options: [{ name: 'Send', value: 'send', action: 'Send an email', description: 'Send an email over SMTP' }],
		default: 'send',
	},
	{
		displayName: 'Gmail Connection',
		name: 'gmailPort',
		type: 'options',
		options: [
			{ name: 'Port 465 (SSL/TLS)', value: 465, description: 'TLS from the first byte (Gmail’s recommendation)' },
			{ name: 'Port 587 (STARTTLS)', value: 587, description: 'Plain connection upgraded with STARTTLS before login' },
		],
		default: 465,
		displayOptions: { show: { authentication: [GOOGLE_MAIL_CREDENTIAL_TYPE] } },
		description:
			'How to reach smtp.gmail.com. Use 587 where outgoing port 465 is blocked. (The other credential type takes host and port from the credential.)',
	},
	{
		displayName: 'From Email',
		name: 'fromEmail',
		type: 'string',
		default: '',
		placeholder: 'e.g. Nathan Doe <nate@example.com>',
		description:
			'Sender address; leave empty to send as the account of the credential. Gmail only accepts the account itself or one of its verified "Send mail as" addresses (others are replaced by the account).',
	},
	{
		displayName: 'To Email',
		name: 'toEmail',
		type: 'string',
		default: '',
		placeholder: 'e.g. info@example.com, Nathan Doe <nate@example.com>',
		description:
			'Recipients, comma-separated. You can also specify a name: Nathan Doe &lt;nate@example.com&gt;. May be empty when "Reply to the Input Email" is on: the reply then goes to the first Reply-To (else From) address of the input email.',
	},
	{
		displayName: 'Subject',
		name: 'subject',
		type: 'string',
		default: '',
		placeholder: 'e.g. My subject line',
		description: 'Subject line of the email. When replying to the input email and left empty: "Re: " and the original subject.',
	},
	{
		displayName: 'Email Format',
		name: 'emailFormat',
		type: 'options',
		options: [
			{ name: 'Text', value: 'text', description: 'Send email as plain text' },
			{ name: 'HTML', value: 'html', description: 'Send email as HTML' },
			{ name: 'Both', value: 'both', description: "Send both formats, recipient's client selects version to display" },
		],
		default: 'html',
	},
	{
		displayName: 'Text',
		name: 'text',
		type: 'string',
		typeOptions: { rows: 5 },
		default: '',
		description: 'Plain text message of email',
		displayOptions: { show: { emailFormat: ['text', 'both'] } },
	},
	{
		displayName: 'HTML',
		name: 'html',
		type: 'string',
		typeOptions: { rows: 5 },
		default: '',
		description: 'HTML text message of email',
		displayOptions: { show: { emailFormat: ['html', 'both'] } },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Append N8n Attribution',
				name: 'appendAttribution',
				type: 'boolean',
				default: true,
				description:
					'Whether to include the phrase “This email was sent automatically with n8n” to the end of the email (on unless switched off, as in n8n’s Send Email)',
			},
			{
				displayName: 'Attachments',
				name: 'attachments',
				type: 'string',
				default: '',
				placeholder: 'e.g. data, invoice',
				description:
					'Names of the binary properties to attach, comma-separated. Each can also be shown inside the HTML by its property name, e.g. &lt;img src="cid:image_1"&gt;. Only binary data of the input item is attached, never files or URLs. Up to 25 MB in total (Gmail’s limit).',
			},
			{
				displayName: 'BCC Email',
				name: 'bccEmail',
				type: 'string',
				default: '',
				placeholder: 'e.g. bcc@example.com',
				description: 'Hidden recipients, comma-separated: they get the email without appearing in its headers',
			},
			{
				displayName: 'CC Email',
				name: 'ccEmail',
				type: 'string',
				default: '',
				placeholder: 'e.g. cc@example.com',
				description: 'Copy recipients, comma-separated',
			},
			{
				displayName: 'Custom Headers',
				name: 'customHeaders',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true },
				default: {},
				placeholder: 'Add header',
				options: [
					{
						displayName: 'Header',
						name: 'header',
						values: [
							{
								displayName: 'Name',
								name: 'name',
								type: 'string',
								default: '',
								placeholder: 'e.g. X-Campaign',
							},
							{
								displayName: 'Value',
								name: 'value',
								type: 'string',
								default: '',
							},
						],
					},
				],
				description:
					'Extra headers. Headers the node sets itself (From, To, Subject, Message-ID, Content-Type, ...) are refused: use their own fields.',
			},
			{
				displayName: 'File Attachments',
				name: 'fileAttachments',
				type: 'string',
				default: '',
				placeholder: 'e.g. report',
				description:
					'Names of binary properties to attach as plain files (never embedded in the body), comma-separated. Counts towards the 25 MB.',
			},
			{
				displayName: 'In-Reply-To',
				name: 'inReplyTo',
				type: 'string',
				default: '',
				placeholder: 'e.g. <CAF1234@mail.gmail.com>',
				description: 'Message-ID of the email this one answers (threads the reply in Gmail and other clients)',
			},
			{
				displayName: 'Max Reply Recipients',
				name: 'maxReplyRecipients',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 20, numberPrecision: 0 },
				default: 10,
				description:
					'With "Reply to All Reply-To Addresses" on: the most addresses a reply may go to (1–20). An input email listing more is not answered: its item fails with an error saying so.',
			},
			{
				displayName: 'Message-ID',
				name: 'messageId',
				type: 'string',
				default: '',
				placeholder: 'e.g. <order-1234@example.com>',
				description: 'Message-ID for this email; leave empty to have one generated. Must be unique.',
			},
			{
				displayName: 'Priority',
				name: 'priority',
				type: 'options',
				options: [
					{ name: 'High', value: 'high' },
					{ name: 'Normal', value: 'normal' },
					{ name: 'Low', value: 'low' },
				],
				default: 'normal',
				description: 'Importance shown by mail clients (X-Priority and Importance headers)',
			},
			{
				displayName: 'References',
				name: 'references',
				type: 'string',
				default: '',
				placeholder: 'e.g. <CAF1234@mail.gmail.com> <CAF5678@mail.gmail.com>',
				description: 'Message-IDs of the earlier emails of the thread, oldest first, separated by spaces',
			},
			{
				displayName: 'Reply to All Reply-To Addresses',
				name: 'replyToAllAddresses',
				type: 'boolean',
				default: false,
				description:
					'Whether a reply to the input email goes to every address of its Reply-To (or, without one, its From) instead of only the first. Up to "Max Reply Recipients"; only used when "Reply to the Input Email" is on and To Email is empty.',
			},
			{
				displayName: 'Reply to the Input Email',
				name: 'replyToInputEmail',
				type: 'boolean',
				default: false,
				description:
					'Whether to send this email as a reply to the email in the input item (from the Gmail IMAP Trigger, the Gmail POP3 node or n8n’s Email Trigger, any format): In-Reply-To and References are taken from it, and an empty To Email or Subject becomes "Re: <subject>" and ONE recipient: the first Reply-To address, else the first From address (see "Reply to All Reply-To Addresses")',
			},
			{
				displayName: 'Reply To',
				name: 'replyTo',
				type: 'string',
				default: '',
				placeholder: 'e.g. info@example.com',
				description: 'The email address to send the reply to',
			},
			{
				displayName: 'Sender Name',
				name: 'senderName',
				type: 'string',
				default: '',
				placeholder: 'e.g. Nathan Doe',
				description: 'Display name of the sender, shown next to the From address',
			},
		],
	},
];
