/** Catches one selected folder up from its checkpoint: search, admit, read, build items, emit, in UID order. */
import type { FolderCheckpoint } from '../checkpoint';
import type { ImapClient } from '../client';
import type { ImapSession } from '../session';
import type { JudgedEntry } from './admission';
import { admissionSearches, afterEmitting, afterPassingOver, judgeChunk, pendingUids } from './admission';
import type { WatcherConfig, WatcherDeps } from './config';
import type { Emitter, Outgoing } from './emitter';
import { errorText, uidsFrom } from './errors';
import type { GmailSeen } from './gmailSeen';
import type { InFlightRecord } from './inFlight';
import { describeMessage } from '../messageItems';
import { buildMessageItem, describedMessage, discardRest, unreadableItem } from './items';
import type { WatcherLog } from './log';
import { withEnvelope, type MessageReader } from './reader';
import type { RetryList } from './retryList';

type CatchUpConfig = Pick<WatcherConfig, 'fetchBatchMessages' | 'filter' | 'maxMessageBytes' | 'maxRunsInFlight'>;

/** One chunk of pending UIDs and the read of its metadata (with the small messages whole). */
interface ChunkRead {
	chunk: number[];
	reading: ReturnType<MessageReader['readMetadata']>;
}

export interface CatchUpHooks {
	gmail(): boolean;
	/** A rollover is due: a long catch-up stops for it and asks for another pass. */
	rolloverDue(): boolean;
	passAgain(): void;
}

/** The parts catch-up shares with the rest of the watcher. */
export interface CatchUpParts {
	reader: MessageReader;
	emitter: Emitter;
	inFlight?: InFlightRecord;
	retries: RetryList;
	gmailSeen: GmailSeen;
	log: WatcherLog;
	signal: AbortSignal;
	now: () => number;
}

export class CatchUp {
	private readonly reader: MessageReader;
	private readonly emitter: Emitter;
	private readonly signal: AbortSignal;

	constructor(
		private readonly config: CatchUpConfig,
		private readonly deps: Pick<WatcherDeps, 'checkpoints' | 'buildItem'>,
		private readonly parts: CatchUpParts,
		private readonly hooks: CatchUpHooks,
	) {
		this.reader = parts.reader;
		this.emitter = parts.emitter;
		this.signal = parts.signal;
	}

	/**
	 * Emits every not-yet-judged message of the selected folder, in UID order, in bounded chunks. UIDs the filters
	 * reject (or that vanished meanwhile) are judged without an emit: they only move the checkpoint. True when every
	 * message found was judged and the checkpoint stored; false when it stopped early (paused, rollover, stop).
	 */
	async run(session: ImapSession, folder: string, start: FolderCheckpoint): Promise<boolean> {
		const client = session.client;
		let checkpoint = start;
		const fromUid = checkpoint.lastUid + 1;
		const found = uidsFrom(await client.search({ uid: `${fromUid}:*` }, { uid: true }), `the search for new mail in folder "${folder}"`);
		const pending = pendingUids(found, fromUid);
		if (pending.length === 0) return true;
		const admitted = await this.admitted(client, folder, checkpoint, pending);
		const uidValidity = checkpoint.uidValidity as string;
		const batch: Outgoing[] = [];
		const batchSize = this.emitter.batchSize(admitted.size);

		const chunkSize = this.config.fetchBatchMessages;
		const read = (offset: number): ChunkRead => {
			const chunk = pending.slice(offset, offset + chunkSize);
			const reading = this.reader.readMetadata(session, folder, uidValidity, chunk.filter((uid) => admitted.has(uid)), this.hooks.gmail());
			// Awaited at its turn; one given up (a pause, a stop, an earlier failure) must leave no unhandled rejection.
			reading.catch(() => undefined);
			return { chunk, reading };
		};
		let upcoming: ChunkRead | undefined;
		for (let offset = 0; offset < pending.length; offset += chunkSize) {
			if (this.paused()) break;
			if (this.hooks.rolloverDue()) {
				// A long catch-up (held back by runs in progress) must not outlive the token: renew first, then go on.
				this.hooks.passAgain();
				break;
			}
			const { chunk, reading } = upcoming ?? read(offset);
			const { metadata, unreadable, whole } = await reading;
			// The server reads the next chunk while this one's items are built and emitted.
			const more = offset + chunkSize < pending.length && session.isOpen && !this.signal.aborted && !this.paused();
			upcoming = more ? read(offset + chunkSize) : undefined;
			const entries = judgeChunk(chunk, checkpoint, metadata, unreadable, this.config.maxMessageBytes);
			checkpoint = await this.emitEntries(session, folder, uidValidity, checkpoint, { entries, whole }, batch, batchSize);
			if (this.signal.aborted) return false;
			// While a batch holds unsent items the stored checkpoint must not pass them.
			if (batch.length === 0) this.deps.checkpoints.set(folder, checkpoint);
		}
		if (this.signal.aborted) return false;
		if (batch.length > 0) await this.emitter.flush(folder, uidValidity, batch);
		if (this.signal.aborted) return false;
		this.deps.checkpoints.set(folder, checkpoint);
		return checkpoint.lastUid >= pending[pending.length - 1];
	}

