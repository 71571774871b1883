import type { IDataObject, IExecuteFunctions, INode, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import {
	isLastingFailure,
	type ItemSettings,
	type MailAccount,
	MAX_ATTACHMENT_SIZE_RANGE,
	MAX_MESSAGE_SIZE_RANGE,
	MEGABYTE,
	openMailAccount,
	readItemSettings,
	refuseSharedStaticData,
	toNodeError,
} from '../glue';
import { GOOGLE_MAIL_CREDENTIAL_TYPE } from '../mail/connection';
import { MAX_MESSAGE_MB_LIMIT } from '../mail/descriptions';
import { isMessageContentError } from '../mail/message/errors';
import { messageToItem } from '../mail/message/toItem';
import { boundedNumber, type NumberRange, ParameterRangeError } from '../mail/parameters';
import { MAX_LISTING_ENTRIES, type Pop3TlsOptions, type Pop3Timeouts } from '../mail/pop3/client';
import { describePop3Failure } from '../mail/pop3/describeError';
import {
	type FetchNewResult,
	openPop3Mailbox,
	type Pop3Mailbox,
	Pop3MessageTooLargeError,
	type Pop3SessionEnd,
	unconfirmedDeletion,
	xoauth2LoginUser,
} from '../mail/pop3/mailbox';
import {
	DEFAULT_SEEN_CAP,
	type ListingEntry,
	MAX_SEEN_CAP,
	MIN_SEEN_CAP,
	sameSeenState,
	SeenTracker,
	type StoredSeenState,
} from '../mail/pop3/seenState';

export const NODE_TYPE = 'n8n-nodes-gmail-xoauth2.gmailPop';
/** Key of the Get Many record in the node's static data (`getWorkflowStaticData('node')`). */
export const SEEN_STATE_KEY = 'pop3Fetched';

type Operation = 'getAll' | 'getCount' | 'get' | 'delete';

/**
 * The ranges of the numbers a user types (also the description's minValue/maxValue). A value outside is refused with
 * an error naming the field and the range, never clamped silently.
 * - Limit: at most as many messages as the client accepts in one listing (MAX_LISTING_ENTRIES).
 * - Max Attachment Size / Max Message Size: an attachment is part of a message, and a message above
 *   MAX_MESSAGE_MB_LIMIT could exhaust n8n's memory (items are built in memory).
 * - Remember Up To: MIN_SEEN_CAP..MAX_SEEN_CAP, see seenState.ts (the record is written whole to n8n's database).
 */
export const POP_NUMBER_RANGES = {
	limit: { label: 'Limit', min: 1, max: MAX_LISTING_ENTRIES, fallback: 50, integer: true },
	maxAttachmentSizeMb: MAX_ATTACHMENT_SIZE_RANGE,
	maxMessageSizeMb: MAX_MESSAGE_SIZE_RANGE,
	maxRemembered: { label: 'Remember Up To', min: MIN_SEEN_CAP, max: MAX_SEEN_CAP, fallback: DEFAULT_SEEN_CAP, integer: true },
} satisfies Record<string, NumberRange>;


/** Settings no user can reach: tests pass the mail stack's CA and short timeouts here. */
export interface PopExecuteOverrides {
	tls?: Pop3TlsOptions;
	timeouts?: Partial<Pop3Timeouts>;
}

interface Setup {
	account: MailAccount<'pop3'>;
	/** The XOAUTH2 user: the account, or `recent:` + the account in Gmail's recent mode. */
	loginUser: string;
}

/** A Delete result that only becomes true once QUIT confirms it. */
interface PendingDeletion {
	resultIndex: number;
	itemIndex: number;
	uidl: string;
}

/**
 * Runs the chosen operation for every input item over ONE POP3 session, ended with QUIT when everything is done.
 * Get Many returns messages not returned before (seenState.ts); the record is written only when execute() succeeds,
 * after QUIT (n8n saves static data after failed runs too). Manual runs change nothing: no deletion by Get Many, no
 * QUIT, no record (n8n never saves it); an explicit Delete still deletes. Reasoning: docs (POP bookkeeping).
 */
export async function executePop(this: IExecuteFunctions, overrides: PopExecuteOverrides = {}): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const node = this.getNode();
	const operation = this.getNodeParameter('operation', 0) as Operation;
	const manual = this.getMode() === 'manual';
	const results: INodeExecutionData[] = [];
	const pendingDeletions: PendingDeletion[] = [];

	let setup: Setup | undefined;
	let mailbox: Pop3Mailbox | undefined;
	let tracker: SeenTracker | undefined;
	/** A failure that would repeat for every further item (see isLastingFailure): reported for them, not retried. */
	let lasting: { error: unknown } | undefined;
	/**
	 * Get Many failed part-way (Continue On Fail let the run go on): items it made were thrown away with the error, so
	 * the session ends without QUIT (nothing deleted, nothing popped on Gmail) and the record is not saved.
	 */
	let fetchFailed = false;

	const fail = (error: unknown, itemIndex: number): NodeOperationError => popNodeError(node, error, itemIndex, setup);
	if (operation === 'getAll' && !manual) refuseSharedStaticData(this, 'pop');

	try {
		// Read once for the whole run (saveTracker): refuse a bad value before anything connects.
		const maxRemembered = operation === 'getAll' ? readNumber(this, 'maxRemembered', 0) : DEFAULT_SEEN_CAP;
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				if (lasting) throw lasting.error;
				// This item's numbers are checked before the session opens, so a bad value costs no login.
				const readsMessages = operation === 'getAll' || operation === 'get';
				const maxMessageBytes = readsMessages ? readNumber(this, 'maxMessageSizeMb', itemIndex) * MEGABYTE : 0;
				const settings = readsMessages ? readItemSettings((name, fallback) => this.getNodeParameter(name, itemIndex, fallback)) : undefined;
				const returnAll = operation === 'getAll' && (this.getNodeParameter('returnAll', itemIndex, false) as boolean);
				const limit = operation === 'getAll' && !returnAll ? readNumber(this, 'limit', itemIndex) : undefined;
				setup ??= await prepare(this);
				mailbox ??= await openPop3Mailbox({
					endpoint: setup.account.endpoint,
					tokens: setup.account.tokens,
					user: setup.loginUser,
					tls: overrides.tls,
					timeouts: overrides.timeouts,
					logger: (line) => this.logger.debug(`POP3 ${line}`),
				});
				const session = mailbox;
				if (operation === 'getCount') {
					const { count, size } = await session.stat();
					results.push({ json: { count, size }, pairedItem: { item: itemIndex } });
				} else if (operation === 'get') {
					const entry = await session.find(readUidl(this, node, itemIndex));
					if (entry.size > maxMessageBytes) {
						results.push(messageErrorItem(tooLargeError(entry, maxMessageBytes), entry, itemIndex));
						continue;
					}
					try {
						const item = await session.retrieve(entry, (stream) => messageToItem(stream, itemOptions(this, settings as ItemSettings, entry)));
						results.push({ ...item, pairedItem: { item: itemIndex } });
					} catch (error) {
						// Only the message's own fault becomes an item; anything else is handled as before.
						// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- mapped by the catch below
						if (!isMessageContentError(error) || !session.usable) throw error;
						results.push(messageErrorItem(unparseableError(error), entry, itemIndex));
					}
				} else if (operation === 'delete') {
					const entry = await session.find(readUidl(this, node, itemIndex));
					await session.delete(entry);
					pendingDeletions.push({ resultIndex: results.length, itemIndex, uidl: entry.uidl });
					results.push({ json: { uidl: entry.uidl, deleted: false }, pairedItem: { item: itemIndex } });
				} else if (operation === 'getAll') {
					const options = (this.getNodeParameter('options', itemIndex, {}) ?? {}) as IDataObject;
					tracker ??= loadTracker(this, setup);
					const deleteAfter = options.deleteAfterDownload === true && !manual;
					if (!deleteAfter && !manual) tracker.forgetPendingDeletions();
					let fetched: FetchNewResult<INodeExecutionData>;
					try {
						fetched = await session.fetchNew(tracker, {
							limit,
							deleteAfter,
							continueOnMessageError: this.continueOnFail(),
							maxMessageBytes,
							tooLarge: tooLargeError,
							isMessageFault: isMessageContentError,
							consume: (stream, entry) => messageToItem(stream, itemOptions(this, settings as ItemSettings, entry)),
						});
					} catch (error) {
						fetchFailed = true;
						// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- mapped by the item's catch below
						throw error;
					}
					for (const outcome of fetched.outcomes) {
						if ('value' in outcome) {
							results.push({ ...outcome.value, pairedItem: { item: itemIndex } });
						} else if (outcome.handled) {
							// Too large or unparseable: reported once, marked fetched, never deleted (see FetchOutcome).
							const error = isMessageContentError(outcome.error) ? unparseableError(outcome.error) : outcome.error;
							results.push(messageErrorItem(error, outcome.entry, itemIndex));
						} else {
							const error = fail(outcome.error, itemIndex);
							results.push({ json: { error: error.message, uidl: outcome.entry.uidl }, pairedItem: { item: itemIndex } });
						}
					}
					if (fetched.remaining > 0) {
						this.logger.info(`Gmail POP: ${fetched.remaining} more new message(s) are left for the next run (limit ${limit})`);
					}
				} else {
					throw new NodeOperationError(node, `Unknown operation "${String(operation)}"`, { itemIndex });
				}
			} catch (error) {
				const nodeError = fail(error, itemIndex);
				// Without a usable session every further item would fail the same way: report, do not retry each.
				if (isLastingFailure(error, { sessionLost: !mailbox?.usable })) lasting = { error };
				if (!this.continueOnFail()) throw nodeError;
				results.push({ json: { error: nodeError.message }, pairedItem: { item: itemIndex } });
			}
		}

		const ended: Pop3SessionEnd = mailbox ? await mailbox.end({ quit: !fetchFailed && (!manual || pendingDeletions.length > 0) }) : {};
		if (ended.quitError) {
			this.logger.warn(
				`Gmail POP: the server did not confirm the end of the session (${ended.quitError.message}); ` +
					'deletions of this run may not have been applied and will be retried',
			);
		}
		if (ended.confirmedDeletions) tracker?.confirmDeleted(ended.confirmedDeletions);
		// A Delete result says `deleted: true` only once QUIT confirmed it; otherwise that item fails.
		for (const deletion of pendingDeletions) {
			const failure = unconfirmedDeletion(ended, deletion.uidl);
			if (!failure) {
				results[deletion.resultIndex].json.deleted = true;
				continue;
			}
			const error = fail(failure, deletion.itemIndex);
			if (!this.continueOnFail()) throw error;
			results[deletion.resultIndex] = { json: { error: error.message, uidl: deletion.uidl }, pairedItem: { item: deletion.itemIndex } };
		}
		if (tracker && setup && !manual && !fetchFailed) saveTracker(this, tracker, maxRemembered);
	} catch (error) {
		// No QUIT after a failure: the server applies no deletion and (Gmail) marks nothing as popped.
		mailbox?.destroy();
		throw fail(error, 0);
	}
	return [results];
}

