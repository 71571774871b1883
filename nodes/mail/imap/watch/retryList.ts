/**
 * Messages whose item could not be built for a reason that is not their content (storing an attachment failed — a
 * full disk —, the download broke): kept in a persisted list and tried again later with a growing delay while newer
 * mail of the folder flows on. After enough attempts spread over enough time (a full disk gets a day to recover),
 * the message goes out as an error item naming it and the reason. Nothing is lost either way.
 */
import type { CheckpointStorage, WatcherConfig } from './config';
import type { DueTimes } from './dueTimes';
import type { WatcherLog } from './log';

export interface RetryEntry {
	uid: number;
	uidValidity: string;
	attempts: number;
	firstFailedAt: number;
	nextAttemptAt: number;
	/** The last failure, for the error item when the list gives up. */
	reason: string;
}

export type RetryPolicy = WatcherConfig['itemRetry'];

/** The delay before attempt `attempts + 1`: first, doubling, capped. */
export function retryDelayMs(policy: RetryPolicy, attempts: number): number {
	return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.max(0, attempts - 1));
}

/** True when a message has failed often enough, over long enough, to be given up as an error item. */
export function retriesExhausted(policy: RetryPolicy, entry: RetryEntry, now: number): boolean {
	return entry.attempts >= policy.attempts && now - entry.firstFailedAt >= policy.minSpanMs;
}

export class RetryList {
	constructor(
		private readonly storage: CheckpointStorage,
		private readonly due: DueTimes,
		private readonly policy: RetryPolicy,
		private readonly log: WatcherLog,
		private readonly now: () => number,
	) {}

	/** At activation: a timer for every stored entry. */
	load(folders: readonly string[]): void {
		for (const folder of folders) {
			for (const entry of this.storage.retries(folder)) this.due.set(dueKey(folder, entry.uid), entry.nextAttemptAt);
		}
	}

	/**
	 * A message failed for the first time: into the list (stored before the checkpoint passes it). False when the list
	 * is full: then the folder waits for this message as before, so the list's size stays bounded.
	 */
	add(folder: string, uidValidity: string, uid: number, reason: string): boolean {
		const list = this.storage.retries(folder);
		if (list.some((entry) => entry.uid === uid)) return true;
		if (list.length >= this.policy.maxEntries) return false;
		const now = this.now();
		const entry: RetryEntry = { uid, uidValidity, attempts: 1, firstFailedAt: now, nextAttemptAt: now + retryDelayMs(this.policy, 1), reason };
		this.storage.setRetries(folder, [...list, entry]);
		this.due.set(dueKey(folder, uid), entry.nextAttemptAt);
		return true;
	}

	/** Whether this message waits in the list (catch-up passes over it: the list emits it). */
	has(folder: string, uid: number): boolean {
		return this.storage.retries(folder).some((entry) => entry.uid === uid);
	}

	/** Entries of the folder whose next attempt is due. */
	dueFor(folder: string): RetryEntry[] {
		const now = this.now();
		return this.storage.retries(folder).filter((entry) => entry.nextAttemptAt <= now);
	}

	hasDue(folder: string): boolean {
		return this.dueFor(folder).length > 0;
	}

	/** Another failed attempt. Returns true when the message is to be given up (emitted as an error item) now. */
	failedAgain(folder: string, uid: number, reason: string): boolean {
		const list = this.storage.retries(folder);
		const entry = list.find((existing) => existing.uid === uid);
		if (!entry) return false;
		const now = this.now();
		const next: RetryEntry = { ...entry, attempts: entry.attempts + 1, reason };
		if (retriesExhausted(this.policy, next, now)) return true;
		next.nextAttemptAt = now + retryDelayMs(this.policy, next.attempts);
		this.storage.setRetries(folder, list.map((existing) => (existing.uid === uid ? next : existing)));
		this.due.set(dueKey(folder, uid), next.nextAttemptAt);
		return false;
	}

	/** The message went out (as an item or an error item) or is gone: it leaves the list. */
	remove(folder: string, uid: number): void {
		this.due.delete(dueKey(folder, uid));
		const list = this.storage.retries(folder);
		if (list.some((entry) => entry.uid === uid)) this.storage.setRetries(folder, list.filter((entry) => entry.uid !== uid));
	}

	/** The folder's UIDs now name other messages: its entries cannot be read again. Said in the log. */
	dropFolder(folder: string, reason: string): void {
		const list = this.storage.retries(folder);
		if (list.length === 0) return;
		for (const entry of list) this.due.delete(dueKey(folder, entry.uid));
		this.storage.setRetries(folder, []);
		this.log.warn(`${list.length} message(s) of "${folder}" waiting to be tried again cannot be read any more because ${reason}`, {
			uids: list.map((entry) => entry.uid),
		});
	}
}

function dueKey(folder: string, uid: number): string {
	return `retry\u0000${folder}\u0000${uid}`;
}
