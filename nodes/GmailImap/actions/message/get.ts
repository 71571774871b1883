/** Message → Get: one message by UID (+ folder, or the input item's) or by Message-ID, in the chosen format. */
import type { INodeExecutionData } from 'n8n-workflow';

import { locateMessages } from '../../../mail/imap/actions/locate';
import { fetchMetadata, headersItem, messageItem } from '../../../mail/imap/actions/read';
import { messageTargetProperties, readMessageTarget, showFor } from '../common';
import type { Operation, OperationInput } from '../types';
import { outputProperties, readOutputChoice, sizeOptions } from './output';

export const get: Operation = {
	description: [
		...messageTargetProperties(['get']),
		...outputProperties(['get']),
		{
			displayName: 'Options',
			name: 'options',
			type: 'collection',
			placeholder: 'Add option',
			default: {},
			displayOptions: showFor('message', ['get']),
			options: sizeOptions(),
		},
	],

	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const target = readMessageTarget(input);
		const output = readOutputChoice(input);
		const gmail = await input.session.isGmail();
		return await input.session.inFolder(target.folder, async (client, folder) => {
			const uids = await locateMessages(client, folder, target);
			const metadata = await fetchMetadata(client, uids, gmail);
			const items: INodeExecutionData[] = [];
			for (const uid of uids) {
				const message = metadata.get(uid);
				if (!message) continue;
				items.push(output.headersOnly ? headersItem(folder, message) : await messageItem(client, folder, message, output.settings, output.maxMessageBytes));
			}
			return items;
		});
	},
};
