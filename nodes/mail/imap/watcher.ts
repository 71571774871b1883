import type { Readable } from 'node:stream';
import type { FetchMessageObject, FetchQueryObject, SearchObject } from 'imapflow';
import type { INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { TokenRejectedError } from '../auth/errors';
import { formatBytes } from '../message/parseMessage';
import { isMessageContentError } from '../message/errors';
import { AccessTokenRejectedError, TokenRefreshFailedError } from '../auth/tokenErrors';
import type { CheckpointStore, FolderCheckpoint, StartPosition } from './checkpoint';
import {
	afterJudging,
	backlogAdmits,
	initialCheckpoint,
	messageFingerprint,
	repositionForNewUidValidity,
	resolveUnknownPosition,
} from './checkpoint';
import type { ImapClient } from './client';
import { imapErrorFields, isMailboxMissing } from './client';
import type { TriggerLogger } from './logger';
import type { PostActionPlan, RunOutcome } from './postActions';
import { applyPostActions, hasPostActions, postActionProblem, toUidSet } from './postActions';
import { andSearch, usesGmailOnlyKeys } from './search';
import type { MessageDescription, WatchedMessage } from './messageItems';
import { describeMessage, messageErrorItem } from './messageItems';
import type { ImapSession } from './session';

export type { WatchedMessage } from './messageItems';

export type OutputMode = { mode: 'perMessage' } | { mode: 'batch'; size: number };

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
	maxRunsInFlight: 10,
	runSlotTimeoutMs: 10 * 60_000,
};

export interface WatcherDeps {
	/** Opens a new authenticated session. `minTokenValidityMs`: refresh first unless the token lives at least that long. */
	openSession(label: string, options: { minTokenValidityMs?: number; onExists: (path: string, count: number, prevCount: number) => void }): Promise<ImapSession>;
	checkpoints: CheckpointStore;
	buildItem(message: WatchedMessage): Promise<INodeExecutionData>;
	/**
	 * Starts one workflow run. `onRunFinished` (when given) is called once n8n reports how the run ended. Returns
	 * whether it will be called: n8n versions without createDeferredPromise cannot report the end of a run.
	 */
	emit(items: INodeExecutionData[], onRunFinished?: (outcome: RunOutcome) => void): boolean;
	/** A fault the watcher keeps retrying but that has lasted: make it visible without deactivating. */
	reportPersistentFault(error: Error): void;
	/** A fault the watcher cannot recover from: the trigger stops and n8n shows the error. Called at most once. */
	reportFatal(error: Error): void;
	/** Errors that no retry can fix (the OAuth2 credential must be reconnected). */
	isUnrecoverable(error: unknown): boolean;
	logger: TriggerLogger;
	now?: () => number;
	random?: () => number;
}

/** Thrown for problems with what the user configured (surfaced at activation, or as the fatal error). */
export class WatcherConfigurationError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'WatcherConfigurationError';
	}
}

interface PendingPostAction {
	folder: string;
	uidValidity: string;
	uids: number[];
}

interface FolderState {
	missingSince?: number;
}

/** A pending UID after the filters: `meta` set when it is to be emitted. */
interface JudgedEntry {
	uid: number;
	meta?: FetchMessageObject;
	/** The server kept failing to deliver this message: an error item with this text is emitted for it. */
	unreadable?: string;
}

interface BatchEntry {
	item: INodeExecutionData;
	uid: number;
	checkpoint: FolderCheckpoint;
	/** False for error items: after-run actions never touch a message the workflow did not get. */
	actionable: boolean;
	bytes: number;
}

const METADATA_QUERY: FetchQueryObject = { uid: true, flags: true, internalDate: true, size: true, envelope: true };

/**
 * Watches the configured folders over ONE IMAP session at a time (two for a moment during a token rollover):
 * IDLE on the first folder, STATUS for the others on every wake-up and at the poll interval. Every wake-up runs
 * one serial "cycle": catch up each folder from its checkpoint by UID, emit, run post-actions of succeeded runs.
 *
 * Sessions end for many reasons (token expiry, server kick, network). The watcher opens the next one before the
 * token expires (rollover: new session, catch up, then close the old one) and after an unexpected end (backoff
 * with jitter). Because every new session starts with a catch-up from the checkpoint, nothing is missed and,
 * because the checkpoint moves before each emit, nothing is emitted twice.
 */
export class MailboxWatcher {
	private readonly config: WatcherConfig;
	private readonly now: () => number;
	private readonly random: () => number;
	private current?: ImapSession;
	private stopped = false;
	private fatalReported = false;
	private loop?: Promise<void>;
	private wake?: () => void;
	private interruptSleep?: () => void;
	private dirty = true;
	private rolloverDue = false;
	private rolloverTimer?: NodeJS.Timeout;
	private pollTimer?: NodeJS.Timeout;
	private retryTimer?: NodeJS.Timeout;
	private readonly postActionQueue: PendingPostAction[] = [];
	private readonly folderStates = new Map<string, FolderState>();
	/** The IDLE folder's path as the server spells it (INBOX is case-insensitive). */
	private idlePath?: string;
	private emitted = 0;
	private consecutiveFailures = 0;
	private consecutiveTokenRejections = 0;
	private outageStartedAt?: number;
	private outageReported = false;
	private gmail = false;
	private rolloverFailures = 0;
	/** Next cycle asks STATUS about the selected folder too (poll cycles and the first cycle of a session). */
	private verifySelected = true;
	private rolloverFailingSince?: number;
	private rolloverReported = false;
	private warnedRunEndUnknown = false;
	private warnedRunSlotTimeout = false;
	/** Runs emitted and not yet reported finished (see maxRunsInFlight). */
	private runsInFlight = 0;
	private readonly runSlotWaiters: Array<() => void> = [];
	private readonly runSlotTimers = new Set<NodeJS.Timeout>();
	/** Failed attempts to read a message, per folder/UIDVALIDITY/UID (see maxFetchAttempts). */
	private readonly fetchFailures = new Map<string, number>();

	constructor(
		config: WatcherConfig,
		private readonly deps: WatcherDeps,
	) {
		if (config.folders.length === 0) throw new WatcherConfigurationError('Choose at least one folder to watch');
		this.config = { ...config, folders: [...new Set(config.folders)] };
		this.idlePath = this.config.folders[0];
		this.now = deps.now ?? Date.now;
		this.random = deps.random ?? Math.random;
	}

