/** Emits items: one run per message or in batches, each holding a run slot; the checkpoint is stored before each emit. */
import type { INodeExecutionData } from 'n8n-workflow';

import type { FolderCheckpoint } from '../checkpoint';
import { hasPostActions } from '../postActions';
import type { WatcherConfig, WatcherDeps } from './config';
import type { WatcherLog } from './log';
import type { RunSlots } from './runSlots';

export interface Outgoing {
	item: INodeExecutionData;
	uid: number;
	/** The folder's checkpoint once this item has gone out. */
	checkpoint: FolderCheckpoint;
	/** False for error items: after-run actions never touch a message the workflow did not get. */
	actionable: boolean;
	bytes: number;
}

type EmitterConfig = Pick<WatcherConfig, 'output' | 'batchMaxBytes' | 'maxEmits' | 'postActions'>;

export class Emitter {
	private emitted = 0;
	private warnedRunEndUnknown = false;

	constructor(
		private readonly config: EmitterConfig,
		private readonly deps: Pick<WatcherDeps, 'emit' | 'checkpoints'>,
		private readonly slots: RunSlots,
		private readonly log: WatcherLog,
		private readonly signal: AbortSignal,
		/** A run whose messages have after-run actions succeeded. */
		private readonly onSucceeded: (folder: string, uidValidity: string, uids: number[]) => void,
	) {}

	/** Manual "Test step": no more emits after maxEmits. */
	limitReached(): boolean {
		return this.config.maxEmits !== undefined && this.emitted >= this.config.maxEmits;
	}

	/**
	 * Sends one item: at once in its own run, or into `batch` (sent when full). False when the watcher stopped before
	 * the item's run could start (per-message mode): the item did not go out and its checkpoint was not stored.
	 */
	async send(folder: string, uidValidity: string, outgoing: Outgoing, batch: Outgoing[]): Promise<boolean> {
		if (this.config.output.mode === 'batch') {
			batch.push(outgoing);
			const batchBytes = batch.reduce((sum, queued) => sum + queued.bytes, 0);
			if (batch.length >= this.config.output.size || batchBytes >= this.config.batchMaxBytes) await this.flush(folder, uidValidity, batch);
			return true;
		}
		// Backpressure: wait while too many runs are unfinished. The checkpoint moves only as the message really goes
		// out (exactly once), so a stop during the wait leaves it to the next activation.
		await this.slots.acquire();
		if (this.signal.aborted) return false;
		this.deps.checkpoints.set(folder, outgoing.checkpoint);
		this.run(folder, uidValidity, [outgoing]);
		return true;
	}

	/** Sends what the batch holds, in one run. */
	async flush(folder: string, uidValidity: string, batch: Outgoing[]): Promise<void> {
		// Nothing goes out after stop(): n8n has deactivated the workflow.
		if (batch.length === 0 || this.signal.aborted) return;
		await this.slots.acquire();
		if (this.signal.aborted) return;
		const entries = batch.splice(0, batch.length);
		this.deps.checkpoints.set(folder, entries[entries.length - 1].checkpoint);
		this.run(folder, uidValidity, entries);
	}

	/** Starts one run, holding a run slot until n8n reports its end (or the slot times out). */
	private run(folder: string, uidValidity: string, entries: Outgoing[]): void {
		this.emitted++;
		const actionUids = entries.filter((entry) => entry.actionable).map((entry) => entry.uid);
		const wantsActions = hasPostActions(this.config.postActions) && actionUids.length > 0;
		const release = this.slots.hold();
		const reportsEnd = this.deps.emit(
			entries.map((entry) => entry.item),
			(outcome) => {
				release();
				if (!wantsActions || outcome !== 'succeeded' || this.signal.aborted) return;
				this.onSucceeded(folder, uidValidity, actionUids);
			},
		);
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
		this.log.warn(
			`this n8n version does not report when a workflow run has finished (no createDeferredPromise): ${consequences.join(', and ')}`,
		);
	}
}
