/**
 * Parameters of the Gmail IMAP node: credential choice, resource, operation, then each operation's own (defined in
 * its file under actions/). Names follow the trigger (`mailbox`, `format`, `customEmailConfig`, `gmailSearch`, ...)
 * and n8n's own nodes (`returnAll`, `limit`, `binaryPropertyName`).
 */
import type { INodeProperties } from 'n8n-workflow';

import { authenticationProperty } from '../mail/descriptions';
import { OPERATIONS } from './actions';

const folderOperations: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	displayOptions: { show: { resource: ['folder'] } },
	options: [
		{ name: 'Create', value: 'create', action: 'Create a folder', description: 'Create a folder (Gmail: label)' },
		{ name: 'Delete', value: 'delete', action: 'Delete a folder', description: 'Delete a folder (Gmail: label)' },
		{ name: 'Get Many', value: 'getMany', action: 'Get many folders', description: 'List every folder with its flags and special use' },
		{ name: 'Get Status', value: 'getStatus', action: 'Get the status of a folder', description: 'Messages, unseen, UIDNEXT and UIDVALIDITY of a folder' },
		{ name: 'Rename', value: 'rename', action: 'Rename a folder', description: 'Rename or move a folder' },
	],
	default: 'getMany',
};

const messageOperations: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	displayOptions: { show: { resource: ['message'] } },
	options: [
		{ name: 'Add Gmail Labels', value: 'addLabels', action: 'Add Gmail labels to a message', description: 'Add labels to a message (Gmail only)' },
		{ name: 'Append', value: 'append', action: 'Append a message', description: 'Store an .eml file in a folder, with flags and a date' },
		{ name: 'Copy', value: 'copy', action: 'Copy a message', description: 'Copy a message to another folder' },
		{ name: 'Create Draft', value: 'createDraft', action: 'Create a draft', description: 'Store a new message in the Drafts folder' },
		{ name: 'Delete', value: 'delete', action: 'Delete a message', description: 'Move a message to Trash, or delete it permanently' },
		{ name: 'Flag', value: 'flag', action: 'Flag a message', description: 'Add flags (default \\Flagged, Gmail: starred) to a message' },
		{ name: 'Get', value: 'get', action: 'Get a message', description: 'Get a message by UID or Message-ID' },
		{ name: 'Mark as Read', value: 'markAsRead', action: 'Mark a message as read', description: 'Add the \\Seen flag' },
		{ name: 'Mark as Unread', value: 'markAsUnread', action: 'Mark a message as unread', description: 'Remove the \\Seen flag' },
		{ name: 'Move', value: 'move', action: 'Move a message', description: 'Move a message to another folder' },
		{ name: 'Remove Gmail Labels', value: 'removeLabels', action: 'Remove Gmail labels from a message', description: 'Remove labels from a message (Gmail only); \\Inbox archives it' },
		{ name: 'Search', value: 'search', action: 'Search messages', description: 'Find messages in a folder by criteria or Gmail search' },
		{ name: 'Unflag', value: 'unflag', action: 'Unflag a message', description: 'Remove flags (default \\Flagged) from a message' },
	],
	default: 'search',
};

export const imapProperties: INodeProperties[] = [
	authenticationProperty(),
	{
		displayName: 'Resource',
		name: 'resource',
		type: 'options',
		noDataExpression: true,
		options: [
			{ name: 'Folder', value: 'folder', description: 'Folders (Gmail: labels)' },
			{ name: 'Message', value: 'message' },
		],
		default: 'message',
	},
	folderOperations,
	messageOperations,
	...Object.values(OPERATIONS).flatMap((operations) => Object.values(operations).flatMap((operation) => operation.description)),
];