	/**
	 * Called from trigger(): opens the first session, checks the configuration against the server and writes a
	 * checkpoint for every folder seen for the first time — before trigger() returns, so n8n saves it with the
	 * activation and mail arriving before the first emit is not lost across a restart.
	 *
	 * `failFast`: a connection problem fails the activation (the user just clicked "Activate" and should see it).
	 * Otherwise (n8n starting up) a transient problem only delays the watcher, which keeps retrying in the
	 * background; folders without a checkpoint are positioned by time until the server can be asked.
	 */
	async start(options: { failFast: boolean }): Promise<void> {
		if (this.deps.checkpoints.savedForAnotherAccount) {
			this.deps.logger.warn(
				'Gmail IMAP Trigger: the saved position belongs to another mail account (the credential was changed); starting as on a first activation',
			);
		}
		let session: ImapSession | undefined;
		try {
			session = await this.openSession('activation');
			await this.prepare(session);
		} catch (error) {
			session?.destroy();
			const permanent =
				options.failFast ||
				error instanceof WatcherConfigurationError ||
				isMailboxMissing(error) ||
				this.deps.isUnrecoverable(error);
			if (permanent) throw this.describeStartError(error);
			this.deps.logger.warn('Gmail IMAP Trigger: the mail server is not reachable yet, will keep trying', {
				error: errorText(error),
			});
			this.positionOffline();
			session = undefined;
		}
		this.current = session;
		this.pollTimer = setInterval(() => {
			this.verifySelected = true;
			this.requestCycle();
		}, this.config.pollIntervalMs);
		// Anything the loop does not handle itself (a throwing n8n callback, a bug) must end the trigger visibly, not
		// leave it silently dead with an unhandled rejection.
		this.loop = this.run().catch((error: unknown) => this.fatal(error));
	}

	/** Ends every connection at once (no LOGOUT round trip) and waits briefly for the loop to notice. */
	async stop(): Promise<void> {
		if (this.stopped) return;
		this.stopped = true;
		for (const timer of [this.pollTimer, this.rolloverTimer, this.retryTimer, ...this.runSlotTimers]) if (timer) clearTimeout(timer);
		this.runSlotTimers.clear();
		// An emit waiting for a run slot gives up (and emits nothing).
		for (const resume of this.runSlotWaiters.splice(0)) resume();
		this.clientsToDestroy.forEach((client) => safeClose(client));
		this.clientsToDestroy.clear();
		this.current?.destroy();
		this.wake?.();
		this.interruptSleep?.();
		if (this.loop) await Promise.race([this.loop.catch(() => undefined), delay(1500)]);
	}

	/** Every client this watcher created and that is not known to be closed: stop() destroys them all. */
	private readonly clientsToDestroy = new Set<ImapClient>();

	trackClient(client: ImapClient): void {
		if (this.stopped) {
			safeClose(client);
			return;
		}
		this.clientsToDestroy.add(client);
		client.on('close', () => this.clientsToDestroy.delete(client));
	}

	/** Open clients right now (tests assert that nothing leaks). */
	get openClientCount(): number {
		return [...this.clientsToDestroy].filter((client) => client.usable).length;
	}

	private requestCycle(): void {
		this.dirty = true;
		this.wake?.();
	}

	private async openSession(label: string, minTokenValidityMs?: number): Promise<ImapSession> {
		const session = await this.deps.openSession(label, {
			minTokenValidityMs,
			onExists: (path, count, prevCount) => this.onExists(path, count, prevCount),
		});
		if (this.stopped) {
			session.destroy();
			throw new Error('stopped');
		}
		this.gmail = session.client.capabilities.has('X-GM-EXT-1');
		return session;
	}

	private onExists(path: string, count: number, prevCount: number): void {
		// Growth of the folder we IDLE on means new mail. (imapflow reports no 'exists' when SELECT switches folders,
		// so our own folder switches cannot cause cycles; expunges shrink the count and are ignored.)
		if (path !== this.idlePath || count <= prevCount) return;
		this.requestCycle();
	}

	/** Configuration checks that need the server, and first positions for new folders. */
	private async prepare(session: ImapSession): Promise<void> {
		const client = session.client;
		const problem = postActionProblem(this.config.postActions, client.capabilities);
		if (problem) throw new WatcherConfigurationError(problem);
		if (usesGmailOnlyKeys(this.config.filter) && !client.capabilities.has('X-GM-EXT-1')) {
			throw new WatcherConfigurationError('The Gmail search (X-GM-RAW / labels) needs a Gmail server; this server does not offer X-GM-EXT-1');
		}
		let newest: { folder: string; uid: number; date: number } | undefined;
		for (const folder of this.config.folders) {
			const status = await client.status(folder, { uidNext: true, uidValidity: true });
			if (!status || status.uidNext === undefined || status.uidValidity === undefined) {
				throw new WatcherConfigurationError(`The server did not report the state of folder "${folder}"`);
			}
			const mailbox = { uidValidity: String(status.uidValidity), uidNext: status.uidNext };
			if (this.config.startAtNewestMatch) {
				// Manual "Test step": nothing is saved; every folder starts at "now" and the newest match is found below.
				this.deps.checkpoints.set(folder, initialCheckpoint({ mode: 'new' }, this.now(), mailbox));
				const match = await this.newestMatch(client, folder);
				if (match && (!newest || match.date > newest.date)) newest = { folder, ...match };
				continue;
			}
			if (!this.deps.checkpoints.get(folder)) {
				this.deps.checkpoints.set(folder, initialCheckpoint(this.config.start, this.now(), mailbox));
			}
		}
		if (newest) {
			const checkpoint = this.deps.checkpoints.get(newest.folder) as FolderCheckpoint;
			this.deps.checkpoints.set(newest.folder, { ...checkpoint, lastUid: newest.uid - 1 });
		}
		if (this.config.filter) {
			// Let the server judge the filter once now, so a rejected search fails the activation, not a later cycle.
			const lock = await client.getMailboxLock(this.config.folders[0]);
			try {
				const result = await client.search(andSearch({ uid: '*' }, this.config.filter), { uid: true });
				if (result === false) throw new WatcherConfigurationError('The mail server rejected the search filter');
				uidsFrom(result, 'the check of the search filter');
			} finally {
				lock.release();
			}
		}
	}

	/** Manual mode: the newest message of a folder that matches the filter, with its INTERNALDATE. */
	private async newestMatch(client: ImapClient, folder: string): Promise<{ uid: number; date: number } | undefined> {
		const lock = await client.getMailboxLock(folder);
		try {
			const matches = uidsFrom(await client.search(this.config.filter ?? { all: true }, { uid: true }), `the search in folder "${folder}"`);
			if (matches.length === 0) return undefined;
			const uid = Math.max(...matches);
			const metadata = await this.fetchMetadata(client, [uid]);
			return { uid, date: toEpoch(metadata.get(uid)?.internalDate) ?? 0 };
		} finally {
			lock.release();
		}
	}

	/** No server at activation: folders without a checkpoint start by time (see initialCheckpoint). */
	private positionOffline(): void {
		for (const folder of this.config.folders) {
			if (!this.deps.checkpoints.get(folder)) {
				this.deps.checkpoints.set(folder, initialCheckpoint(this.config.start, this.now()));
			}
		}
	}

	private describeStartError(error: unknown): Error {
		// n8n's own errors (token source: reconnect needed, token refused after refresh, ...) already say what to do.
		if (error instanceof WatcherConfigurationError || error instanceof NodeOperationError) return error;
		if (this.deps.isUnrecoverable(error)) return error as Error;
		if (isMailboxMissing(error)) {
			return new WatcherConfigurationError(`A watched folder does not exist on the server: ${errorText(error)}`);
		}
		if (error instanceof TokenRejectedError) return error;
		return new Error(`Could not connect to the IMAP server: ${errorText(error)}`);
	}

	// ---------------------------------------------------------------- the loop

