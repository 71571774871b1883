/** The watcher's configuration, its defaults, and what it needs from its caller (the trigger node). */
import type { SearchObject } from 'imapflow';
import type { INodeExecutionData } from 'n8n-workflow';

import type { FolderCheckpoint, StartPosition } from '../checkpoint';
import type { InFlightDelivery } from './inFlight';
import type { RetryEntry } from './retryList';
import type { TriggerLogger } from '../logger';
import type { WatchedMessage } from '../messageItems';
import type { PostActionPlan, RunOutcome } from '../postActions';
import type { ImapSession } from '../session';

/**
 * One run per message; batches of up to `size`; or adaptive: one run per message while mail trickles in, batches of up
 * to `size` when a pass finds several messages waiting (a burst, a backlog after downtime).
 */
export type OutputMode = { mode: 'perMessage' } | { mode: 'batch'; size: number } | { mode: 'adaptive'; size: number };

export interface WatcherConfig {
	/** Folders in priority order; IDLE runs on the first one that exists, the others are checked with STATUS. */
	folders: string[];
	start: StartPosition;
	/** The user's filter (custom criteria and/or Gmail search); undefined: every new message. */
	filter?: SearchObject;
	/** How often every folder is checked even without an IDLE notification (other folders rely on this). */
	pollIntervalMs: number;
	output: OutputMode;
	/** Batch output: a batch also goes out once its messages add up to this many bytes (memory stays bounded). */
	batchMaxBytes: number;
	/**
	 * After a pass that emitted a run of several messages (a burst or backlog, in batch or automatic output), the next
	 * pass waits this long, so mail still arriving goes out in fewer, fuller runs. A pass that emitted one message
	 * alone is followed at once: mail that trickles in keeps its latency.
	 */
	burstSettleMs: number;
	/**
	 * Backpressure: at most this many runs started by the trigger may be unfinished at once; the next emit waits
	 * (only where n8n reports the end of a run, i.e. has createDeferredPromise).
	 */
	maxRunsInFlight: number;
	/** A run not reported finished after this long stops holding back the next one (a run n8n never reports). */
	runSlotTimeoutMs: number;
	postActions?: PostActionPlan;
	/**
	 * Messages the server says are larger than this are not downloaded: an error item with their attributes and
	 * headers goes out instead (the user's Max Message Size option).
	 */
	maxMessageBytes: number;
	/** Messages up to this size are fetched together (bounded batch); larger ones are streamed one by one. */
	streamAboveBytes: number;
	/** Bounds on one FETCH of whole messages. */
	fetchBatchMessages: number;
	fetchBatchBytes: number;
	/**
	 * The metadata FETCH also asks for the first this-many bytes of each message: one shorter than that arrives whole
	 * and needs no FETCH of its own. Times fetchBatchMessages it stays within fetchBatchBytes.
	 */
	wholeWithMetadataBytes: number;
	/** Reconnect delays: first retry after ~firstRetryMs, then initialBackoffMs doubling up to maxBackoffMs (with jitter). */
	firstRetryMs: number;
	initialBackoffMs: number;
	maxBackoffMs: number;
	/** A fault still there after this long (or this many failed attempts) is reported via saveFailedExecution. */
	persistentFaultMs: number;
	persistentFaultAttempts: number;
	/** A server that refuses freshly refreshed tokens this many times in a row is a configuration problem: stop. */
	maxConsecutiveTokenRejections: number;
	/** A watched folder missing for longer than this ends the trigger with an error (short gaps: folder recreated). */
	missingFolderGraceMs: number;
	/** Rollover to a new session this long before the access token expires: lifetime × fraction, clamped. */
	rolloverLeadFraction: number;
	rolloverMinLeadMs: number;
	rolloverMaxLeadMs: number;
	/**
	 * Longest single timer wait; longer waits are re-armed. Node fires a setTimeout above 2^31-1 ms (~24.8 days) after
	 * 1 ms, so a long-lived token would otherwise roll over (and refresh) in a loop.
	 */
	maxTimerWaitMs: number;
	/**
	 * A message the server fails to deliver (FETCH refused or answered without it while it still exists) this many
	 * times in a row is emitted as an error item, so one bad message cannot block its folder for ever.
	 */
	maxFetchAttempts: number;
	/**
	 * Durable delivery (see docs/delivery.md): what identifies this trigger for n8n's deduplication keys (workflow,
	 * node and mail account). Undefined where runs cannot be tracked (manual "Test step", an n8n that cannot report
	 * the end of a run): then no key is sent and no in-flight record kept.
	 */
	deliveryScope?: string;
	/** A run n8n could not create (its done promise rejected) is emitted again after firstMs, doubling up to maxMs. */
	redeliveryBackoff: { firstMs: number; maxMs: number };
	/**
	 * A message whose item fails to build for a reason that is not its content: tried again after firstDelayMs,
	 * doubling up to maxDelayMs; given up as an error item after `attempts` attempts AND at least minSpanMs since the
	 * first failure. At most maxEntries per folder wait like this (more: the folder waits).
	 */
	itemRetry: { firstDelayMs: number; maxDelayMs: number; attempts: number; minSpanMs: number; maxEntries: number };
	/** Manual "Test step": stop after this many emits. */
	maxEmits?: number;
	/** Manual mode: start at the newest message matching the filter instead of waiting for a new one. */
	startAtNewestMatch?: boolean;
}

