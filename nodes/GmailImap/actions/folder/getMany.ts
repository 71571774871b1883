/** Folder → Get Many: every folder (Gmail: label) with its flags, special use and delimiter. */
import type { INodeExecutionData } from 'n8n-workflow';

import { listFolders } from '../../../mail/imap/actions/folders';
import type { Operation, OperationInput } from '../types';

export const getMany: Operation = {
	description: [],
	async execute({ session }: OperationInput): Promise<INodeExecutionData[]> {
		const folders = await listFolders(session);
		return folders.map((folder) => ({ json: { ...folder } }));
	},
};