	private async run(): Promise<void> {
		while (!this.stopped) {
			let session = this.current;
			if (!session || !session.isOpen) {
				session = await this.reconnect();
				if (!session) return;
				this.current = session;
			}
			try {
				await this.serve(session);
			} catch (error) {
				if (this.stopped) return;
				// After a rollover serve() works on the newer session (this.current): that is the one that failed. Ending
				// the old one instead would leave the failing session in place and retry on it at once, without backoff.
				await this.handleSessionFailure(this.current ?? session, error);
			}
		}
	}

	/** Runs cycles on one session until it ends (or is replaced by a rollover). */
	private async serve(session: ImapSession): Promise<void> {
		this.wakeOnEnd(session);
		this.scheduleRollover(session);
		this.dirty = true;
		this.verifySelected = true;
		let active = session;
		while (!this.stopped) {
			if (!active.isOpen) throw new SessionEndedError(await active.ended);
			if (this.rolloverDue) {
				this.rolloverDue = false;
				const next = await this.rollover(active);
				if (next) {
					active = next;
					this.wakeOnEnd(next);
					this.dirty = true;
					this.verifySelected = true;
				}
				continue;
			}
			// Only a request runs a cycle (new mail, a poll, a finished run with after-run actions). Pending after-run
			// actions alone must not: those of a folder that cannot be selected would spin this loop.
			if (this.dirty && !this.emitLimitReached()) {
				this.dirty = false;
				const verified = this.verifySelected;
				await this.cycle(active);
				if (verified) this.verifySelected = false;
				this.madeProgress();
				continue;
			}
			this.dirty = false;
			await this.waitForWake(active);
		}
	}

	/** Waits for new mail, a poll, a rollover, a run that finished, the session's end or stop(). */
	private waitForWake(session: ImapSession): Promise<void> {
		return new Promise<void>((resolve) => {
			let settled = false;
			const finish = () => {
				if (settled) return;
				settled = true;
				this.wake = undefined;
				resolve();
			};
			this.wake = finish;
			if (this.dirty || this.rolloverDue || this.stopped || !session.isOpen) finish();
		});
	}

	/** One listener per session (not per wait, which would pile up closures on a long-lived session). */
	private wakeOnEnd(session: ImapSession): void {
		void session.ended.then(() => this.wake?.());
	}

	private scheduleRollover(session: ImapSession): void {
		if (this.rolloverTimer) clearTimeout(this.rolloverTimer);
		this.rolloverTimer = undefined;
		this.rolloverDue = false;
		const expiresAt = session.tokenExpiresAt;
		if (expiresAt === undefined) return;
		this.armRolloverTimer(expiresAt - this.rolloverLead(session));
	}

	/** How long before its token expires a session is replaced: a fraction of the token's lifetime, clamped. */
	private rolloverLead(session: ImapSession): number {
		const lifetime = Math.max(0, (session.tokenExpiresAt ?? session.openedAt) - session.openedAt);
		return clamp(lifetime * this.config.rolloverLeadFraction, this.config.rolloverMinLeadMs, this.config.rolloverMaxLeadMs);
	}

	/** Sets rolloverDue at `dueAt`, in steps of at most maxTimerWaitMs (see there: setTimeout overflows). */
	private armRolloverTimer(dueAt: number): void {
		const wait = Math.max(0, dueAt - this.now());
		this.rolloverTimer = setTimeout(
			() => {
				if (this.stopped) return;
				if (this.now() < dueAt) {
					this.armRolloverTimer(dueAt);
					return;
				}
				this.rolloverDue = true;
				this.wake?.();
			},
			Math.min(wait, this.config.maxTimerWaitMs),
		);
	}

	/**
	 * Opens the next session with a token that outlives the current one, makes it current, and retires the old one.
	 * The old session keeps IDLEing while the new one logs in, so there is no gap; the caller's next cycle on the new
	 * session catches up anything that arrived meanwhile.
	 */
	private async rollover(old: ImapSession): Promise<ImapSession | undefined> {
		const expiresAt = old.tokenExpiresAt ?? this.now();
		if (old.tokenExpiresAt !== undefined && expiresAt - this.now() > this.rolloverLead(old) + this.config.rolloverMinLeadMs) {
			// Not due yet (a timer that fired early): asking for a token that outlives this one would force a refresh.
			this.scheduleRollover(old);
			return undefined;
		}
		const lead = Math.max(this.config.rolloverMinLeadMs, expiresAt - this.now());
		let next: ImapSession;
		try {
			next = await this.openSession('rollover', lead + this.config.rolloverMinLeadMs);
		} catch (error) {
			if (this.stopped) return undefined;
			if (this.deps.isUnrecoverable(error)) {
				this.fatal(error);
				return undefined;
			}
			// Keep the old session (it works until the server ends it) and try again with backoff: the token endpoint
			// may be down, and hammering it would not bring it back sooner.
			this.retryRolloverLater(errorText(error));
			return undefined;
		}
		this.current = next;
		this.deps.logger.debug('Gmail IMAP Trigger: rolled over to a new session before the token expired', {
			old: old.description,
			new: next.description,
		});
		void old.retire(1000);
		if (old.tokenExpiresAt !== undefined && next.tokenExpiresAt !== undefined && next.tokenExpiresAt <= old.tokenExpiresAt) {
			// The token endpoint handed out a token that expires no later than the old one (a cached token). Renewing
			// again at once would only repeat that in a loop: keep the new session and retry with backoff. Should the
			// token run out meanwhile, the server ends the session and the watcher reconnects.
			this.retryRolloverLater('the token endpoint returned a token that expires no later than the current one');
		} else {
			this.rolloverFailures = 0;
			this.rolloverFailingSince = undefined;
			this.rolloverReported = false;
			this.scheduleRollover(next);
		}
		return next;
	}

	/** A renewal that did not work: retried with backoff (the token endpoint is not hammered), reported if it lasts. */
	private retryRolloverLater(reason: string): void {
		this.rolloverFailures++;
		this.rolloverFailingSince ??= this.now();
		const failingFor = this.now() - this.rolloverFailingSince;
		const level = this.rolloverFailures >= 3 ? 'warn' : 'debug';
		this.deps.logger[level]('Gmail IMAP Trigger: could not open the next session before the token expires, retrying', {
			attempts: this.rolloverFailures,
			error: reason,
		});
		if (failingFor >= this.config.persistentFaultMs && !this.rolloverReported) {
			this.rolloverReported = true;
			this.deps.reportPersistentFault(
				new Error(
					`Renewing the mailbox session has failed for ${Math.round(failingFor / 1000)} s; the trigger keeps watching on the current session and retrying. Last error: ${reason}`,
				),
			);
		}
		const base = Math.min(30_000, this.config.initialBackoffMs * 2 ** (this.rolloverFailures - 1));
		this.rolloverTimer = setTimeout(
			() => {
				this.rolloverDue = true;
				this.wake?.();
			},
			Math.round(base * (0.5 + this.random() * 0.5)),
		);
	}

	private madeProgress(): void {
		this.consecutiveFailures = 0;
		this.consecutiveTokenRejections = 0;
		this.outageStartedAt = undefined;
		this.outageReported = false;
	}

