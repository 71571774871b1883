import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { MAIL_CREDENTIAL_TEST_NAME, testMailCredential } from '../mail/auth/credentialTest';
import { GOOGLE_MAIL_CREDENTIAL_TYPE, MAIL_SERVER_CREDENTIAL_TYPE } from '../mail/connection';
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
		// The two lint plugins disagree here; NodeConnectionTypes.Main is n8n's current form (the value is 'main').
		// eslint-disable-next-line n8n-nodes-base/node-class-description-inputs-wrong-regular-node
		inputs: [NodeConnectionTypes.Main],
		// eslint-disable-next-line n8n-nodes-base/node-class-description-outputs-wrong
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: GOOGLE_MAIL_CREDENTIAL_TYPE,
				required: true,
				testedBy: MAIL_CREDENTIAL_TEST_NAME,
				displayOptions: { show: { authentication: [GOOGLE_MAIL_CREDENTIAL_TYPE] } },
			},
			{
				name: MAIL_SERVER_CREDENTIAL_TYPE,
				required: true,
				testedBy: MAIL_CREDENTIAL_TEST_NAME,
				displayOptions: { show: { authentication: [MAIL_SERVER_CREDENTIAL_TYPE] } },
			},
		],
		properties: popProperties,
	};

	methods = {
		credentialTest: { [MAIL_CREDENTIAL_TEST_NAME]: testMailCredential },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await executePop.call(this);
	}
}
