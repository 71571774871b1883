/**
 * Emits items: one run per message or in batches, each holding a run slot. Right before each emit the folder's
 * checkpoint, the run's in-flight entry (with its deduplication key) and the Gmail ids are stored, so n8n saves them
 * together with the emit (see docs/delivery.md).
 */
import type { INodeExecutionData } from 'n8n-workflow';

import type { FolderCheckpoint } from '../checkpoint';
import type { RunOutcome } from '../postActions';
import { hasPostActions } from '../postActions';
import { errorText } from './errors';
import type { WatcherConfig, WatcherDeps } from './config';
import type { GmailSeen } from './gmailSeen';
import type { InFlightDelivery, InFlightRecord } from './inFlight';
import { deliveryKey } from './inFlight';
import type { WatcherLog } from './log';
import type { RunSlots } from './runSlots';

export interface Outgoing {
	item: INodeExecutionData;
	uid: number;
	/** The folder's checkpoint once this item has gone out; undefined: the checkpoint does not move (a redelivery). */
	checkpoint?: FolderCheckpoint;
	/** False for error items: after-run actions never touch a message the workflow did not get. */
	actionable: boolean;
	bytes: number;
	/** Gmail's X-GM-MSGID, remembered across folders once emitted. */
	gmailId?: string;
	/** Stores what else goes with this emit (e.g. leaving the retry list): called right before it, with the checkpoint. */
	beforeEmit?: () => void;
}

type EmitterConfig = Pick<WatcherConfig, 'output' | 'batchMaxBytes' | 'maxEmits' | 'postActions' | 'deliveryScope'>;

export interface EmitterParts {
	slots: RunSlots;
	/** Undefined where runs cannot be tracked (no deliveryScope). */
	inFlight?: InFlightRecord;
	gmailSeen: GmailSeen;
	log: WatcherLog;
	signal: AbortSignal;
	now: () => number;
	/** A run whose messages have after-run actions succeeded. */
	onSucceeded: (folder: string, uidValidity: string, uids: number[]) => void;
}

export class Emitter {
	private emitted = 0;
	private startedSeveral = 0;
	private warnedRunEndUnknown = false;

	constructor(
		private readonly config: EmitterConfig,
		private readonly deps: Pick<WatcherDeps, 'emit' | 'checkpoints'>,
		private readonly parts: EmitterParts,
	) {}

	/** Runs started with more than one message (the watcher lets a burst settle after a pass that started one). */
	get severalMessageRuns(): number {
		return this.startedSeveral;
	}

	/** Manual "Test step": no more emits after maxEmits. */
	limitReached(): boolean {
		return this.config.maxEmits !== undefined && this.emitted >= this.config.maxEmits;
	}

	/**
	 * The batch size for a catch-up that found `waiting` messages to emit: undefined for one run per message (always in
	 * that mode; in adaptive mode when only one message waits).
	 */
	batchSize(waiting: number): number | undefined {
		const output = this.config.output;
		if (output.mode === 'batch') return output.size;
		if (output.mode === 'adaptive' && waiting > 1) return output.size;
		return undefined;
	}

	/**
	 * Sends one item: at once in its own run, or into `batch` (sent when `batchSize` is reached). False when the watcher
	 * stopped before the item's run could start (one run per message): the item did not go out and its checkpoint was
	 * not stored.
	 */
	async send(folder: string, uidValidity: string, outgoing: Outgoing, batch: Outgoing[], batchSize?: number): Promise<boolean> {
		if (batchSize !== undefined) {
			batch.push(outgoing);
			const batchBytes = batch.reduce((sum, queued) => sum + queued.bytes, 0);
			if (batch.length >= batchSize || batchBytes >= this.config.batchMaxBytes) await this.flush(folder, uidValidity, batch);
			return true;
		}
		// Backpressure: wait while too many runs are unfinished. The checkpoint moves only as the message really goes
		// out (exactly once), so a stop during the wait leaves it to the next activation.
		await this.parts.slots.acquire();
		if (this.parts.signal.aborted) return false;
		this.run(folder, uidValidity, [outgoing]);
		return true;
	}