	private async handleSessionFailure(session: ImapSession, error: unknown): Promise<void> {
		session.destroy();
		if (this.rolloverTimer) clearTimeout(this.rolloverTimer);
		this.rolloverTimer = undefined;
		this.rolloverDue = false;
		if (this.current === session) this.current = undefined;
		if (this.deps.isUnrecoverable(error)) {
			this.fatal(error);
			return;
		}
		if (error instanceof WatcherConfigurationError) {
			this.fatal(error);
			return;
		}
		const end = error instanceof SessionEndedError ? error.end : undefined;
		this.deps.logger.debug('Gmail IMAP Trigger: session ended, reconnecting', {
			session: session.description,
			reason: end?.byeReason ?? errorText(end?.error ?? error),
		});
		this.noteFailure(error);
	}

	/** Opens a new session after backoff; undefined when stopped or after a fatal error. */
	private async reconnect(): Promise<ImapSession | undefined> {
		while (!this.stopped) {
			const wait = this.backoffDelay();
			if (wait > 0) await this.sleep(wait);
			if (this.stopped) return undefined;
			try {
				const session = await this.openSession('watch');
				this.consecutiveTokenRejections = 0;
				return session;
			} catch (error) {
				if (this.stopped) return undefined;
				if (this.deps.isUnrecoverable(error)) {
					this.fatal(error);
					return undefined;
				}
				if (isCredentialProblem(error)) {
					// The server refused a freshly refreshed token, or the token endpoint refused the client: a retry
					// rarely helps, but one glitch should not end the trigger. A few in a row do (bounded token requests).
					this.consecutiveTokenRejections++;
					if (this.consecutiveTokenRejections >= this.config.maxConsecutiveTokenRejections) {
						this.fatal(error);
						return undefined;
					}
				}
				this.noteFailure(error);
			}
		}
		return undefined;
	}

	private noteFailure(error: unknown): void {
		this.consecutiveFailures++;
		const now = this.now();
		this.outageStartedAt ??= now;
		const lasting =
			now - this.outageStartedAt >= this.config.persistentFaultMs ||
			this.consecutiveFailures >= this.config.persistentFaultAttempts;
		if (this.consecutiveFailures >= 3) {
			this.deps.logger.warn('Gmail IMAP Trigger: still cannot reach the mailbox, retrying', {
				attempts: this.consecutiveFailures,
				error: errorText(error),
			});
		}
		if (lasting && !this.outageReported) {
			this.outageReported = true;
			this.deps.reportPersistentFault(
				new Error(
					`The mailbox has been unreachable for ${Math.round((now - this.outageStartedAt) / 1000)} s (${this.consecutiveFailures} attempts); the trigger keeps retrying. Last error: ${errorText(error)}`,
				),
			);
		}
	}

	private backoffDelay(): number {
		const failures = this.consecutiveFailures;
		if (failures === 0) return 0;
		const base =
			failures === 1
				? this.config.firstRetryMs
				: Math.min(this.config.maxBackoffMs, this.config.initialBackoffMs * 2 ** (failures - 2));
		// Jitter: between half and the full delay, so many triggers do not reconnect in lockstep.
		return Math.round(base * (0.5 + this.random() * 0.5));
	}

	/** Backoff wait; only stop() cuts it short (mail notifications cannot arrive without a session anyway). */
	private sleep(ms: number): Promise<void> {
		return new Promise<void>((resolve) => {
			const finish = () => {
				if (this.retryTimer) clearTimeout(this.retryTimer);
				this.retryTimer = undefined;
				this.interruptSleep = undefined;
				resolve();
			};
			this.retryTimer = setTimeout(finish, ms);
			this.interruptSleep = finish;
		});
	}

	private fatal(error: unknown): void {
		if (this.fatalReported || this.stopped) return;
		this.fatalReported = true;
		const reported = error instanceof Error ? error : new Error(String(error));
		this.deps.logger.error('Gmail IMAP Trigger stopped: ' + reported.message);
		void this.stop();
		this.deps.reportFatal(reported);
	}

	// ---------------------------------------------------------------- one cycle

	/**
	 * One pass over every folder. The IDLE folder comes last and is checked while SELECTed, and stays selected:
	 * a message that arrives after its SELECT produces an EXISTS (→ another cycle), one that arrived before is found
	 * by the search, so nothing can slip between the check and the IDLE. If that folder is missing, IDLE moves to the
	 * first other folder that exists (checked again while selected, for the same reason).
	 */
	private async cycle(session: ImapSession): Promise<void> {
		const client = session.client;
		const preferred = this.config.folders[0];
		const present: string[] = [];
		for (const folder of this.config.folders.slice(1)) {
			if (this.stopped) return;
			if (await this.checkFolder(session, folder, false)) present.push(folder);
		}
		if (this.stopped) return;
		let idleFolder: string | undefined = preferred;
		if (!(await this.checkFolder(session, preferred, true))) {
			idleFolder = present[0];
			if (idleFolder !== undefined && !this.stopped) await this.checkFolder(session, idleFolder, true);
		}
		if (idleFolder !== undefined && client.mailbox) this.idlePath = client.mailbox.path;
	}

	/** Catches one folder up. Returns false when the folder does not exist (right now). */
	private async checkFolder(session: ImapSession, folder: string, select: boolean): Promise<boolean> {
		const client = session.client;
		const state = this.folderState(folder);
		let checkpoint = this.deps.checkpoints.get(folder);
		const hasPostActions = this.postActionQueue.some((job) => job.folder === folder);
		try {
			if (!select && checkpoint?.uidValidity !== undefined && !checkpoint.backlog && !hasPostActions) {
				const status = await client.status(folder, { uidNext: true, uidValidity: true });
				if (
					status &&
					String(status.uidValidity) === checkpoint.uidValidity &&
					status.uidNext !== undefined &&
					status.uidNext <= checkpoint.lastUid + 1
				) {
					this.folderFound(folder, state);
					return true;
				}
			}
			if (select && this.verifySelected) await this.reselectIfReplaced(client, folder);
			const lock = await client.getMailboxLock(folder);
			try {
				this.folderFound(folder, state);
				const mailbox = client.mailbox;
				if (!mailbox) throw new Error(`Folder "${folder}" could not be selected`);
				const current = { uidValidity: String(mailbox.uidValidity), uidNext: mailbox.uidNext };
				checkpoint = this.alignCheckpoint(folder, checkpoint, current);
				await this.runPostActions(session, folder, current.uidValidity);
				await this.catchUp(session, folder, checkpoint);
			} finally {
				lock.release();
			}
			return true;
		} catch (error) {
			// Anything but a missing folder ends this session's cycle; the loop reconnects (no node context here).
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error
			if (!isMailboxMissing(error) || !session.isOpen) throw error;
			this.folderMissing(folder, state, error);
			return false;
		}
	}

	/**
	 * A folder deleted and recreated while it is selected: Dovecot does not tell the session, keeps answering for the
	 * old folder (even STATUS gives the old UIDVALIDITY), and sometimes ends it later with "session state is
	 * inconsistent". Selecting the folder again by name opens whatever now has that name; the UIDVALIDITY rule does
	 * the rest. Done on poll cycles and the first cycle of each session (a SELECT is cheap).
	 */
	private async reselectIfReplaced(client: ImapClient, folder: string): Promise<void> {
		await client.mailboxOpen(folder);
	}

	private folderState(folder: string): FolderState {
		let state = this.folderStates.get(folder);
		if (!state) {
			state = {};
			this.folderStates.set(folder, state);
		}
		return state;
	}