async function prepare(context: IExecuteFunctions): Promise<Setup> {
	const credentialType = context.getNodeParameter('authentication', 0, GOOGLE_MAIL_CREDENTIAL_TYPE) as string;
	const account = await openMailAccount(context, credentialType, 'pop3');
	const options = (context.getNodeParameter('options', 0, {}) ?? {}) as IDataObject;
	const loginUser = xoauth2LoginUser(account.email, {
		gmail: account.credentialType === GOOGLE_MAIL_CREDENTIAL_TYPE,
		recentMode: options.gmailRecentMode === true,
	});
	return { account, loginUser };
}

function readUidl(context: IExecuteFunctions, node: INode, itemIndex: number): string {
	const uidl = String(context.getNodeParameter('uidl', itemIndex, '') ?? '').trim();
	if (!uidl) {
		throw new NodeOperationError(node, 'Enter the UIDL of the message', {
			itemIndex,
			description: 'Get Many outputs it in attributes.uidl; in an expression: {{ $json.attributes.uidl }}',
		});
	}
	return uidl;
}

function itemOptions(context: IExecuteFunctions, settings: ItemSettings, entry: ListingEntry) {
	return {
		...settings,
		attributes: { uidl: entry.uidl, messageNumber: entry.messageNumber, size: entry.size },
		prepareBinaryData: (content: Buffer, fileName: string, mimeType: string) =>
			context.helpers.prepareBinaryData(content, fileName, mimeType),
	};
}

