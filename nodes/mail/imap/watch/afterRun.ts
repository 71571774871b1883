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
}

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
			// A dropped connection: keep the jobs for the next session. Anything else: the server refuses the action
			// (e.g. the target folder does not exist) and repeating it will not help.
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			if (!session.isOpen) throw error;
			this.reportPersistentFault(new Error(`After-run action on ${uids.length} message(s) in "${folder}" failed: ${errorText(error)}`));
		}
		for (const job of jobs) this.queue.splice(this.queue.indexOf(job), 1);
	}
}