	private folderFound(folder: string, state: FolderState): void {
		if (state.missingSince !== undefined) {
			this.deps.logger.info(`Gmail IMAP Trigger: folder "${folder}" is back`);
			state.missingSince = undefined;
		}
	}

	private folderMissing(folder: string, state: FolderState, error: unknown): void {
		const now = this.now();
		// Pending after-run actions of this folder are void: a folder created again under its name holds other messages.
		this.dropPostActions(folder, 'the folder does not exist any more');
		if (state.missingSince === undefined) {
			state.missingSince = now;
			this.deps.logger.warn(`Gmail IMAP Trigger: folder "${folder}" does not exist (any more); checking again`, {
				error: errorText(error),
			});
			return;
		}
		if (now - state.missingSince >= this.config.missingFolderGraceMs) {
			this.fatal(
				new WatcherConfigurationError(
					`The watched folder "${folder}" has not existed for ${Math.round((now - state.missingSince) / 1000)} s. Create it again or remove it from the trigger.`,
				),
			);
		}
	}

	/** Applies the UIDVALIDITY rule and fills in positions that were taken without the server. */
	private alignCheckpoint(
		folder: string,
		checkpoint: FolderCheckpoint | undefined,
		mailbox: { uidValidity: string; uidNext: number },
	): FolderCheckpoint {
		let next: FolderCheckpoint;
		if (!checkpoint) {
			// A folder added to the configuration of a workflow that was already running.
			next = initialCheckpoint(this.config.start, this.now(), mailbox);
		} else if (checkpoint.uidValidity === undefined) {
			next = resolveUnknownPosition(checkpoint, mailbox);
		} else if (checkpoint.uidValidity !== mailbox.uidValidity) {
			this.deps.logger.warn(
				`Gmail IMAP Trigger: folder "${folder}" has a new UIDVALIDITY (it was recreated or the server was migrated); emitting only messages newer than the last one seen`,
				{ previous: checkpoint.uidValidity, current: mailbox.uidValidity },
			);
			next = repositionForNewUidValidity(checkpoint, mailbox, this.now());
			// Post-actions for old UIDs would hit different messages now.
			this.dropPostActions(folder, 'the folder was recreated');
		} else {
			return checkpoint;
		}
		this.deps.checkpoints.set(folder, next);
		return next;
	}

	private dropPostActions(folder: string, reason: string): void {
		let dropped = 0;
		for (let index = this.postActionQueue.length - 1; index >= 0; index--) {
			if (this.postActionQueue[index].folder !== folder) continue;
			dropped += this.postActionQueue[index].uids.length;
			this.postActionQueue.splice(index, 1);
		}
		if (dropped > 0) {
			this.deps.logger.warn(
				`Gmail IMAP Trigger: after-run actions for ${dropped} message(s) in "${folder}" were dropped because ${reason}`,
			);
		}
	}

	private async runPostActions(session: ImapSession, folder: string, uidValidity: string): Promise<void> {
		const plan = this.config.postActions;
		const jobs = this.postActionQueue.filter((job) => job.folder === folder);
		if (jobs.length === 0 || !plan) return;
		const uids = jobs.filter((job) => job.uidValidity === uidValidity).flatMap((job) => job.uids);
		try {
			await applyPostActions(session.client, uids, plan);
		} catch (error) {
			// A dropped connection: keep the jobs for the next session. Anything else: the server refuses the action
			// (e.g. the target folder does not exist) and repeating it will not help.
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			if (!session.isOpen) throw error;
			this.deps.reportPersistentFault(
				new Error(`After-run action on ${uids.length} message(s) in "${folder}" failed: ${errorText(error)}`),
			);
		}
		for (const job of jobs) this.postActionQueue.splice(this.postActionQueue.indexOf(job), 1);
	}

	/**
	 * Emits every not-yet-judged message of the selected folder, in UID order, in bounded chunks. UIDs the filters
	 * reject (or that vanished meanwhile) are judged without an emit: they only move the checkpoint.
	 */
	private async catchUp(session: ImapSession, folder: string, start: FolderCheckpoint): Promise<void> {
		const client = session.client;
		let checkpoint = start;
		const fromUid = checkpoint.lastUid + 1;
		// "n:*" always includes the highest UID even when it is below n, hence the filter.
		const found = uidsFrom(await client.search({ uid: `${fromUid}:*` }, { uid: true }), `the search for new mail in folder "${folder}"`);
		const pending = found.filter((uid) => uid >= fromUid).sort((a, b) => a - b);
		if (pending.length === 0) return;
		const admitted = await this.admittedUids(client, folder, checkpoint, pending);
		const uidValidity = checkpoint.uidValidity as string;
		const batch: BatchEntry[] = [];

		for (let offset = 0; offset < pending.length; offset += this.config.fetchBatchMessages) {
			if (this.stopped || this.emitLimitReached()) break;
			if (this.rolloverDue) {
				// A long catch-up (held back by runs in progress) must not outlive the token: renew first, then go on.
				this.dirty = true;
				break;
			}
			const chunk = pending.slice(offset, offset + this.config.fetchBatchMessages);
			const wanted = chunk.filter((uid) => admitted.has(uid));
			const { metadata, unreadable } = await this.readMetadata(session, folder, uidValidity, wanted);
			const entries: JudgedEntry[] = chunk.map((uid) => {
				const reason = unreadable.get(uid);
				if (reason !== undefined) return { uid, unreadable: reason };
				const meta = metadata.get(uid);
				if (!meta || !this.admitsByTime(checkpoint, uid, meta)) return { uid };
				return { uid, meta, unreadable: this.tooLargeReason(meta) };
			});
			checkpoint = await this.emitMessages(session, folder, uidValidity, checkpoint, entries, batch);
			if (this.stopped) return;
			// While a batch holds unsent items the stored checkpoint must not pass them.
			if (batch.length === 0) this.deps.checkpoints.set(folder, checkpoint);
		}
		if (this.stopped) return;
		if (batch.length > 0) await this.flushBatch(folder, uidValidity, batch);
		if (this.stopped) return;
		this.deps.checkpoints.set(folder, checkpoint);
	}

	/** Why a message is not downloaded at all: the server reports it larger than the Max Message Size option. */
	private tooLargeReason(meta: FetchMessageObject): string | undefined {
		const size = meta.size ?? 0;
		if (size <= this.config.maxMessageBytes) return undefined;
		return `The message is ${formatBytes(size)}, more than the trigger's Max Message Size of ${formatBytes(this.config.maxMessageBytes)}: it was not downloaded. Raise the option "Max Message Size (MB)" to receive such messages; the message stays in the mailbox.`;
	}

	private emitLimitReached(): boolean {
		return this.config.maxEmits !== undefined && this.emitted >= this.config.maxEmits;
	}

