/**
 * Durable delivery: the runs the watcher has emitted and n8n has not yet reported. Each is stored (with its
 * deduplication key) in the same static-data write as the checkpoint that passes its messages, and leaves when n8n
 * reports the run's end. What is left at the next activation — n8n stopped or died in between — is emitted again with
 * the same key, so n8n starts it only where no execution exists. See docs/delivery.md.
 */
import { createHash } from 'node:crypto';

import { toUidSet } from '../postActions';
import type { CheckpointStorage } from './config';
import type { DueTimes } from './dueTimes';
import type { WatcherLog } from './log';

export interface InFlightDelivery {
	/** n8n's deduplication key of the run: the same for every emit of these messages. */
	key: string;
	folder: string;
	uidValidity: string;
	/** The messages of the run (one, or a batch), as emitted. */
	uids: number[];
	/** When it was first emitted (epoch ms). */
	emittedAt: number;
	/**
	 * Deliberate redeliveries so far: n8n gave up on the run before the workflow ran (its execution exists, so the
	 * original key would be skipped). Each one has a key of its own. Absent: 0.
	 */
	attempt?: number;
}

/** n8n giving up on the same messages this often is no accident (a workflow that cannot start): the record stops. */
export const MAX_ABANDONED_REDELIVERIES = 3;

/** At most this many runs are remembered; beyond it the oldest is forgotten (with a warning). */
export const MAX_IN_FLIGHT = 1_000;

/**
 * The deduplication key of a run: what identifies its messages for this trigger — `scope` (workflow, node and mail
 * account, from the caller), folder, UIDVALIDITY and UIDs, and the folder's generation (raised when a restored server
 * hands out old UIDs again) — hashed, so it is the same across restarts and on every n8n instance, and fits n8n's
 * 255-character column.
 */
export function deliveryKey(scope: string, folder: string, uidValidity: string, uids: readonly number[], generation = 0): string {
	const identity = JSON.stringify(generation > 0 ? [scope, folder, uidValidity, toUidSet(uids), generation] : [scope, folder, uidValidity, toUidSet(uids)]);
	return `gmail-imap:${createHash('sha256').update(identity).digest('hex')}`;
}

