/** The mailbox watcher: a facade that wires the parts in ./watch and owns the one AbortController that stops them. */
import type { ImapClient } from './client';
import type { ImapSession } from './session';
import { onAbort, sleep, unrefDelay } from './watch/abort';
import { Activation } from './watch/activation';
import { AfterRunQueue } from './watch/afterRun';
import { CatchUp } from './watch/catchUp';
import { ClientTracker } from './watch/clients';
import type { WatcherConfig, WatcherDeps } from './watch/config';
import { DueTimes } from './watch/dueTimes';
import { Emitter } from './watch/emitter';
import { GmailSeen } from './watch/gmailSeen';
import { InFlightRecord } from './watch/inFlight';
import { WatcherConfigurationError, errorText } from './watch/errors';
import { FolderPass } from './watch/folderPass';
import type { WatcherLog } from './watch/log';
import { watcherLog } from './watch/log';
import { MessageReader } from './watch/reader';
import { Recovery } from './watch/recovery';
import { RetryList } from './watch/retryList';
import { RunSlots } from './watch/runSlots';
import { SessionSupervisor } from './watch/supervisor';
import { WakeScheduler } from './watch/wake';

export type { WatchedMessage } from './messageItems';
export type { CheckpointStorage, OutputMode, WatcherConfig, WatcherDeps } from './watch/config';
export { DEFAULT_WATCHER_CONFIG } from './watch/config';
export type { InFlightDelivery } from './watch/inFlight';
export type { RetryEntry } from './watch/retryList';
export { ItemNotBuiltError, WatcherConfigurationError, errorText, isMessageParseFailure, storageStep } from './watch/errors';

/**
 * Watches the configured folders over ONE IMAP session at a time (two for a moment during a token rollover): IDLE
 * on the first folder, STATUS for the others. Every wake-up runs one serial pass that catches each folder up from
 * its checkpoint by UID, emits, and runs the after-run actions of succeeded runs. See docs/imap-trigger.md.
 */
export class MailboxWatcher {
	private readonly config: WatcherConfig;
	private readonly controller = new AbortController();
	private readonly log: WatcherLog;
	private readonly clients: ClientTracker;
	private readonly wake: WakeScheduler;
	private readonly supervisor: SessionSupervisor;
	private readonly activation: Activation;
	private readonly folderPass: FolderPass;
	private readonly emitter: Emitter;
	private readonly inFlight?: InFlightRecord;
	private readonly retries: RetryList;
	private loop?: Promise<void>;
	private fatalReported = false;