	/** Which of the pending UIDs the user's filter (and a backlog rule) admits, asked of the server. */
	private async admittedUids(
		client: ImapClient,
		folder: string,
		checkpoint: FolderCheckpoint,
		pending: number[],
	): Promise<Set<number>> {
		const low = pending[0];
		const high = pending[pending.length - 1];
		const backlog = checkpoint.backlog;
		const ranges: Array<{ from: number; to: number; extra?: SearchObject }> = [];
		if (backlog?.throughUid !== undefined && low <= backlog.throughUid) {
			const backlogSearch = andSearch(
				backlog.unseenOnly ? { seen: false } : undefined,
				// Coarse pre-filter only (IMAP dates have day granularity); the exact time rule runs on INTERNALDATE.
				backlog.notBefore !== undefined ? { since: new Date(backlog.notBefore - 36 * 3600 * 1000) } : undefined,
			);
			ranges.push({ from: low, to: Math.min(high, backlog.throughUid), extra: backlogSearch });
			if (high > backlog.throughUid) ranges.push({ from: backlog.throughUid + 1, to: high });
		} else {
			ranges.push({ from: low, to: high });
		}
		const admitted = new Set<number>();
		for (const range of ranges) {
			const inRange = pending.filter((uid) => uid >= range.from && uid <= range.to);
			const conditions = [range.extra, this.config.filter].filter((part): part is SearchObject => part !== undefined);
			const meaningful = conditions.filter((part) => !(Object.keys(part).length === 1 && part.all === true));
			if (meaningful.length === 0) {
				inRange.forEach((uid) => admitted.add(uid));
				continue;
			}
			const result = await client.search(andSearch({ uid: `${range.from}:${range.to}` }, ...meaningful), { uid: true });
			// A refusal (NO/BAD) here is transient, e.g. Gmail's `NO [UNAVAILABLE]`: the filter itself was accepted at
			// activation. uidsFrom turns it into a session failure, retried with backoff and reported if it lasts.
			const matches = new Set(uidsFrom(result, `the search in folder "${folder}"`));
			inRange.filter((uid) => matches.has(uid)).forEach((uid) => admitted.add(uid));
		}
		return admitted;
	}

	private admitsByTime(checkpoint: FolderCheckpoint, uid: number, meta: FetchMessageObject): boolean {
		const backlog = checkpoint.backlog;
		if (!backlog || backlog.throughUid === undefined || uid > backlog.throughUid) return true;
		const internalDate = toEpoch(meta.internalDate);
		return backlogAdmits(backlog, checkpoint.recent, {
			internalDate,
			fingerprint: messageFingerprint(meta.envelope?.messageId, internalDate, meta.size),
		});
	}

	private async fetchMetadata(client: ImapClient, uids: number[]): Promise<Map<number, FetchMessageObject>> {
		const query: FetchQueryObject = this.gmail ? { ...METADATA_QUERY, labels: true, threadId: true } : METADATA_QUERY;
		const result = new Map<number, FetchMessageObject>();
		// Collect first: running another command inside the fetch iterator would deadlock imapflow.
		for await (const message of client.fetch(toUidSet(uids), query, { uid: true })) result.set(message.uid, message);
		return result;
	}

	/**
	 * The attributes of these messages, and the ones the server keeps failing to deliver (see fetchFailed). A FETCH of
	 * several messages that the server refuses is repeated one message at a time, to find the one it cannot serve.
	 */
	private async readMetadata(
		session: ImapSession,
		folder: string,
		uidValidity: string,
		uids: number[],
	): Promise<{ metadata: Map<number, FetchMessageObject>; unreadable: Map<number, string> }> {
		const unreadable = new Map<number, string>();
		if (uids.length === 0) return { metadata: new Map(), unreadable };
		let metadata: Map<number, FetchMessageObject>;
		try {
			metadata = await this.fetchMetadata(session.client, uids);
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			if (!session.isOpen || this.stopped) throw error;
			if (uids.length === 1) {
				unreadable.set(uids[0], this.fetchFailed(folder, uidValidity, uids[0], describeImapError(error)));
				return { metadata: new Map(), unreadable };
			}
			metadata = new Map();
			for (const uid of uids) {
				const single = await this.readMetadata(session, folder, uidValidity, [uid]);
				single.metadata.forEach((value, key) => metadata.set(key, value));
				single.unreadable.forEach((value, key) => unreadable.set(key, value));
			}
			return { metadata, unreadable };
		}
		const missing = uids.filter((uid) => !metadata.has(uid));
		if (missing.length > 0) {
			for (const uid of await this.stillPresent(session, folder, missing)) {
				unreadable.set(uid, this.fetchFailed(folder, uidValidity, uid, 'the server answered without its attributes'));
			}
		}
		return { metadata, unreadable };
	}

	/**
	 * One more failed attempt to read a message that exists. Below maxFetchAttempts this throws (the pass is retried
	 * after a backoff, like a dropped connection); at the limit it returns the text of the error item to emit instead,
	 * so one message the server cannot serve does not block its folder for ever.
	 */
	private fetchFailed(folder: string, uidValidity: string, uid: number, reason: string): string {
		const key = fetchFailureKey(folder, uidValidity, uid);
		const attempts = (this.fetchFailures.get(key) ?? 0) + 1;
		if (attempts < this.config.maxFetchAttempts) {
			this.fetchFailures.set(key, attempts);
			throw new ServerRefusedError(
				`Message UID ${uid} in "${folder}" could not be read (attempt ${attempts} of ${this.config.maxFetchAttempts}): ${reason}`,
			);
		}
		this.fetchFailures.delete(key);
		this.deps.logger.warn(
			`Gmail IMAP Trigger: message UID ${uid} in "${folder}" could not be read after ${attempts} attempts; emitting an error item for it`,
			{ error: reason },
		);
		return `The message could not be read from the server after ${attempts} attempts: ${reason}`;
	}

