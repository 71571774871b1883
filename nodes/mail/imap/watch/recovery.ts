/**
 * Work a folder owes from earlier passes, done before its new mail: runs to emit again (unreported at a restart, or
 * not created by n8n) and messages waiting in the retry list. Both read the messages afresh by UID.
 */
import type { FetchMessageObject } from 'imapflow';

import type { FolderCheckpoint } from '../checkpoint';
import { describeMessage } from '../messageItems';
import type { ImapSession } from '../session';
import type { JudgedEntry } from './admission';
import { afterEmitting, tooLargeReason } from './admission';
import type { WatcherConfig, WatcherDeps } from './config';
import type { Emitter, Outgoing } from './emitter';
import { errorText } from './errors';
import type { InFlightDelivery, InFlightRecord } from './inFlight';
import { buildMessageItem, describedMessage, discardRest, unreadableItem } from './items';
import type { WatcherLog } from './log';
import { withEnvelope, type MessageReader } from './reader';
import type { RetryEntry, RetryList } from './retryList';

export interface RecoveryParts {
	reader: MessageReader;
	emitter: Emitter;
	/** Undefined where runs cannot be tracked (no deliveryScope). */
	inFlight?: InFlightRecord;
	retries: RetryList;
	log: WatcherLog;
	signal: AbortSignal;
	now: () => number;
	gmail: () => boolean;
}

type Built = { outgoing?: Outgoing; failure?: string };

export class Recovery {
	constructor(
		private readonly config: Pick<WatcherConfig, 'maxMessageBytes'>,
		private readonly deps: Pick<WatcherDeps, 'checkpoints' | 'buildItem'>,
		private readonly parts: RecoveryParts,
	) {}

	/** Whether the folder has work due now (then a pass must select it, not only ask STATUS). */
	hasDue(folder: string): boolean {
		return (this.parts.inFlight?.hasDue(folder) ?? false) || this.parts.retries.hasDue(folder);
	}

	/** Does the folder's due work; the caller holds the folder selected with this UIDVALIDITY. */
	async run(session: ImapSession, folder: string, uidValidity: string): Promise<void> {
		for (const delivery of this.parts.inFlight?.dueFor(folder) ?? []) {
			if (this.parts.signal.aborted) return;
			await this.redeliver(session, folder, uidValidity, delivery);
		}
		const due = this.parts.retries.dueFor(folder);
		if (due.length > 0 && !this.parts.signal.aborted) await this.retry(session, folder, uidValidity, due);
	}

	/** Emits an unreported run again with the same key: n8n starts it only if no execution has that key. */
	private async redeliver(session: ImapSession, folder: string, uidValidity: string, delivery: InFlightDelivery): Promise<void> {
		const inFlight = this.parts.inFlight as InFlightRecord;
		if (delivery.uidValidity !== uidValidity) {
			inFlight.dropFolder(folder, 'the folder was recreated (new UIDVALIDITY)');
			return;
		}
		const { built } = await this.read(session, folder, uidValidity, delivery.uids, true);
		const failure = [...built.values()].find((result) => result.failure !== undefined)?.failure;
		if (failure !== undefined) {
			inFlight.emitLater(delivery.key, `a message could not be read again: ${failure}`);
			return;
		}
		const outgoing = delivery.uids.map((uid) => built.get(uid)?.outgoing).filter((entry): entry is Outgoing => entry !== undefined);
		if (outgoing.length === 0) {
			this.parts.log.info(`the unreported run for UID(s) ${delivery.uids.join(', ')} in "${folder}" is not emitted again: its messages are no longer in the folder`);
			inFlight.settle(delivery.key);
			return;
		}
		await this.parts.emitter.redeliver(delivery, outgoing);
	}

