/**
 * Mark as Read / Mark as Unread / Flag / Unflag: one STORE of flags on the message. Flag and Unflag take any flags
 * (default \Flagged, Gmail's star), e.g. a keyword such as $Processed.
 */
import type { INodeExecutionData } from 'n8n-workflow';

import { locateMessages } from '../../../mail/imap/actions/locate';
import { changeFlags } from '../../../mail/imap/actions/modify';
import { changedItem, messageTargetProperties, readList, readMessageTarget, showFor } from '../common';
import type { Operation, OperationInput } from '../types';

function flagOperation(operation: string, add: boolean, fixedFlags?: string[]): Operation {
	return {
		description: [
			...messageTargetProperties([operation]),
			...(fixedFlags
				? []
				: [
						{
							displayName: 'Flags',
							name: 'flags',
							type: 'string' as const,
							default: '\\Flagged',
							placeholder: 'e.g. \\Flagged, $Processed',
							description: `Comma-separated flags to ${add ? 'add' : 'remove'}: system flags such as \\Flagged (Gmail: starred) or keywords such as $Processed`,
							displayOptions: showFor('message', [operation]),
						},
					]),
		],
		async execute(input: OperationInput): Promise<INodeExecutionData[]> {
			const target = readMessageTarget(input);
			const flags = fixedFlags ?? readList(input, 'flags', '\\Flagged');
			return await input.session.inFolder(target.folder, async (client, folder) => {
				const uids = await locateMessages(client, folder, target);
				await changeFlags(client, uids, flags, add);
				return [changedItem(folder, uids, { [add ? 'flagsAdded' : 'flagsRemoved']: flags })];
			});
		},
	};
}

export const markAsRead = flagOperation('markAsRead', true, ['\\Seen']);
export const markAsUnread = flagOperation('markAsUnread', false, ['\\Seen']);
export const flag = flagOperation('flag', true);
export const unflag = flagOperation('unflag', false);