	/**
	 * Fetches the sources (small messages together, a large one streamed on its own), builds the items and emits them
	 * in UID order. The checkpoint is stored before each emit. Entries without `meta` only advance the checkpoint.
	 */
	private async emitMessages(
		session: ImapSession,
		folder: string,
		uidValidity: string,
		start: FolderCheckpoint,
		entries: JudgedEntry[],
		batch: BatchEntry[],
	): Promise<FolderCheckpoint> {
		let checkpoint = start;
		const groups = this.fetchGroups(entries);
		while (groups.length > 0) {
			const group = groups.shift() as JudgedEntry[];
			const wanted = group.filter(needsSource);
			let sources: Map<number, Buffer | Readable>;
			try {
				sources = await this.fetchSources(session, group);
			} catch (error) {
				// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
				if (!session.isOpen || this.stopped) throw error;
				if (wanted.length > 1) {
					// The server refused the FETCH of several messages: one at a time, to find the one it cannot serve.
					groups.unshift(...oneMessagePerGroup(group));
					continue;
				}
				sources = new Map();
				wanted[0].unreadable = this.fetchFailed(folder, uidValidity, wanted[0].uid, describeImapError(error));
			}
			// A message asked for and not delivered is passed over only if the server confirms it is gone (expunged
			// meanwhile). One that still exists is asked for again: skipping it would lose it.
			const unanswered = wanted.filter((entry) => !sources.has(entry.uid) && entry.unreadable === undefined);
			if (unanswered.length > 0) {
				const present = await this.stillPresent(session, folder, unanswered.map((entry) => entry.uid));
				for (const entry of unanswered) {
					if (present.has(entry.uid)) {
						entry.unreadable = this.fetchFailed(folder, uidValidity, entry.uid, 'the server answered without its content');
					}
				}
			}
			for (const entry of group) {
				if (this.stopped || this.emitLimitReached()) return checkpoint;
				const meta = entry.meta;
				const source = sources.get(entry.uid);
				const flags = [...(meta?.flags ?? [])];
				let item: INodeExecutionData;
				let actionable = false;
				if (entry.unreadable !== undefined) {
					item = messageErrorItem(describedMessage(folder, uidValidity, entry.uid, meta, flags), entry.unreadable);
				} else if (meta && source) {
					const built = await this.buildItem(session, { ...describedMessage(folder, uidValidity, entry.uid, meta, flags), source });
					// Stopped while the item was built (a large message takes a while): it is not emitted, and the
					// checkpoint must not pass it either, so the next activation emits it.
					if (this.stopped) return checkpoint;
					item = built.item;
					actionable = built.parsed;
					if (this.fetchFailures.size > 0) this.fetchFailures.delete(fetchFailureKey(folder, uidValidity, entry.uid));
				} else {
					// Filtered out, or confirmed gone.
					checkpoint = afterJudging(checkpoint, { uid: entry.uid, fingerprint: '' });
					continue;
				}
				const internalDate = toEpoch(meta?.internalDate);
				const judged = afterJudging(checkpoint, {
					uid: entry.uid,
					internalDate,
					fingerprint: messageFingerprint(meta?.envelope?.messageId, internalDate, meta?.size),
				});
				if (this.config.output.mode === 'batch') {
					checkpoint = judged;
					batch.push({ item, uid: entry.uid, checkpoint, actionable, bytes: meta?.size ?? 0 });
					const batchBytes = batch.reduce((sum, queued) => sum + queued.bytes, 0);
					if (batch.length >= this.config.output.size || batchBytes >= this.config.batchMaxBytes) {
						await this.flushBatch(folder, uidValidity, batch);
					}
				} else {
					// Backpressure: wait while too many runs are unfinished. The checkpoint moves only as the message
					// really goes out (exactly once), so a stop during the wait leaves it to the next activation.
					await this.acquireRunSlot();
					if (this.stopped) return checkpoint;
					checkpoint = judged;
					this.deps.checkpoints.set(folder, checkpoint);
					this.emitRun(folder, uidValidity, actionable ? [entry.uid] : [], [item]);
				}
			}
		}
		return checkpoint;
	}

	/** Groups for fetching: one large message alone, or small ones up to the byte bound (plus the entries between). */
	private fetchGroups(entries: JudgedEntry[]): JudgedEntry[][] {
		const groups: JudgedEntry[][] = [];
		let group: JudgedEntry[] = [];
		let bytes = 0;
		for (const entry of entries) {
			const fetched = needsSource(entry);
			const size = fetched ? (entry.meta?.size ?? 0) : 0;
			const large = fetched && size > this.config.streamAboveBytes;
			if (fetched && group.some(needsSource) && (large || bytes + size > this.config.fetchBatchBytes)) {
				groups.push(group);
				group = [];
				bytes = 0;
			}
			group.push(entry);
			if (fetched) bytes += size;
			if (large) {
				groups.push(group);
				group = [];
				bytes = 0;
			}
		}
		if (group.length > 0) groups.push(group);
		return groups;
	}

	private async fetchSources(session: ImapSession, group: JudgedEntry[]): Promise<Map<number, Buffer | Readable>> {
		const client = session.client;
		const sources = new Map<number, Buffer | Readable>();
		const wanted = group.filter(needsSource);
		if (wanted.length === 0) return sources;
		if (wanted.length === 1 && (wanted[0].meta?.size ?? 0) > this.config.streamAboveBytes) {
			// Streamed in chunks: a 25 MB attachment is never held twice in memory.
			const download = await client.download(String(wanted[0].uid), undefined, { uid: true });
			if (download.content) sources.set(wanted[0].uid, download.content);
			// imapflow 2.10 answers {} also when the connection closed before the download (no mailbox any more).
			else if (!session.isOpen) throw new SessionLostError(`The download of message UID ${wanted[0].uid} got no answer: the connection closed`);
			return sources;
		}
		const range = toUidSet(wanted.map((entry) => entry.uid));
		for await (const message of client.fetch(range, { uid: true, source: true }, { uid: true })) {
			if (message.source) sources.set(message.uid, message.source);
		}
		return sources;
	}

	/** Which of these UIDs still exist in the selected folder (a UID SEARCH); only an answer counts, never silence. */
	private async stillPresent(session: ImapSession, folder: string, uids: number[]): Promise<Set<number>> {
		if (!session.isOpen) throw new SessionLostError(`The connection closed while reading folder "${folder}"`);
		const found = uidsFrom(await session.client.search({ uid: toUidSet(uids) }, { uid: true }), `the check for messages in folder "${folder}"`);
		const asked = new Set(uids);
		return new Set(found.filter((uid) => asked.has(uid)));
	}

	/**
	 * The item for a message, or an error item when the message itself cannot be parsed (an honest error item beats
	 * losing it). Any other failure — the download broke, the connection closed, storing an attachment failed (disk
	 * full) — is thrown: the message is not emitted, and is read again after a backoff.
	 */
	private async buildItem(session: ImapSession, message: WatchedMessage): Promise<{ item: INodeExecutionData; parsed: boolean }> {
		let sourceFailed = false;
		if (!Buffer.isBuffer(message.source)) message.source.once('error', () => (sourceFailed = true));
		try {
			return { item: await this.deps.buildItem(message), parsed: true };
		} catch (error) {
			if (!isMessageContentError(error) && (!session.isOpen || this.stopped || sourceFailed || !isMessageParseFailure(error))) {
				// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
				throw error;
			}
			this.deps.logger.warn(`Gmail IMAP Trigger: message ${describeMessage(message)} could not be parsed; emitting it as an error item`, {
				error: errorText(error),
			});
			return {
				item: messageErrorItem(message, `The message could not be parsed: ${errorText(error)}`),
				parsed: false,
			};
		}
	}

	private async flushBatch(folder: string, uidValidity: string, batch: BatchEntry[]): Promise<void> {
		// Nothing goes out after stop(): n8n has deactivated the workflow.
		if (batch.length === 0 || this.stopped) return;
		await this.acquireRunSlot();
		if (this.stopped) return;
		const entries = batch.splice(0, batch.length);
		this.deps.checkpoints.set(folder, entries[entries.length - 1].checkpoint);
		this.emitRun(
			folder,
			uidValidity,
			entries.filter((entry) => entry.actionable).map((entry) => entry.uid),
			entries.map((entry) => entry.item),
		);
	}

	/** Waits until fewer than maxRunsInFlight runs are unfinished, or stop(). */
	private async acquireRunSlot(): Promise<void> {
		while (!this.stopped && this.runsInFlight >= this.config.maxRunsInFlight) {
			await new Promise<void>((resolve) => this.runSlotWaiters.push(resolve));
		}
	}

