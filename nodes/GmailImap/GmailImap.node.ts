import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { mailCredentials } from '../mail/descriptions';
import { imapProperties } from './description';
import { executeGmailImap } from './router';

export class GmailImap implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Gmail IMAP',
		name: 'gmailImap',
		icon: { light: 'file:gmailImap.svg', dark: 'file:gmailImap.dark.svg' },
		group: ['input'],
		version: 1,
		subtitle: '={{ $parameter["operation"] + ": " + $parameter["resource"] }}',
		description:
			'Searches, reads and organises mail over IMAP with OAuth2 (Gmail or any XOAUTH2 mail server): folders, flags, labels, move, delete, drafts',
		defaults: { name: 'Gmail IMAP' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: mailCredentials(),
		properties: imapProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeGmailImap.call(this);
	}
}
