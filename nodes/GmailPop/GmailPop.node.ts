import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { mailCredentials } from '../mail/descriptions';
import { popProperties } from './description';
import { executePop } from './execute';

export class GmailPop implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Gmail POP',
		name: 'gmailPop',
		icon: { light: 'file:gmailPop.svg', dark: 'file:gmailPop.dark.svg' },
		group: ['input'],
		version: 1,
		subtitle: '={{ { getAll: "Get new messages", getCount: "Count messages", get: "Get a message", delete: "Delete a message" }[$parameter["operation"]] }}',
		description:
			'Downloads email over POP3 with OAuth2 (Gmail or any XOAUTH2 mail server), each message once: new messages, count, get or delete by UIDL',
		defaults: { name: 'Gmail POP' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: mailCredentials(),
		properties: popProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executePop.call(this);
	}
}