	/** Tries the due messages of the retry list again; each that builds (or is given up) goes out in a run of its own. */
	private async retry(session: ImapSession, folder: string, uidValidity: string, due: RetryEntry[]): Promise<void> {
		const retries = this.parts.retries;
		const current = due.filter((entry) => entry.uidValidity === uidValidity);
		if (current.length < due.length) retries.dropFolder(folder, 'the folder was recreated (new UIDVALIDITY)');
		if (current.length === 0) return;
		const { built, metadata } = await this.read(session, folder, uidValidity, current.map((entry) => entry.uid), false);
		for (const entry of current) {
			if (this.parts.signal.aborted) return;
			const result = built.get(entry.uid);
			let outgoing = result?.outgoing;
			if (!result) {
				this.parts.log.info(`message UID ${entry.uid} in "${folder}", waiting to be tried again, is no longer in the folder`);
				retries.remove(folder, entry.uid);
				continue;
			}
			if (result.failure !== undefined) {
				if (!retries.failedAgain(folder, entry.uid, result.failure)) continue;
				const hours = Math.round((this.parts.now() - entry.firstFailedAt) / 360_000) / 10;
				const reason = `The message could not be turned into an item after ${entry.attempts + 1} attempts over ${hours} h: ${result.failure}`;
				this.parts.log.warn(`message UID ${entry.uid} in "${folder}" is given up after ${entry.attempts + 1} attempts; emitting an error item for it`, { error: result.failure });
				const meta = await withEnvelope(session, entry.uid, metadata.get(entry.uid));
				outgoing = { item: unreadableItem(folder, uidValidity, entry.uid, meta, reason), uid: entry.uid, actionable: false, bytes: 0 };
			}
			if (!outgoing) continue;
			const stored = this.deps.checkpoints.get(folder) as FolderCheckpoint;
			outgoing.checkpoint = afterEmitting(stored, { uid: entry.uid, meta: metadata.get(entry.uid) }, this.parts.now());
			// Leaves the list in the same write as the emit (a stop before it keeps it for the next activation).
			outgoing.beforeEmit = () => retries.remove(folder, entry.uid);
			await this.parts.emitter.sendAlone(folder, uidValidity, outgoing);
		}
	}

	/**
	 * Reads and builds these messages. Per UID: an outgoing item (or error item), a failure text (not the message's
	 * content: the download broke, storing failed), or nothing when the message is no longer in the folder.
	 */
	private async read(
		session: ImapSession,
		folder: string,
		uidValidity: string,
		uids: number[],
		redelivered: boolean,
	): Promise<{ built: Map<number, Built>; metadata: Map<number, FetchMessageObject> }> {
		const { reader, signal, log } = this.parts;
		const results = new Map<number, Built>();
		const { metadata, unreadable, whole } = await reader.readMetadata(session, folder, uidValidity, uids, this.parts.gmail());
		const entries: JudgedEntry[] = [];
		for (const uid of uids) {
			const meta = metadata.get(uid);
			const refused = unreadable.get(uid);
			if (refused !== undefined) entries.push({ uid, meta, unreadable: refused });
			else if (meta) entries.push({ uid, meta, unreadable: tooLargeReason(meta, this.config.maxMessageBytes) });
		}
		for await (const { group, sources } of reader.contents(session, folder, uidValidity, entries, whole)) {
			for (const entry of group) {
				const meta = entry.meta;
				const gmailId = this.parts.gmail() ? meta?.emailId : undefined;
				if (entry.unreadable !== undefined) {
					const item = unreadableItem(folder, uidValidity, entry.uid, await withEnvelope(session, entry.uid, meta), entry.unreadable, redelivered);
					results.set(entry.uid, { outgoing: { item, uid: entry.uid, actionable: false, bytes: meta?.size ?? 0, gmailId } });
					continue;
				}
				const source = sources.get(entry.uid);
				if (!meta || !source) continue;
				const message = { ...describedMessage(folder, uidValidity, entry.uid, meta), source, redelivered: redelivered || undefined };
				try {
					const built = await buildMessageItem(this.deps.buildItem, session, message, signal, log);
					reader.delivered(folder, uidValidity, entry.uid);
					results.set(entry.uid, { outgoing: { item: built.item, uid: entry.uid, actionable: built.parsed, bytes: meta.size ?? 0, gmailId } });
				} catch (error) {
					// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
					if (!session.isOpen || signal.aborted) throw error;
					await discardRest(source);
					log.warn(`message ${describeMessage(message)} could not be turned into an item again`, { error: errorText(error) });
					results.set(entry.uid, { failure: errorText(error) });
				}
			}
		}
		return { built: results, metadata };
	}
}