	constructor(
		config: WatcherConfig,
		private readonly deps: WatcherDeps,
	) {
		if (config.folders.length === 0) throw new WatcherConfigurationError('Choose at least one folder to watch');
		this.config = { ...config, folders: [...new Set(config.folders)] };
		const now = deps.now ?? Date.now;
		const clock = { now, random: deps.random ?? Math.random };
		const signal = this.controller.signal;
		const log = (this.log = watcherLog(deps.logger, deps.logName));
		const fatal = (error: unknown) => this.fatal(error);
		const report = (error: Error) => deps.reportPersistentFault(error);
		this.clients = new ClientTracker(signal);
		this.wake = new WakeScheduler(signal);
		const afterRun = new AfterRunQueue(this.config.postActions, log, report);
		onAbort(this.controller.signal, () => afterRun.stopped());
		const slots = new RunSlots(this.config.maxRunsInFlight, this.config.runSlotTimeoutMs, log, signal);
		const due = new DueTimes(now, () => this.wake.request(), signal, this.config.maxTimerWaitMs);
		const storage = deps.checkpoints;
		// Runs are tracked (and keyed) only where n8n can report their end: see deliveryScope.
		const inFlight =
			this.config.deliveryScope !== undefined ? new InFlightRecord(storage, due, log, now, this.config.redeliveryBackoff) : undefined;
		this.inFlight = inFlight;
		const retries = (this.retries = new RetryList(storage, due, this.config.itemRetry, log, now));
		const gmail = () => this.supervisor.gmail;
		const gmailSeen = new GmailSeen(storage, () => gmail() && this.config.folders.length > 1);
		this.emitter = new Emitter(this.config, deps, {
			slots,
			inFlight,
			gmailSeen,
			log,
			signal,
			now,
			onSucceeded: (folder, uidValidity, uids) => {
				afterRun.add(folder, uidValidity, uids);
				this.wake.request();
			},
		});
		const reader = new MessageReader(this.config, log, signal);
		const parts = { reader, emitter: this.emitter, inFlight, retries, gmailSeen, log, signal, now, gmail };
		const catchUp = new CatchUp(this.config, deps, parts, {
			gmail,
			rolloverDue: () => this.supervisor.rollover.due,
			passAgain: () => this.wake.markDirty(),
		});
		const recovery = new Recovery(this.config, deps, parts);
		this.folderPass = new FolderPass(this.config, deps, { ...parts, afterRun, recovery, catchUp, fatal });
		this.activation = new Activation(this.config, deps, now);
		this.supervisor = new SessionSupervisor(this.config, deps, clock, log, signal, this.wake, {
			pass: async (session) => await this.pass(session),
			passesAllowed: () => !this.emitter.limitReached(),
			onExists: (path, count, prevCount) => this.onExists(path, count, prevCount),
			fatal,
		});
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
			this.log.warn('the saved position belongs to another mail account (the credential was changed); starting as on a first activation');
		}
		let session: ImapSession | undefined;
		try {
			session = await this.supervisor.open('activation');
			await this.activation.prepare(session, this.supervisor.gmail);
		} catch (error) {
			session?.destroy();
			if (this.activation.isPermanent(error, options.failFast)) throw this.activation.startError(error);
			this.log.warn('the mail server is not reachable yet, will keep trying', { error: errorText(error) });
			this.activation.positionOffline();
			session = undefined;
		}
		this.supervisor.current = session;
		// Runs n8n never reported (it stopped or died) go out again with their keys, and the retry list resumes: both in
		// the first passes, never inside trigger().
		this.inFlight?.loadLeftovers(this.config.folders);
		this.retries.load(this.config.folders);
		this.wake.startPolling(this.config.pollIntervalMs);
		// Anything the loop does not handle itself (a throwing n8n callback, a bug) must end the trigger visibly, not
		// leave it silently dead with an unhandled rejection.
		this.loop = this.supervisor.run().catch((error: unknown) => this.fatal(error));
	}

	/** Ends every connection at once (no LOGOUT round trip) and waits briefly for the loop to notice. */
	async stop(): Promise<void> {
		if (this.controller.signal.aborted) return;
		// Every part listens to this signal: timers, waits and run-slot waiters end, tracked clients are destroyed.
		this.controller.abort();
		this.supervisor.current?.destroy();
		if (this.loop) await Promise.race([this.loop.catch(() => undefined), unrefDelay(1500)]);
	}

	/** Every client this watcher created and that is not known to be closed: stop() destroys them all. */
	trackClient(client: ImapClient): void {
		this.clients.track(client);
	}

	/** Open clients right now (tests assert that nothing leaks). */
	get openClientCount(): number {
		return this.clients.openCount;
	}

	private async pass(session: ImapSession): Promise<void> {
		const verifying = this.wake.verifySelected;
		const mark = this.wake.verificationMark();
		const severalBefore = this.emitter.severalMessageRuns;
		await this.folderPass.run(session, () => this.wake.verifySelected);
		if (verifying) this.wake.verified(mark);
		// A burst: let more of it arrive before the next pass (each run costs n8n far more than a message costs us).
		if (this.emitter.severalMessageRuns > severalBefore) await sleep(this.config.burstSettleMs, this.controller.signal);
	}

	private onExists(path: string, count: number, prevCount: number): void {
		// Growth of the folder we IDLE on means new mail. (imapflow reports no 'exists' when SELECT switches folders,
		// so our own folder switches cannot cause passes; expunges shrink the count and are ignored.)
		if (count <= prevCount) return;
		this.folderPass.noteNewMail();
		if (path !== this.folderPass.idlePath) return;
		this.wake.request();
	}

	private fatal(error: unknown): void {
		if (this.fatalReported || this.controller.signal.aborted) return;
		this.fatalReported = true;
		const reported = error instanceof Error ? error : new Error(String(error));
		this.log.stopped(reported.message);
		void this.stop();
		this.deps.reportFatal(reported);
	}
}