/** How versions before the shared mailAccountKey() keyed the record (not lower-cased): still this account's. */
function formerAccountKey(account: MailAccount<'pop3'>): string {
	return `${account.endpoint.host}:${account.endpoint.port}/${account.email}`;
}

function loadTracker(context: IExecuteFunctions, setup: Setup): SeenTracker {
	const staticData = context.getWorkflowStaticData('node');
	const { tracker, discarded } = SeenTracker.load(staticData[SEEN_STATE_KEY], setup.account.accountKey, [
		formerAccountKey(setup.account),
	]);
	if (discarded) context.logger.warn(`Gmail POP: ${discarded}; every message on the server counts as new`);
	return tracker;
}

function saveTracker(context: IExecuteFunctions, tracker: SeenTracker, cap: number): void {
	const { state, markerLost, dropped } = tracker.compact(cap);
	if (markerLost) {
		context.logger.warn('Gmail POP: every message of the position marker was removed from the server; older messages may be returned again');
	}
	if (dropped > 0) {
		context.logger.warn(`Gmail POP: forgot ${dropped} fetched message ID(s) over the "Remember Up To" limit; they may be returned again`);
	}
	const staticData = context.getWorkflowStaticData('node');
	const previous = staticData[SEEN_STATE_KEY] as StoredSeenState | undefined;
	// Assign a new object (never mutate in place): n8n notices the change only through its proxy's setter.
	if (!sameSeenState(previous, state)) staticData[SEEN_STATE_KEY] = state as unknown as IDataObject;
}

