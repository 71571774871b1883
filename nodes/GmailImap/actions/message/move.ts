/** Message → Move / Copy to another folder; the output names the message's new UID where the server reports it (UIDPLUS). */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { locateMessages } from '../../../mail/imap/actions/locate';
import { copyMessages, moveMessages, moveProblem, type MoveResult } from '../../../mail/imap/actions/modify';
import { changedItem, messageTargetProperties, readMessageTarget, readRequired, showFor } from '../common';
import type { Operation, OperationInput } from '../types';

function transferOperation(operation: 'move' | 'copy'): Operation {
	return {
		description: [
			...messageTargetProperties([operation]),
			{
				displayName: 'To Folder',
				name: 'destinationFolder',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'e.g. Processed',
				description: `The folder (Gmail: label) to ${operation} the message to`,
				displayOptions: showFor('message', [operation]),
			},
		],
		async execute(input: OperationInput): Promise<INodeExecutionData[]> {
			const target = readMessageTarget(input);
			const destination = readRequired(input, 'destinationFolder', 'To Folder', 'For example Processed or "[Gmail]/Trash".');
			const capabilities = await input.session.capabilities();
			if (operation === 'move') {
				const problem = moveProblem(capabilities);
				if (problem) throw problem;
			}
			return await input.session.inFolder(target.folder, async (client, folder) => {
				const uids = await locateMessages(client, folder, target);
				const result =
					operation === 'move'
						? await moveMessages(client, capabilities, folder, uids, destination)
						: await copyMessages(client, uids, destination);
				return [
					changedItem(folder, uids, {
						destination,
						...(result.newUids ? { newUids: result.newUids } : {}),
						...(result.newUids?.length === 1 ? { newUid: result.newUids[0] } : {}),
						...(result.destinationUidValidity ? { destinationUidValidity: result.destinationUidValidity } : {}),
						// After a move the item names the message's new place (when the server said it), or nothing.
						...(operation === 'move' ? { attributes: movedAttributes(destination, result) } : {}),
					}),
				];
			});
		},
	};
}

function movedAttributes(destination: string, result: MoveResult): IDataObject | null {
	if (result.newUids?.length !== 1 || !result.destinationUidValidity) return null;
	return { uid: result.newUids[0], mailbox: destination, uidValidity: result.destinationUidValidity };
}

export const move = transferOperation('move');
export const copy = transferOperation('copy');
