/** The after-run queue: actions (mark read, labels, move, delete) for messages whose runs succeeded. */
import { applyPostActions } from '../postActions';
import type { PostActionPlan } from '../postActions';
import type { ImapSession } from '../session';
import { errorText } from './errors';
import type { WatcherLog } from './log';

interface PendingPostAction {
	folder: string;
	uidValidity: string;
	uids: number[];
	/** How many times the server refused the actions while the connection stayed up. */
	refusals?: number;
}

/**
 * Refusals of an after-run action before it is reported and given up. A refusal is often transient: Gmail's
 * `NO [UNAVAILABLE]`, or Dovecot failing a STORE whose index lock a shutdown interrupted, just before it ends the
 * session. One that lasts (a target folder deleted since activation) is reported after this many passes. Only
 * actions that can be repeated are tried again: flags, labels, MOVE, STORE \Deleted + UID EXPUNGE. A move on a
 * server without MOVE is COPY then delete, and a refusal may come after the COPY: repeating it could copy again.
 */
export const AFTER_RUN_ATTEMPTS = 3;

export class AfterRunQueue {
	private readonly queue: PendingPostAction[] = [];

	constructor(
		private readonly plan: PostActionPlan | undefined,
		private readonly log: WatcherLog,
		private readonly reportPersistentFault: (error: Error) => void,
	) {}

	add(folder: string, uidValidity: string, uids: number[]): void {
		this.queue.push({ folder, uidValidity, uids });
	}

	/**
	 * The trigger stops: what is still queued is not done (the message stays as it was). Said for the actions the
	 * server had already refused, which were waiting for another try (the warning then promised one).
	 */
	stopped(): void {
		const refused = this.queue.filter((job) => (job.refusals ?? 0) > 0);
		const count = refused.reduce((total, job) => total + job.uids.length, 0);
		if (count > 0) {
			const folders = [...new Set(refused.map((job) => `"${job.folder}"`))].join(', ');
			this.log.warn(`after-run action on ${count} message(s) in ${folders}, refused by the server earlier, was not done: the trigger stopped before another try`);
		}
	}

	has(folder: string): boolean {
		return this.queue.some((job) => job.folder === folder);
	}

	/** Voids the folder's pending actions (its UIDs now name other messages, or nothing). */
	drop(folder: string, reason: string): void {
		let dropped = 0;
		for (let index = this.queue.length - 1; index >= 0; index--) {
			if (this.queue[index].folder !== folder) continue;
			dropped += this.queue[index].uids.length;
			this.queue.splice(index, 1);
		}
		if (dropped > 0) {
			this.log.warn(`after-run actions for ${dropped} message(s) in "${folder}" were dropped because ${reason}`);
		}
	}

	/** Runs the folder's pending actions; the caller holds the folder selected with this UIDVALIDITY. */
	async run(session: ImapSession, folder: string, uidValidity: string): Promise<void> {
		const plan = this.plan;
		const jobs = this.queue.filter((job) => job.folder === folder);
		if (jobs.length === 0 || !plan) return;
		const uids = jobs.filter((job) => job.uidValidity === uidValidity).flatMap((job) => job.uids);
		try {
			await applyPostActions(session.client, uids, plan);
		} catch (error) {
			// A dropped connection: keep the jobs for the next session. A refusal: kept for the next passes where the
			// actions can be repeated (see AFTER_RUN_ATTEMPTS), reported and dropped once refused that many times.
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			if (!session.isOpen) throw error;
			const repeatable = !plan.moveTo || session.client.capabilities.has('MOVE');
			const current = jobs.filter((job) => job.uidValidity === uidValidity);
			for (const job of current) job.refusals = repeatable ? (job.refusals ?? 0) + 1 : AFTER_RUN_ATTEMPTS;
			const exhausted = current.filter((job) => (job.refusals ?? 0) >= AFTER_RUN_ATTEMPTS);
			const exhaustedUids = exhausted.reduce((count, job) => count + job.uids.length, 0);
			if (exhaustedUids < uids.length) {
				this.log.warn(`after-run action on ${uids.length - exhaustedUids} message(s) in "${folder}" was refused; it will be tried again at the next pass`, {
					error: errorText(error),
				});
			}
			if (exhausted.length > 0) {
				this.reportPersistentFault(new Error(`After-run action on ${exhaustedUids} message(s) in "${folder}" failed: ${errorText(error)}`));
			}
			for (const job of jobs) if (job.uidValidity !== uidValidity || exhausted.includes(job)) this.queue.splice(this.queue.indexOf(job), 1);
			return;
		}
		for (const job of jobs) this.queue.splice(this.queue.indexOf(job), 1);
	}
}
