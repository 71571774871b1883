/**
 * Parameters several operations share: the message an operation acts on (a UID, taken from the input item when left
 * empty, or a Message-ID), the folder, and comma-separated lists. Items from the Gmail IMAP Trigger, Search and Get
 * carry `attributes.uid`, `attributes.mailbox` and `attributes.uidValidity`, so they work without mapping.
 */
import type { IDataObject, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { ImapActionError } from '../../mail/imap/actions/errors';
import { type MessageTarget, parseUid } from '../../mail/imap/actions/locate';
import type { SelectedFolder } from '../../mail/imap/actions/session';
import { sameMailbox, splitList } from '../../mail/imap/postActions';
import type { OperationInput } from './types';

export type Resource = 'folder' | 'message';

/** displayOptions showing a parameter for these operations of a resource. */
export function showFor(resource: Resource, operations: string[]): INodeProperties['displayOptions'] {
	return { show: { resource: [resource], operation: operations } };
}

/** Which message: `identifyBy`, `uid`, `mailbox`, `messageId`, for the given message operations. */
export function messageTargetProperties(operations: string[]): INodeProperties[] {
	const displayOptions = showFor('message', operations);
	return [
		{
			displayName: 'Identify Message By',
			name: 'identifyBy',
			type: 'options',
			options: [
				{ name: 'UID', value: 'uid', description: 'The UID in a folder; empty = the input item’s (attributes.uid)' },
				{ name: 'Message-ID', value: 'messageId', description: 'The Message-ID header, searched in the folder' },
			],
			default: 'uid',
			displayOptions,
		},
		{
			displayName: 'UID',
			name: 'uid',
			type: 'string',
			default: '',
			placeholder: 'e.g. 4711',
			description:
				'The message’s UID. Leave empty to use the input item’s attributes.uid, mailbox and uidValidity (items from the Gmail IMAP Trigger, Search and Get).',
			displayOptions: { show: { ...displayOptions?.show, identifyBy: ['uid'] } },
		},
		{
			displayName: 'Message-ID',
			name: 'messageId',
			type: 'string',
			default: '',
			placeholder: 'e.g. <CAF=abc123@mail.gmail.com>',
			description: 'The Message-ID header of the message',
			displayOptions: { show: { ...displayOptions?.show, identifyBy: ['messageId'] } },
		},
		{
			displayName: 'Folder',
			name: 'mailbox',
			type: 'string',
			default: '',
			placeholder: 'e.g. INBOX',
			description:
				'The folder (Gmail: label) holding the message. Leave empty to use the input item’s attributes.mailbox, else INBOX.',
			displayOptions,
		},
	];
}

function itemAttributes(item: INodeExecutionData): IDataObject {
	const attributes = item.json?.attributes;
	return attributes && typeof attributes === 'object' && !Array.isArray(attributes) ? (attributes as IDataObject) : {};
}

function text(value: unknown): string {
	return value === undefined || value === null ? '' : String(value).trim();
}

/**
 * The message this item names. A UID taken from the item (or equal to the item's) carries the item's UIDVALIDITY,
 * so a folder recreated since is noticed before anything is changed.
 */
export function readMessageTarget({ context, itemIndex, item }: OperationInput): MessageTarget {
	const identifyBy = context.getNodeParameter('identifyBy', itemIndex, 'uid') as string;
	const folderParameter = text(context.getNodeParameter('mailbox', itemIndex, ''));
	const attributes = itemAttributes(item);
	const itemFolder = text(attributes.mailbox);
	const itemUidValidity = text(attributes.uidValidity) || undefined;
	if (identifyBy === 'messageId') {
		const messageId = text(context.getNodeParameter('messageId', itemIndex, ''));
		if (!messageId) throw new ImapActionError('Enter the Message-ID', 'For example <CAF=abc123@mail.gmail.com>, as in the message’s Message-ID header.');
		return { folder: folderParameter || itemFolder || 'INBOX', messageId };
	}
	const uidParameter = text(context.getNodeParameter('uid', itemIndex, ''));
	if (uidParameter) {
		const uid = parseUid(uidParameter);
		const folder = folderParameter || itemFolder || 'INBOX';
		// The item's UIDVALIDITY belongs to its own UID in its own folder only.
		const sameAsItem = text(attributes.uid) === String(uid) && itemFolder !== '' && sameMailbox(itemFolder, folder);
		return { folder, uid, uidValidity: sameAsItem ? itemUidValidity : undefined, source: 'parameter' };
	}
	if (attributes.uid === undefined || attributes.uid === null || attributes.uid === '') {
		throw new ImapActionError(
			'Enter the UID of the message, or give the node an item with attributes.uid',
			'Items from the Gmail IMAP Trigger, Search and Get carry attributes.uid, attributes.mailbox and attributes.uidValidity; with such an item, leave UID and Folder empty.',
		);
	}
	const uid = parseUid(attributes.uid, 'attributes.uid');
	if (!itemFolder) {
		throw new ImapActionError('The input item has attributes.uid but no attributes.mailbox', 'Enter the Folder that holds the message.');
	}
	if (folderParameter && !sameMailbox(folderParameter, itemFolder)) {
		throw new ImapActionError(
			`The input item’s message is in "${itemFolder}", not in "${folderParameter}"`,
			'Leave Folder empty to use the item’s folder, or enter the UID too.',
		);
	}
	return { folder: itemFolder, uid, uidValidity: itemUidValidity, source: 'item' };
}

/** A comma-separated list parameter (flags, labels). */
export function readList(input: OperationInput, name: string, fallback = ''): string[] {
	return splitList(input.context.getNodeParameter(name, input.itemIndex, fallback));
}

/** A required, non-empty string parameter. */
export function readRequired(input: OperationInput, name: string, label: string, hint: string): string {
	const value = text(input.context.getNodeParameter(name, input.itemIndex, ''));
	if (!value) throw new ImapActionError(`Enter the "${label}"`, hint);
	return value;
}

/**
 * The output item of an operation that changed messages: where they were, and what it did. For one message it also
 * carries `attributes` (uid, mailbox, uidValidity) like the trigger's items, so the next Gmail IMAP node finds the
 * message without mapping; `extra.attributes` replaces them (a moved message: its new place), `null` drops them.
 */
export function changedItem(folder: SelectedFolder | { path: string; uidValidity?: string }, uids: number[], extra: IDataObject): INodeExecutionData {
	const json: IDataObject = {
		mailbox: folder.path,
		...(uids.length === 1 ? { uid: uids[0] } : {}),
		uids,
		...(folder.uidValidity ? { uidValidity: folder.uidValidity } : {}),
		...(uids.length === 1 && folder.uidValidity ? { attributes: { uid: uids[0], mailbox: folder.path, uidValidity: folder.uidValidity } } : {}),
		...extra,
	};
	if (json.attributes === null) delete json.attributes;
	return { json };
}