/** The key of a deliberate redelivery: the run's key and `#attempt` (76 characters at most; the column takes 255). */
export function attemptKey(key: string, attempt: number): string {
	const base = key.replace(/#\d+$/, '');
	return attempt > 0 ? `${base}#${attempt}` : base;
}

export class InFlightRecord {
	/** Failed emits per key in this process: the backoff before the next one grows with them. */
	private readonly failedEmits = new Map<string, number>();

	constructor(
		private readonly storage: CheckpointStorage,
		private readonly due: DueTimes,
		private readonly log: WatcherLog,
		private readonly now: () => number,
		private readonly backoff: { firstMs: number; maxMs: number },
	) {}

	/**
	 * At activation: every stored run is due again now (its outcome was never reported to this process). Runs of
	 * folders no longer watched are forgotten. Returns how many are due.
	 */
	loadLeftovers(watchedFolders: readonly string[]): number {
		const watched = new Set(watchedFolders);
		const kept: InFlightDelivery[] = [];
		for (const delivery of this.storage.inFlight()) {
			if (watched.has(delivery.folder)) kept.push(delivery);
			else this.log.warn(`a run for ${delivery.uids.length} message(s) of folder "${delivery.folder}" was not reported finished, but that folder is no longer watched: it is not emitted again`);
		}
		if (kept.length !== this.storage.inFlight().length) this.storage.setInFlight(kept);
		for (const delivery of kept) this.due.set(delivery.key, this.now());
		if (kept.length > 0) {
			this.log.info(`${kept.length} run(s) were emitted before n8n stopped and not reported finished; emitting them again (n8n skips those that have an execution)`);
		}
		return kept.length;
	}

	/** Records a run that is about to be emitted (call right before the emit, after the checkpoint is set). */
	add(delivery: InFlightDelivery): void {
		const list = this.storage.inFlight().filter((existing) => existing.key !== delivery.key);
		list.push(delivery);
		while (list.length > MAX_IN_FLIGHT) {
			const dropped = list.shift() as InFlightDelivery;
			this.due.delete(dropped.key);
			this.log.warn(`more than ${MAX_IN_FLIGHT} runs are unreported; the oldest (${dropped.uids.length} message(s) of "${dropped.folder}") is no longer tracked`);
		}
		this.storage.setInFlight(list);
		this.due.delete(delivery.key);
	}

	/** A run emitted again: no longer due (until n8n reports it, or fails to create it again). */
	sentAgain(key: string): void {
		this.due.delete(key);
	}

	/** n8n reported the run (finished, or skipped because an execution exists): it leaves the record. */
	settle(key: string): void {
		this.due.delete(key);
		this.failedEmits.delete(key);
		const list = this.storage.inFlight();
		if (list.some((delivery) => delivery.key === key)) this.storage.setInFlight(list.filter((delivery) => delivery.key !== key));
	}

	/** n8n could not create the execution (the done promise rejected): emitted again after a growing backoff. */
	emitLater(key: string, reason: string): void {
		const delivery = this.storage.inFlight().find((entry) => entry.key === key);
		if (!delivery) return;
		const failures = (this.failedEmits.get(key) ?? 0) + 1;
		this.failedEmits.set(key, failures);
		const delayMs = Math.min(this.backoff.maxMs, this.backoff.firstMs * 2 ** (failures - 1));
		this.log.warn(
			`n8n did not start the run for ${delivery.uids.length} message(s) of "${delivery.folder}" (${reason}); emitting it again in ${Math.round(delayMs / 1000)} s`,
		);
		this.due.set(key, this.now() + delayMs);
	}

	/**
	 * n8n created the execution but gave up before any node ran (queue mode: the job stalled too often). The messages
	 * were never delivered: they are emitted again after a backoff under a new key (the old one has its execution),
	 * at most MAX_ABANDONED_REDELIVERIES times.
	 */
	redeliverAbandoned(key: string): void {
		const list = this.storage.inFlight();
		const delivery = list.find((entry) => entry.key === key);
		if (!delivery) return;
		const attempt = (delivery.attempt ?? 0) + 1;
		if (attempt > MAX_ABANDONED_REDELIVERIES) {
			this.settle(key);
			this.log.warn(
				`n8n gave up on the run for UID(s) ${delivery.uids.join(', ')} in "${delivery.folder}" ${attempt} times before the workflow ran; not emitting it again (see its executions)`,
			);
			return;
		}
		const next: InFlightDelivery = { ...delivery, key: attemptKey(delivery.key, attempt), attempt };
		this.due.delete(key);
		this.storage.setInFlight(list.map((entry) => (entry.key === key ? next : entry)));
		// The first time at once: until the new key goes out with an emit, only memory knows it (a crash in between
		// would leave the old key, which n8n skips). Later attempts back off: something keeps failing.
		const delayMs = attempt === 1 ? 0 : Math.min(this.backoff.maxMs, this.backoff.firstMs * 2 ** (attempt - 2));
		this.log.warn(
			`n8n gave up on the run for UID(s) ${delivery.uids.join(', ')} in "${delivery.folder}" before the workflow ran; emitting it again in ${Math.round(delayMs / 1000)} s (attempt ${attempt})`,
		);
		this.due.set(next.key, this.now() + delayMs);
	}

	/** The runs of this folder that are due to be emitted again now. */
	dueFor(folder: string): InFlightDelivery[] {
		return this.storage.inFlight().filter((delivery) => delivery.folder === folder && this.due.isDue(delivery.key));
	}

	/**
	 * True while at least `limit` runs wait to be emitted again (n8n could not create them, e.g. its database is down):
	 * new mail then waits too, instead of piling up runs n8n cannot take.
	 */
	holdsBack(limit: number): boolean {
		let waiting = 0;
		for (const delivery of this.storage.inFlight()) if (this.due.has(delivery.key) && ++waiting >= limit) return true;
		return false;
	}

	hasDue(folder: string): boolean {
		return this.dueFor(folder).length > 0;
	}

	/**
	 * The folder's UIDs now name other messages (UIDVALIDITY changed, UIDNEXT went back) or nothing (folder gone):
	 * its unreported runs cannot be emitted again. Said in the log; the README names this limit.
	 */
	dropFolder(folder: string, reason: string): void {
		const list = this.storage.inFlight();
		const dropped = list.filter((delivery) => delivery.folder === folder);
		if (dropped.length === 0) return;
		for (const delivery of dropped) this.due.delete(delivery.key);
		this.storage.setInFlight(list.filter((delivery) => delivery.folder !== folder));
		const messages = dropped.reduce((sum, delivery) => sum + delivery.uids.length, 0);
		this.log.warn(`${messages} message(s) of "${folder}" whose runs were not reported finished cannot be emitted again because ${reason}`);
	}
}
