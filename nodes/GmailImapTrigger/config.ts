import type { IDataObject, ITriggerFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { StartPosition } from '../mail/imap/checkpoint';
import type { PostActionPlan } from '../mail/imap/postActions';
import { splitList } from '../mail/imap/postActions';
import { andSearch, parseCustomCriteria, SearchCriteriaError } from '../mail/imap/search';
import type { OutputMode, WatcherConfig } from '../mail/imap/watcher';
import { DEFAULT_WATCHER_CONFIG } from '../mail/imap/watcher';
import { MAX_ATTACHMENT_SIZE_RANGE, MAX_MESSAGE_SIZE_RANGE, MEGABYTE, readItemSettings, type ItemSettings } from '../glue/itemSettings';
import { boundedNumber, ParameterRangeError, type NumberRange } from '../mail/parameters';


/** The trigger's numeric options and the ranges it accepts; outside them activation fails naming the option. */
export const TRIGGER_NUMBER_RANGES = {
	maxAttachmentSizeMb: MAX_ATTACHMENT_SIZE_RANGE,
	maxMessageSizeMb: MAX_MESSAGE_SIZE_RANGE,
	batchSize: { label: 'Batch Size', min: 1, max: 1_000, fallback: 50, integer: true },
	pollIntervalSeconds: { label: 'Poll Interval (Seconds)', min: 5, max: 24 * 3600, fallback: 60 },
} satisfies Record<string, NumberRange>;

export type { ItemSettings };

export interface TriggerSettings {
	credentialType: string;
	watcher: WatcherConfig;
	items: ItemSettings;
}

/** Reads the node parameters into the watcher's configuration; problems become NodeOperationErrors naming the field. */
export function readTriggerSettings(context: ITriggerFunctions, manual: boolean): TriggerSettings {
	const node = context.getNode();
	const credentialType = context.getNodeParameter('authentication', 'googleMailOAuth2Api') as string;
	const mailbox = String(context.getNodeParameter('mailbox', 'INBOX') ?? '').trim();
	if (!mailbox) throw new NodeOperationError(node, 'Enter the mailbox (folder) to watch, e.g. INBOX');
	const options = context.getNodeParameter('options', {}) as IDataObject;

	const additional = Array.isArray(options.additionalFolders)
		? options.additionalFolders.map((folder) => String(folder).trim()).filter((folder) => folder.length > 0)
		: splitList(options.additionalFolders);
	const folders = [mailbox, ...additional];

	let filter;
	try {
		const custom = options.customEmailConfig !== undefined ? parseCustomCriteria(options.customEmailConfig) : undefined;
		const gmailSearch = typeof options.gmailSearch === 'string' ? options.gmailSearch.trim() : '';
		filter = custom || gmailSearch ? andSearch(custom, gmailSearch ? { gmraw: gmailSearch } : undefined) : undefined;
	} catch (error) {
		const description =
			error instanceof SearchCriteriaError ? 'Option "Custom Email Rules"' : 'Options "Custom Email Rules" / "Gmail Search"';
		throw new NodeOperationError(node, error as Error, { description });
	}

	const rangeChecked = <T>(read: () => T): T => {
		try {
			return read();
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- only range errors are the user's to fix
			if (!(error instanceof ParameterRangeError)) throw error;
			throw new NodeOperationError(node, error.message, { description: 'Change the option in the trigger’s Options' });
		}
	};
	const number = (name: keyof typeof TRIGGER_NUMBER_RANGES): number =>
		rangeChecked(() => boundedNumber(options[name], TRIGGER_NUMBER_RANGES[name]));
	const items = rangeChecked(() => readItemSettings((name, fallback) => context.getNodeParameter(name, fallback)));
	const maxMessageMb = number('maxMessageSizeMb');

	const startFrom = (options.startFrom as string | undefined) ?? 'new';
	let start: StartPosition;
	if (startFrom === 'unread') start = { mode: 'unread' };
	else if (startFrom === 'since') {
		const since = new Date(String(options.since ?? ''));
		if (Number.isNaN(since.getTime())) {
			throw new NodeOperationError(node, 'Option "Since" needs a date when "Start With" is "Mail Since a Date"');
		}
		start = { mode: 'since', since: since.getTime() };
	} else start = { mode: 'new' };

	// Version 2 defaults to Automatic; version 1 (existing workflows) keeps one run per message.
	const outputMode = (options.outputMode as string | undefined) ?? ((node.typeVersion ?? 1) >= 2 ? 'adaptive' : 'perMessage');
	const output: OutputMode =
		outputMode === 'batch' || outputMode === 'adaptive'
			? { mode: outputMode, size: number('batchSize') }
			: { mode: 'perMessage' };

	const postActions: PostActionPlan = {
		markRead: context.getNodeParameter('postProcessAction', 'read') === 'read',
		addLabels: splitList(options.addLabels),
		removeLabels: splitList(options.removeLabels),
		moveTo: typeof options.moveToFolder === 'string' && options.moveToFolder.trim() ? options.moveToFolder.trim() : undefined,
		delete: options.deleteAfter === true,
	};

	const pollSeconds = number('pollIntervalSeconds');
	const watcher: WatcherConfig = {
		...DEFAULT_WATCHER_CONFIG,
		folders,
		start,
		filter,
		pollIntervalMs: pollSeconds * 1000,
		maxMessageBytes: Math.round(maxMessageMb * MEGABYTE),
		output: manual ? { mode: 'perMessage' } : output,
		// "Test step" shows a message; it must not change the mailbox.
		postActions: manual ? undefined : postActions,
		...(manual ? { maxEmits: 1, startAtNewestMatch: true } : {}),
	};
	return {
		credentialType,
		watcher,
		items,
	};
}
