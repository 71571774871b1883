/** Message → Add / Remove Gmail Labels (X-GM-LABELS; Gmail only). Removing \Inbox archives the message. */
import type { INodeExecutionData } from 'n8n-workflow';

import { locateMessages } from '../../../mail/imap/actions/locate';
import { changeLabels, labelProblem } from '../../../mail/imap/actions/modify';
import { changedItem, messageTargetProperties, readList, readMessageTarget, showFor } from '../common';
import type { Operation, OperationInput } from '../types';

function labelOperation(operation: 'addLabels' | 'removeLabels'): Operation {
	const add = operation === 'addLabels';
	return {
		description: [
			...messageTargetProperties([operation]),
			{
				displayName: 'Labels',
				name: 'labels',
				type: 'string',
				default: '',
				required: true,
				placeholder: add ? 'e.g. Processed, Invoices/2024' : 'e.g. \\Inbox, ToDo',
				description: add
					? 'Comma-separated Gmail labels to add; system labels as \\Starred, \\Important'
					: 'Comma-separated Gmail labels to remove; \\Inbox archives the message',
				displayOptions: showFor('message', [operation]),
			},
		],
		async execute(input: OperationInput): Promise<INodeExecutionData[]> {
			const target = readMessageTarget(input);
			const labels = readList(input, 'labels');
			const capabilities = await input.session.capabilities();
			const problem = labelProblem(capabilities);
			if (problem) throw problem;
			return await input.session.inFolder(target.folder, async (client, folder) => {
				const uids = await locateMessages(client, folder, target);
				await changeLabels(client, capabilities, uids, labels, add);
				return [changedItem(folder, uids, { [add ? 'labelsAdded' : 'labelsRemoved']: labels })];
			});
		},
	};
}

export const addLabels = labelOperation('addLabels');
export const removeLabels = labelOperation('removeLabels');