	/**
	 * Stop emitting for now: stopped, Test step's one emit done, or n8n could not create the last runs (they wait to be
	 * emitted again; the folder goes on once they went out). What is not emitted stays after the checkpoint.
	 */
	private paused(): boolean {
		return this.signal.aborted || this.emitter.limitReached() || (this.parts.inFlight?.holdsBack(this.config.maxRunsInFlight) ?? false);
	}

	/** Which of the pending UIDs the user's filter (and a backlog rule) admits, asked of the server. */
	private async admitted(client: ImapClient, folder: string, checkpoint: FolderCheckpoint, pending: number[]): Promise<Set<number>> {
		const admitted = new Set<number>();
		for (const { uids, search } of admissionSearches(pending, checkpoint, this.config.filter)) {
			if (!search) {
				uids.forEach((uid) => admitted.add(uid));
				continue;
			}
			// A refusal (NO/BAD) here is transient, e.g. Gmail's `NO [UNAVAILABLE]`: the filter itself was accepted at
			// activation. uidsFrom turns it into a session failure, retried with backoff and reported if it lasts.
			const matches = new Set(uidsFrom(await client.search(search, { uid: true }), `the search in folder "${folder}"`));
			uids.filter((uid) => matches.has(uid)).forEach((uid) => admitted.add(uid));
		}
		return admitted;
	}

	/**
	 * Reads the contents, builds the items and emits them in UID order; the checkpoint is stored before each emit.
	 * Entries without `meta` only advance the checkpoint. Returns where the folder now stands.
	 */
	private async emitEntries(
		session: ImapSession,
		folder: string,
		uidValidity: string,
		start: FolderCheckpoint,
		judged: { entries: JudgedEntry[]; whole: Map<number, Buffer> },
		batch: Outgoing[],
		batchSize: number | undefined,
	): Promise<FolderCheckpoint> {
		let checkpoint = start;
		const now = this.parts.now;
		for await (const { group, sources } of this.reader.contents(session, folder, uidValidity, judged.entries, judged.whole)) {
			for (const entry of group) {
				if (this.paused()) return checkpoint;
				const meta = entry.meta;
				const source = sources.get(entry.uid);
				const gmailId = this.hooks.gmail() ? meta?.emailId : undefined;
				let outgoing: Outgoing;
				if (meta && this.parts.retries.has(folder, entry.uid)) {
					// Waiting in the retry list (a pass that failed after putting it there): the list emits it.
					checkpoint = afterPassingOver(checkpoint, entry.uid);
					continue;
				} else if (meta && this.parts.gmailSeen.has(gmailId)) {
					// Gmail: the same message under another watched label has started its run already.
					this.parts.log.debug(`message UID ${entry.uid} in "${folder}" was emitted from another watched folder (X-GM-MSGID ${gmailId}); passing over it`);
					checkpoint = afterPassingOver(checkpoint, entry.uid);
					continue;
				} else if (entry.unreadable !== undefined) {
					const item = unreadableItem(folder, uidValidity, entry.uid, await withEnvelope(session, entry.uid, meta), entry.unreadable);
					outgoing = { item, uid: entry.uid, checkpoint: afterEmitting(checkpoint, entry, now()), actionable: false, bytes: meta?.size ?? 0, gmailId };
				} else if (meta && source) {
					const message = { ...describedMessage(folder, uidValidity, entry.uid, meta), source };
					let built: { item: Outgoing['item']; parsed: boolean };
					try {
						built = await buildMessageItem(this.deps.buildItem, session, message, this.signal, this.parts.log);
					} catch (error) {
						// Not the message's content (that makes an error item): the download broke, or storing an
						// attachment failed (a full disk). A lost session is the loop's business; anything else waits in the
						// retry list while the newer mail of the folder goes on.
						// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
						if (!session.isOpen || this.signal.aborted || !this.parts.retries.add(folder, uidValidity, entry.uid, errorText(error))) throw error;
						await discardRest(source);
						this.parts.log.warn(`message ${describeMessage(message)} could not be turned into an item; it will be tried again later while newer mail goes on`, {
							error: errorText(error),
						});
						checkpoint = afterPassingOver(checkpoint, entry.uid);
						continue;
					}
					// Stopped while the item was built (a large message takes a while): it is not emitted, and the
					// checkpoint must not pass it either, so the next activation emits it.
					if (this.signal.aborted) return checkpoint;
					this.reader.delivered(folder, uidValidity, entry.uid);
					const next = afterEmitting(checkpoint, entry, now());
					outgoing = { item: built.item, uid: entry.uid, checkpoint: next, actionable: built.parsed, bytes: meta.size ?? 0, gmailId };
				} else {
					// Filtered out, or confirmed gone.
					checkpoint = afterPassingOver(checkpoint, entry.uid);
					continue;
				}
				if (!(await this.emitter.send(folder, uidValidity, outgoing, batch, batchSize))) return checkpoint;
				checkpoint = outgoing.checkpoint as FolderCheckpoint;
			}
		}
		return checkpoint;
	}
}
