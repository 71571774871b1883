/** Folder → Rename (moves the folder and everything in it to the new path). */
import type { INodeExecutionData } from 'n8n-workflow';

import { renameFolder } from '../../../mail/imap/actions/folders';
import { readRequired, showFor } from '../common';
import type { Operation, OperationInput } from '../types';
import { folderPathProperty } from './fields';

export const rename: Operation = {
	description: [
		folderPathProperty(['rename'], 'The folder (Gmail: label) to rename'),
		{
			displayName: 'New Name',
			name: 'newName',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'e.g. Archive/Invoices',
			description: 'The new path of the folder',
			displayOptions: showFor('folder', ['rename']),
		},
	],
	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const path = readRequired(input, 'mailbox', 'Folder', 'The folder to rename.');
		const newName = readRequired(input, 'newName', 'New Name', 'For example Archive/Invoices.');
		return [{ json: { ...(await renameFolder(input.session, path, newName)) } }];
	},
};
