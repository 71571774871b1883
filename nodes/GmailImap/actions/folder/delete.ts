/** Folder → Delete. The server deletes the messages only it holds (Gmail: removes the label, the mail stays in All Mail). */
import type { INodeExecutionData } from 'n8n-workflow';

import { deleteFolder } from '../../../mail/imap/actions/folders';
import { readRequired } from '../common';
import type { Operation, OperationInput } from '../types';
import { folderPathProperty } from './fields';

export const deleteFolderOperation: Operation = {
	description: [
		folderPathProperty(
			['delete'],
			'The folder to delete, with the messages in it. On Gmail this deletes the label; the messages stay in "[Gmail]/All Mail".',
		),
	],
	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const path = readRequired(input, 'mailbox', 'Folder', 'The folder to delete.');
		return [{ json: { ...(await deleteFolder(input.session, path)) } }];
	},
};