/**
 * One of the user's numbers, checked against POP_NUMBER_RANGES. `limit` is a node parameter, the others live in the
 * Options collection. @throws ParameterRangeError naming the field and the range.
 */
function readNumber(context: IExecuteFunctions, name: keyof typeof POP_NUMBER_RANGES, itemIndex: number): number {
	const range: NumberRange = POP_NUMBER_RANGES[name];
	const raw =
		name === 'limit'
			? context.getNodeParameter('limit', itemIndex, range.fallback)
			: ((context.getNodeParameter('options', itemIndex, {}) ?? {}) as IDataObject)[name];
	return boundedNumber(raw, range);
}

function tooLargeError(entry: ListingEntry, limitBytes: number): Pop3MessageTooLargeError {
	const megabytes = (bytes: number) => `${Math.round((bytes / MEGABYTE) * 10) / 10} MB`;
	return new Pop3MessageTooLargeError(
		entry.uidl,
		entry.size,
		limitBytes,
		`The message is ${megabytes(entry.size)} (${entry.size} bytes), larger than the "Max Message Size (MB)" option ` +
			`allows (${megabytes(limitBytes)}), so it was not downloaded. It stays on the server: raise "Max Message Size (MB)" ` +
			`(up to ${MAX_MESSAGE_MB_LIMIT}) and fetch it with the Get operation and UIDL "${entry.uidl}".`,
	);
}

function unparseableError(error: Error): Error {
	return new Error(`The message could not be parsed: ${error.message}`, { cause: error });
}

/** The item for a message the node reports instead of outputting: `error`, its UIDL and LIST size. */
function messageErrorItem(error: Error, entry: ListingEntry, itemIndex: number): INodeExecutionData {
	return { json: { error: error.message, uidl: entry.uidl, size: entry.size }, pairedItem: { item: itemIndex } };
}

/** The POP node's n8n error: its parameter texts, describePop3Failure for the session, redacted by the token source. */
function popNodeError(node: INode, error: unknown, itemIndex: number, setup: Setup | undefined): NodeOperationError {
	return toNodeError(node, error, {
		itemIndex,
		redact: (text) => (setup ? setup.account.tokens.redact(text) : text),
		describe: (failure) => {
			if (failure instanceof ParameterRangeError && failure.range) {
				const { label, min, max } = failure.range;
				return { message: failure.message, description: `Set "${label}" to a value from ${min} to ${max}.` };
			}
			if (!setup) return undefined;
			return describePop3Failure(failure, {
				host: setup.account.endpoint.host,
				port: setup.account.endpoint.port,
				account: setup.loginUser,
				gmail: setup.account.credentialType === GOOGLE_MAIL_CREDENTIAL_TYPE,
			});
		},
	});
}
