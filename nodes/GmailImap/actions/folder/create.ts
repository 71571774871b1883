/** Folder → Create (Gmail: a new label). Levels are separated by the server's delimiter, "/" on Gmail. */
import type { INodeExecutionData } from 'n8n-workflow';

import { createFolder } from '../../../mail/imap/actions/folders';
import { readRequired } from '../common';
import type { Operation, OperationInput } from '../types';
import { folderPathProperty } from './fields';

export const create: Operation = {
	description: [folderPathProperty(['create'], 'The path of the new folder (Gmail: label), e.g. Invoices/2024. Existing folders are left as they are.')],
	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const path = readRequired(input, 'mailbox', 'Folder', 'For example Invoices/2024.');
		return [{ json: { ...(await createFolder(input.session, path)) } }];
	},
};