	/** Sends what the batch holds, in one run. */
	async flush(folder: string, uidValidity: string, batch: Outgoing[]): Promise<void> {
		// Nothing goes out after stop(): n8n has deactivated the workflow.
		if (batch.length === 0 || this.parts.signal.aborted) return;
		await this.parts.slots.acquire();
		if (this.parts.signal.aborted) return;
		this.run(folder, uidValidity, batch.splice(0, batch.length));
	}

	/** Sends one item in a run of its own, whatever the output mode (a message from the retry list). */
	async sendAlone(folder: string, uidValidity: string, outgoing: Outgoing): Promise<boolean> {
		await this.parts.slots.acquire();
		if (this.parts.signal.aborted) return false;
		this.run(folder, uidValidity, [outgoing]);
		return true;
	}

	/** Emits an unreported run again, with its messages read afresh and its own key. False when stopped first. */
	async redeliver(delivery: InFlightDelivery, entries: Outgoing[]): Promise<boolean> {
		await this.parts.slots.acquire();
		if (this.parts.signal.aborted) return false;
		this.run(delivery.folder, delivery.uidValidity, entries, delivery);
		return true;
	}

	/**
	 * Starts one run, holding a run slot until n8n reports its end (or the slot times out). What n8n is to save with
	 * the emit is stored right before it; if the emit throws, all of it is put back as it was and the error goes on
	 * (the pass fails and the message is read again after a backoff).
	 */
	private run(folder: string, uidValidity: string, entries: Outgoing[], redelivery?: InFlightDelivery): void {
		const { inFlight, gmailSeen } = this.parts;
		const uids = entries.map((entry) => entry.uid);
		if (entries.length > 1) this.startedSeveral++;
		const actionUids = entries.filter((entry) => entry.actionable).map((entry) => entry.uid);
		const wantsActions = hasPostActions(this.config.postActions) && actionUids.length > 0;
		const scope = this.config.deliveryScope;
		const storage = this.deps.checkpoints;
		const checkpoint = [...entries].reverse().find((entry) => entry.checkpoint)?.checkpoint;
		const generation = (checkpoint ?? storage.get(folder))?.generation;
		const key = redelivery?.key ?? (scope !== undefined ? deliveryKey(scope, folder, uidValidity, uids, generation) : undefined);
		const before = storage.snapshot();
		if (checkpoint) storage.set(folder, checkpoint);
		if (inFlight && key !== undefined) {
			if (redelivery) inFlight.sentAgain(key);
			else inFlight.add({ key, folder, uidValidity, uids, emittedAt: this.parts.now() });
		}
		if (!redelivery) gmailSeen.add(entries.map((entry) => entry.gmailId));
		for (const entry of entries) entry.beforeEmit?.();

		this.emitted++;
		const release = this.parts.slots.hold();
		const finished = (outcome: RunOutcome) => {
			release();
			if (inFlight && key !== undefined) {
				// Not created: the messages have no execution yet. Keep the entry; emit again later (same key).
				if (outcome === 'rejected') {
					inFlight.emitLater(key, 'the execution could not be created');
					return;
				}
				// Created but never run: emit again under a new key (marked redelivered).
				if (outcome === 'abandoned') {
					inFlight.redeliverAbandoned(key);
					return;
				}
				inFlight.settle(key);
			}
			if (outcome === 'duplicate') this.parts.log.debug(`a run for UID(s) ${uids.join(', ')} in "${folder}" already has an execution; not started again`);
			if (!wantsActions || outcome !== 'succeeded' || this.parts.signal.aborted) return;
			this.parts.onSucceeded(folder, uidValidity, actionUids);
		};
		let reportsEnd: boolean;
		try {
			reportsEnd = this.deps.emit(
				entries.map((entry) => entry.item),
				finished,
				key,
			);
		} catch (error) {
			this.emitted--;
			release();
			storage.restore(before);
			if (redelivery && inFlight) inFlight.emitLater(redelivery.key, `n8n refused the emit: ${errorText(error)}`);
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			throw error;
		}
		if (!reportsEnd) {
			release();
			if (inFlight && key !== undefined) inFlight.settle(key);
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
		this.parts.log.warn(
			`this n8n version does not report when a workflow run has finished (no createDeferredPromise): ${consequences.join(', and ')}`,
		);
	}
}
