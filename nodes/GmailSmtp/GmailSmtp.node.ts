import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { mailCredentials } from '../mail/descriptions';
import { sendProperties } from './description';
import { executeSend } from './execute';

export class GmailSmtp implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Gmail SMTP',
		name: 'gmailSmtp',
		icon: { light: 'file:gmailSmtp.svg', dark: 'file:gmailSmtp.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: '={{ ($parameter["options"] || {})["replyToInputEmail"] && !$parameter["subject"] ? "Reply to the input email" : "Send: " + ($parameter["subject"] || "") }}',
		description: 'Sends email over SMTP with OAuth2 (Gmail or any XOAUTH2 mail server), one connection per run',
		defaults: { name: 'Gmail SMTP' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: mailCredentials(),
		properties: sendProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executeSend.call(this);
	}
}
