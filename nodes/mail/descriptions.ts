/**
 * UI properties that more than one node shows, defined once so the nodes cannot drift apart.
 */
import type { IDisplayOptions, INodeCredentialDescription, INodeProperties } from 'n8n-workflow';

import { GOOGLE_MAIL_CREDENTIAL_TYPE, MAIL_CREDENTIAL_TYPES, MAIL_SERVER_CREDENTIAL_TYPE, type MailCredentialType } from './connection';

const CREDENTIAL_CHOICE_NAMES: Readonly<Record<MailCredentialType, string>> = {
	[GOOGLE_MAIL_CREDENTIAL_TYPE]: 'Google Mail OAuth2',
	[MAIL_SERVER_CREDENTIAL_TYPE]: 'Other Mail Server (XOAUTH2)',
};

/**
 * The `authentication` parameter every node starts with: which credential type to use. Its values are the credential
 * type names, which the nodes read back with getNodeParameter('authentication') and pass to getCredentials.
 */
export function authenticationProperty(): INodeProperties {
	return {
		displayName: 'Authentication',
		name: 'authentication',
		type: 'options',
		options: MAIL_CREDENTIAL_TYPES.map((type) => ({ name: CREDENTIAL_CHOICE_NAMES[type], value: type })),
		default: GOOGLE_MAIL_CREDENTIAL_TYPE,
	};
}

/** The nodes' `credentials`: both types, each required and shown when the `authentication` parameter names it. */
export function mailCredentials(): INodeCredentialDescription[] {
	return MAIL_CREDENTIAL_TYPES.map((type) => ({
		name: type,
		required: true,
		displayOptions: { show: { authentication: [type] } },
	}));
}

/**
 * `format`, `downloadAttachments` and `dataPropertyAttachmentsPrefixName`, with the names, values and defaults of
 * n8n's Email Trigger (IMAP) v2.2, so items look the same whichever node fetched the message and a workflow can switch
 * nodes without rewiring its expressions.
 *
 * `show`: conditions the node adds to every one of them (the POP node shows them only for its message operations);
 * omitted, `format` is always shown. The prefix appears twice on purpose, as in n8n's node: once for `resolved`
 * (attachments always downloaded) and once for `simple` with Download Attachments on.
 */
export function messageFormatProperties(show?: IDisplayOptions['show']): INodeProperties[] {
	const when = (conditions: NonNullable<IDisplayOptions['show']>): { displayOptions: IDisplayOptions } => ({
		displayOptions: { show: { ...show, ...conditions } },
	});
	const prefixProperty: INodeProperties = {
		displayName: 'Property Prefix Name',
		name: 'dataPropertyAttachmentsPrefixName',
		type: 'string',
		default: 'attachment_',
		description: 'Prefix of the binary properties holding the attachments: attachment_0, attachment_1, ...',
	};
	return [
		{
			displayName: 'Format',
			name: 'format',
			type: 'options',
			options: [
				{
					name: 'RAW',
					value: 'raw',
					description: 'The message body as text in "raw", the header section in "rawHeaders"',
				},
				{
					name: 'Resolved',
					value: 'resolved',
					description: 'Parsed message with every header; attachments always as binary data',
				},
				{
					name: 'Simple',
					value: 'simple',
					description: 'Text and HTML body, main headers; attachments as binary data only when asked',
				},
			],
			default: 'simple',
			...(show ? when({}) : {}),
			description: 'The format of the message data the node outputs',
		},
		{
			displayName: 'Download Attachments',
			name: 'downloadAttachments',
			type: 'boolean',
			default: false,
			...when({ format: ['simple'] }),
			description: 'Whether attachments (and every other non-body MIME part) are output as binary data',
		},
		{ ...prefixProperty, ...when({ format: ['resolved'] }) },
		{ ...prefixProperty, ...when({ format: ['simple'], downloadAttachments: [true] }) },
	];
}

/** Messages above this size are not downloaded by default: Gmail accepts messages up to about 50 MB. */
export const DEFAULT_MAX_MESSAGE_MB = 50;
/** The largest value the user may set: beyond it one message could exhaust n8n's memory. */
export const MAX_MESSAGE_MB_LIMIT = 1024;

/**
 * Option `maxMessageSizeMb` (inside a node's Options collection): a message larger than this is not downloaded; the node
 * outputs its attributes and headers with an `error` instead, so one huge message cannot stall or exhaust n8n.
 */
export function maxMessageSizeOption(): INodeProperties {
	return {
		displayName: 'Max Message Size (MB)',
		name: 'maxMessageSizeMb',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: MAX_MESSAGE_MB_LIMIT },
		default: DEFAULT_MAX_MESSAGE_MB,
		description:
			'Larger messages are not downloaded: the node outputs their attributes and headers with an "error" field instead. Gmail accepts messages up to about 50 MB.',
	};
}