	/**
	 * Starts one run. It holds a run slot until n8n reports its end (or runSlotTimeoutMs passes). `actionUids`: the
	 * messages the after-run actions may touch (error items excluded).
	 */
	private emitRun(folder: string, uidValidity: string, actionUids: number[], items: INodeExecutionData[]): void {
		this.emitted++;
		const wantsActions = hasPostActions(this.config.postActions) && actionUids.length > 0;
		let released = false;
		const slotTimeout = setTimeout(() => {
			if (!this.warnedRunSlotTimeout) {
				this.warnedRunSlotTimeout = true;
				this.deps.logger.warn(
					`Gmail IMAP Trigger: a workflow run has not finished after ${Math.round(this.config.runSlotTimeoutMs / 1000)} s; it no longer holds back the next messages`,
				);
			}
			release();
		}, this.config.runSlotTimeoutMs);
		slotTimeout.unref?.();
		this.runSlotTimers.add(slotTimeout);
		const release = () => {
			if (released) return;
			released = true;
			clearTimeout(slotTimeout);
			this.runSlotTimers.delete(slotTimeout);
			this.runsInFlight = Math.max(0, this.runsInFlight - 1);
			this.runSlotWaiters.shift()?.();
		};
		this.runsInFlight++;
		const reportsEnd = this.deps.emit(items, (outcome) => {
			release();
			if (!wantsActions || outcome !== 'succeeded' || this.stopped) return;
			this.postActionQueue.push({ folder, uidValidity, uids: actionUids });
			this.requestCycle();
		});
		if (!reportsEnd) {
			release();
			this.warnRunEndUnknown();
		}
	}

	/** n8n without createDeferredPromise: runs cannot be counted nor after-run actions run. Said once. */
	private warnRunEndUnknown(): void {
		// Test step (maxEmits) emits one message and has no after-run actions: nothing to say.
		if (this.warnedRunEndUnknown || this.config.maxEmits !== undefined) return;
		this.warnedRunEndUnknown = true;
		const consequences = ['the number of runs in progress at once cannot be limited'];
		if (hasPostActions(this.config.postActions)) {
			consequences.push('the after-run actions (mark as read, move, labels, delete) cannot run');
		}
		this.deps.logger.warn(
			`Gmail IMAP Trigger: this n8n version does not report when a workflow run has finished (no createDeferredPromise): ${consequences.join(', and ')}`,
		);
	}
}

/**
 * For WatcherDeps.buildItem: a failure that is not the message's fault (e.g. storing an attachment failed because
 * the disk is full). The message is then read again after a backoff instead of becoming an error item.
 */
export class ItemNotBuiltError extends Error {
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'ItemNotBuiltError';
	}
}

/**
 * Wraps the step that stores attachments (n8n's prepareBinaryData) so that its failures are ItemNotBuiltError: a full
 * disk must not turn a good message into an error item.
 */
export function storageStep<A extends unknown[], R>(store: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
	return async (...args: A) => {
		try {
			return await store(...args);
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- classified by the watcher (retry, not an error item)
			throw new ItemNotBuiltError(`Storing an attachment failed: ${errorText(error)}`, { cause: error });
		}
	};
}

/**
 * Only a failure of the message's content may turn it into an error item (which consumes it). Errors of the machine
 * (Node system errors: ENOSPC, EIO, ERR_STREAM_PREMATURE_CLOSE, ...) and ItemNotBuiltError are not.
 */
export function isMessageParseFailure(error: unknown): boolean {
	if (isMessageContentError(error)) return true;
	if (error instanceof ItemNotBuiltError) return false;
	if (!error || typeof error !== 'object') return true;
	const fields = error as { code?: unknown; errno?: unknown; syscall?: unknown };
	if (typeof fields.errno === 'number' || typeof fields.syscall === 'string') return false;
	return !(typeof fields.code === 'string' && /^(E[A-Z0-9]+|ERR_[A-Z0-9_]+)$/.test(fields.code));
}

class SessionEndedError extends Error {
	constructor(readonly end: { byeReason?: string; error?: Error }) {
		super(`IMAP session ended${end.byeReason ? `: ${end.byeReason}` : end.error ? `: ${end.error.message}` : ''}`);
		this.name = 'SessionEndedError';
	}
}

/**
 * A command got no answer because the connection went away under it. imapflow 2.10 reports that for some commands
 * with an empty result instead of an error (search() → undefined, download() → {}), which must never be read as
 * "no such message": the session is given up, and the next one catches up from the checkpoint.
 */
class SessionLostError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'SessionLostError';
	}
}

/** The server refused a command (NO/BAD) while the session stayed open. */
class ServerRefusedError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'ServerRefusedError';
	}
}

function fetchFailureKey(folder: string, uidValidity: string, uid: number): string {
	return `${folder}\u0000${uidValidity}\u0000${uid}`;
}

/** The message as the metadata FETCH describes it (no content): for items, error items and log lines. */
function describedMessage(
	folder: string,
	uidValidity: string,
	uid: number,
	meta: FetchMessageObject | undefined,
	flags: string[],
): MessageDescription {
	const internalDate = toEpoch(meta?.internalDate);
	return {
		folder,
		uid,
		uidValidity,
		size: meta?.size,
		flags,
		internalDate: internalDate !== undefined ? new Date(internalDate) : undefined,
		messageId: meta?.envelope?.messageId,
		envelope: meta?.envelope,
		labels: meta?.labels ? [...meta.labels] : undefined,
		threadId: meta?.threadId,
		emailId: meta?.emailId,
	};
}

/** An entry whose content is to be downloaded: admitted, and neither unreadable nor too large. */
function needsSource(entry: JudgedEntry): boolean {
	return entry.meta !== undefined && entry.unreadable === undefined;
}

/** Splits a fetch group so that each part asks for one message (the entries that need no fetch go along). */
function oneMessagePerGroup(group: JudgedEntry[]): JudgedEntry[][] {
	const parts: JudgedEntry[][] = [];
	let part: JudgedEntry[] = [];
	for (const entry of group) {
		part.push(entry);
		if (needsSource(entry)) {
			parts.push(part);
			part = [];
		}
	}
	if (part.length > 0) parts.push(part);
	return parts;
}

/** An IMAP error with the server's own words (imapflow keeps them in responseText, the message is just "Command failed"). */
function describeImapError(error: unknown): string {
	const responseText = imapErrorFields(error).responseText;
	const text = errorText(error);
	return responseText && !text.includes(responseText) ? `${text} (${responseText})` : text;
}

/** A UID SEARCH result: only an array is an answer; false is a refusal, undefined a lost connection (imapflow 2.10). */
function uidsFrom(result: number[] | false | undefined, what: string): number[] {
	if (Array.isArray(result)) return result;
	if (result === false) throw new ServerRefusedError(`The mail server refused ${what}`);
	throw new SessionLostError(`No answer to ${what}: the connection closed`);
}

function isCredentialProblem(error: unknown): boolean {
	return (
		error instanceof AccessTokenRejectedError || error instanceof TokenRefreshFailedError || error instanceof TokenRejectedError
	);
}

function toEpoch(value: Date | string | undefined): number | undefined {
	if (value === undefined) return undefined;
	const time = value instanceof Date ? value.getTime() : new Date(value).getTime();
	return Number.isNaN(time) ? undefined : time;
}

function clamp(value: number, min: number, max: number): number {
	return Math.min(max, Math.max(min, value));
}

function delay(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

function safeClose(client: ImapClient): void {
	try {
		client.close();
	} catch {
		// already closed
	}
}

export function errorText(error: unknown): string {
	if (error instanceof Error) return error.message;
	return String(error);
}
