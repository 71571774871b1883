/**
 * Message → Delete: to the Trash folder (special use \Trash), or permanently when chosen. On Gmail an EXPUNGE outside
 * Trash only removes a label, so a permanent delete goes through Trash; without UIDPLUS nothing is expunged.
 */
import type { INodeExecutionData } from 'n8n-workflow';

import { deleteMessages } from '../../../mail/imap/actions/modify';
import { changedItem, messageTargetProperties, readMessageTarget, showFor } from '../common';
import type { Operation, OperationInput } from '../types';

export const deleteMessage: Operation = {
	description: [
		...messageTargetProperties(['delete']),
		{
			displayName: 'Delete Permanently',
			name: 'permanent',
			type: 'boolean',
			default: false,
			description:
				'Whether to delete the message for good instead of moving it to Trash. A message already in Trash is always deleted for good.',
			displayOptions: showFor('message', ['delete']),
		},
	],
	async execute(input: OperationInput): Promise<INodeExecutionData[]> {
		const target = readMessageTarget(input);
		const permanent = input.context.getNodeParameter('permanent', input.itemIndex, false) === true;
		const result = await deleteMessages(input.session, target, permanent);
		return [
			changedItem({ path: result.folder }, result.uids, {
				deleted: true,
				attributes: null,
				permanent: result.permanent,
				...(result.movedTo ? { movedTo: result.movedTo } : {}),
			}),
		];
	},
};
