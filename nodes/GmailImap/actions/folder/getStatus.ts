/** Folder → Get Status: messages, unseen, UIDNEXT, UIDVALIDITY (IMAP STATUS, without selecting the folder). */
import type { INodeExecutionData } from 'n8n-workflow';

import { folderStatus } from '../../../mail/imap/actions/folders';
import { readRequired } from '../common';
import type { Operation, OperationInput } from '../types';
import { folderPathProperty } from './fields';

export const getStatus: Operation = {
	description: [folderPathProperty(['getStatus'], 'The folder (Gmail: label), e.g. INBOX or "[Gmail]/All Mail"')],
	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const path = readRequired(input, 'mailbox', 'Folder', 'For example INBOX.');
		return [{ json: { ...(await folderStatus(input.session, path)) } }];
	},
};
