/** The folder parameters of the Folder operations. */
import type { INodeProperties } from 'n8n-workflow';

import { showFor } from '../common';

export function folderPathProperty(operations: string[], description: string): INodeProperties {
	return {
		displayName: 'Folder',
		name: 'mailbox',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. Invoices/2024',
		description,
		displayOptions: showFor('folder', operations),
	};
}