export const DEFAULT_WATCHER_CONFIG: Omit<WatcherConfig, 'folders' | 'start' | 'output'> = {
	pollIntervalMs: 60_000,
	maxMessageBytes: 50 * 1024 * 1024,
	streamAboveBytes: 2 * 1024 * 1024,
	fetchBatchMessages: 100,
	fetchBatchBytes: 8 * 1024 * 1024,
	wholeWithMetadataBytes: 80 * 1024,
	firstRetryMs: 250,
	initialBackoffMs: 1_000,
	maxBackoffMs: 60_000,
	persistentFaultMs: 5 * 60_000,
	persistentFaultAttempts: 8,
	maxConsecutiveTokenRejections: 3,
	missingFolderGraceMs: 10 * 60_000,
	rolloverLeadFraction: 0.2,
	rolloverMinLeadMs: 3_000,
	rolloverMaxLeadMs: 5 * 60_000,
	maxTimerWaitMs: 24 * 3600_000,
	maxFetchAttempts: 3,
	batchMaxBytes: 16 * 1024 * 1024,
	burstSettleMs: 250,
	maxRunsInFlight: 10,
	runSlotTimeoutMs: 10 * 60_000,
	redeliveryBackoff: { firstMs: 5_000, maxMs: 5 * 60_000 },
	itemRetry: { firstDelayMs: 60_000, maxDelayMs: 3600_000, attempts: 10, minSpanMs: 24 * 3600_000, maxEntries: 1_000 },
};

/**
 * Where the watcher's state is kept (the trigger node keeps it in n8n's static data, one object written as a whole,
 * so everything set before an emit is saved together with it). Getters return copies; setters replace.
 */
export interface CheckpointStorage {
	/** True when the saved positions belong to another account (the credential was changed): they are not used. */
	readonly savedForAnotherAccount: boolean;
	get(folder: string): FolderCheckpoint | undefined;
	set(folder: string, checkpoint: FolderCheckpoint): void;
	/** Runs emitted and not reported finished (durable delivery). */
	inFlight(): InFlightDelivery[];
	setInFlight(deliveries: InFlightDelivery[]): void;
	/** Messages of a folder waiting to be tried again (see RetryList). */
	retries(folder: string): RetryEntry[];
	setRetries(folder: string, entries: RetryEntry[]): void;
	/** Gmail: X-GM-MSGIDs emitted recently from any watched folder (one run per message with two watched labels). */
	recentGmailIds(): string[];
	setRecentGmailIds(ids: string[]): void;
	/** The whole state as it is now, and putting it back (an emit that threw takes back what was stored for it). */
	snapshot(): unknown;
	restore(snapshot: unknown): void;
}

export interface WatcherDeps {
	/** Opens a new authenticated session. `minTokenValidityMs`: refresh first unless the token lives at least that long. */
	openSession(label: string, options: { minTokenValidityMs?: number; onExists: (path: string, count: number, prevCount: number) => void }): Promise<ImapSession>;
	checkpoints: CheckpointStorage;
	buildItem(message: WatchedMessage): Promise<INodeExecutionData>;
	/**
	 * Starts one workflow run. `onRunFinished` (when given) is called once n8n reports how the run ended. Returns
	 * whether it will be called: n8n versions without createDeferredPromise cannot report the end of a run.
	 * `deduplicationKey`: n8n starts at most one execution per key (see docs/delivery.md).
	 */
	emit(items: INodeExecutionData[], onRunFinished?: (outcome: RunOutcome) => void, deduplicationKey?: string): boolean;
	/** A fault the watcher keeps retrying but that has lasted: make it visible without deactivating. */
	reportPersistentFault(error: Error): void;
	/** A fault the watcher cannot recover from: the trigger stops and n8n shows the error. Called at most once. */
	reportFatal(error: Error): void;
	/** Errors that no retry can fix (the OAuth2 credential must be reconnected). */
	isUnrecoverable(error: unknown): boolean;
	/** Errors already worded for the user by the caller's framework (n8n's own errors): start() rethrows them as they are. */
	isOwnError?(error: unknown): boolean;
	logger: TriggerLogger;
	/** The node's name at the start of every log line, e.g. "Gmail IMAP Trigger". */
	logName: string;
	now?: () => number;
	random?: () => number;
}
