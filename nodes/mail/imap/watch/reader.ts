/** Reads messages of the selected folder: metadata, contents (together or streamed), retries one by one, expunge checks. */
import type { Readable } from 'node:stream';
import type { FetchMessageObject, FetchQueryObject, MessageEnvelopeObject } from 'imapflow';

import { messageIdFieldIn } from '../../message/messageIdField';
import type { ImapClient } from '../client';
import { addFetchRow } from '../fetchRows';
import { toUidSet } from '../postActions';
import type { ImapSession } from '../session';
import type { JudgedEntry } from './admission';
import { needsSource } from './admission';
import type { WatcherConfig } from './config';
import { ServerRefusedError, SessionLostError, describeImapError, uidsFrom } from './errors';
import type { WatcherLog } from './log';
import { PartialRanges } from './partialRanges';

/**
 * No ENVELOPE: parsing it (addresses, encoded words) was a quarter of a catch-up's time, and only error items show
 * it; they fetch it then (fetchEnvelope). The Message-ID header field gives the fingerprint (admission.messageIdOf).
 */
const METADATA_QUERY: FetchQueryObject = { uid: true, flags: true, internalDate: true, size: true, headers: ['message-id'] };

type ReaderConfig = Pick<WatcherConfig, 'streamAboveBytes' | 'fetchBatchBytes' | 'maxFetchAttempts' | 'wholeWithMetadataBytes'>;

/**
 * The attributes of these messages (Gmail: with labels and thread ids). With `sourcePrefixBytes`, also the first that
 * many bytes of each message, in `source` (BODY.PEEK[]<0.n>, which leaves \Seen alone); the Message-ID field is then
 * read from those bytes instead of being asked for (a quarter of imapflow's work on a chunk), and asked for only for
 * a message whose header goes on past them.
 */
export async function fetchMetadata(
	client: ImapClient,
	uids: number[],
	gmail: boolean,
	sourcePrefixBytes?: number,
): Promise<Map<number, FetchMessageObject>> {
	let query: FetchQueryObject = gmail ? { ...METADATA_QUERY, labels: true, threadId: true } : METADATA_QUERY;
	if (sourcePrefixBytes) query = { ...query, headers: undefined, source: { maxLength: sourcePrefixBytes } };
	const result = new Map<number, FetchMessageObject>();
	// Collect first: running another command inside the fetch iterator would deadlock imapflow.
	const asked = new Set(uids);
	for await (const message of client.fetch(toUidSet(uids), query, { uid: true })) addFetchRow(result, message, asked);
	if (!sourcePrefixBytes) return result;
	const headerGoesOn: number[] = [];
	for (const message of result.values()) {
		const field = message.source && messageIdFieldIn(message.source, cameWhole(message, sourcePrefixBytes));
		if (field) message.headers = field;
		else headerGoesOn.push(message.uid);
	}
	if (headerGoesOn.length === 0) return result;
	const answered = new Set<number>();
	for await (const message of client.fetch(toUidSet(headerGoesOn), { uid: true, headers: ['message-id'] }, { uid: true })) {
		const known = message.uid ? result.get(message.uid) : undefined;
		if (!known || !message.headers) continue;
		known.headers = message.headers;
		answered.add(message.uid);
	}
	// Left out of the answer: not judged without its Message-ID (the fingerprint), but asked again the careful way.
	for (const uid of headerGoesOn) if (!answered.has(uid)) result.delete(uid);
	return result;
}

/** Did the message's source come whole with its attributes? Not when it filled the prefix or is not the size reported. */
function cameWhole(message: FetchMessageObject, prefixBytes: number): boolean {
	const length = message.source?.length ?? 0;
	return message.source !== undefined && length < prefixBytes && (message.size === undefined || message.size === length);
}

/**
 * Moves the sources out of the metadata (which must not carry them into items). One shorter than the prefix asked
 * for is the whole message; a prefix of exactly that length may have been cut, and one whose length is not the size
 * the server reported is not trusted: their messages are fetched again in full.
 */
function wholeSources(metadata: Map<number, FetchMessageObject>, prefixBytes: number): Map<number, Buffer> {
	const whole = new Map<number, Buffer>();
	for (const [uid, message] of metadata) {
		if (message.source === undefined) continue;
		if (cameWhole(message, prefixBytes)) whole.set(uid, message.source);
		delete message.source;
	}
	return whole;
}

/**
 * The server's ENVELOPE of one message, for the headers of its error item; undefined when the session is gone or the
 * server does not give it (the error item then has no headers, as when the metadata itself was refused).
 */
export async function fetchEnvelope(session: ImapSession, uid: number): Promise<MessageEnvelopeObject | undefined> {
	if (!session.isOpen) return undefined;
	let envelope: MessageEnvelopeObject | undefined;
	try {
		// Read to the end: leaving imapflow's fetch iterator early is not needed for one message.
		for await (const message of session.client.fetch(String(uid), { uid: true, envelope: true }, { uid: true })) {
			if (message.uid === uid && message.envelope) envelope = message.envelope;
		}
	} catch {
		return undefined;
	}
	return envelope;
}

/** The metadata with the ENVELOPE added (see fetchEnvelope); as it was when there is none to add. */
export async function withEnvelope(session: ImapSession, uid: number, meta: FetchMessageObject | undefined): Promise<FetchMessageObject | undefined> {
	if (!meta || meta.envelope) return meta;
	const envelope = await fetchEnvelope(session, uid);
	return envelope ? { ...meta, envelope } : meta;
}

export class MessageReader {
	/** Failed attempts to read a message, per folder/UIDVALIDITY/UID (see maxFetchAttempts). */
	private readonly fetchFailures = new Map<string, number>();
	/** Per session: may contents be asked for with the attributes (see partialRanges.ts)? */
	readonly partialRanges: PartialRanges;

	constructor(
		private readonly config: ReaderConfig,
		private readonly log: WatcherLog,
		private readonly signal: AbortSignal,
	) {
		this.partialRanges = new PartialRanges(config.wholeWithMetadataBytes, log, signal);
	}

	/**
	 * The attributes of these messages, the ones the server keeps failing to deliver (see fetchFailed), and the small
	 * messages that came whole with their attributes (`whole`: one command instead of two for most mail; pass them to
	 * contents). A FETCH the server refuses is asked again without the contents (so a message whose body the server
	 * cannot serve still has its attributes for the error item), and a refused FETCH of several messages is repeated
	 * one message at a time, to find the one it cannot serve.
	 */
	async readMetadata(
		session: ImapSession,
		folder: string,
		uidValidity: string,
		uids: number[],
		gmail: boolean,
	): Promise<{ metadata: Map<number, FetchMessageObject>; unreadable: Map<number, string>; whole: Map<number, Buffer> }> {
		// A message to be streamed never comes whole (in production the stream bound is far above this one).
		const prefixBytes = Math.min(this.config.wholeWithMetadataBytes, this.config.streamAboveBytes);
		if (uids.length > 0 && prefixBytes > 0 && this.partialRanges.honoured(session)) {
			let metadata: Map<number, FetchMessageObject> | undefined;
			try {
				metadata = await fetchMetadata(session.client, uids, gmail, prefixBytes);
			} catch (error) {
				// Refused: asked again below without the contents.
				// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
				if (!session.isOpen || this.signal.aborted) throw error;
			}
			if (metadata) {
				// A server taken for one that honours ranges but answering with more (a proxy that names itself Dovecot in
				// front of another server): no more contents with the attributes on this session, so it costs one chunk.
				if ([...metadata.values()].some((message) => (message.source?.length ?? 0) > prefixBytes)) this.partialRanges.ignored(session);
				const whole = wholeSources(metadata, prefixBytes);
				const missing = uids.filter((uid) => !metadata.has(uid));
				if (missing.length === 0) return { metadata, unreadable: new Map(), whole };
				// The ones left out go the careful way (asked again, then checked for having vanished); its failures are
				// this pass's, counted once (outside the try above).
				const rest = await this.readAttributes(session, folder, uidValidity, missing, gmail);
				rest.metadata.forEach((value, key) => metadata.set(key, value));
				return { metadata, unreadable: rest.unreadable, whole };
			}
		}
		const read = await this.readAttributes(session, folder, uidValidity, uids, gmail);
		if (prefixBytes > 0) await this.partialRanges.learnFrom(session, read.metadata);
		return { ...read, whole: new Map() };
	}

	/** readMetadata without contents. */
	private async readAttributes(
		session: ImapSession,
		folder: string,
		uidValidity: string,
		uids: number[],
		gmail: boolean,
	): Promise<{ metadata: Map<number, FetchMessageObject>; unreadable: Map<number, string> }> {
		const unreadable = new Map<number, string>();
		if (uids.length === 0) return { metadata: new Map(), unreadable };
		let metadata: Map<number, FetchMessageObject>;
		try {
			metadata = await fetchMetadata(session.client, uids, gmail);
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			if (!session.isOpen || this.signal.aborted) throw error;
			if (uids.length === 1) {
				unreadable.set(uids[0], this.fetchFailed(folder, uidValidity, uids[0], describeImapError(error)));
				return { metadata: new Map(), unreadable };
			}
			metadata = new Map();
			for (const uid of uids) {
				const single = await this.readAttributes(session, folder, uidValidity, [uid], gmail);
				single.metadata.forEach((value, key) => metadata.set(key, value));
				single.unreadable.forEach((value, key) => unreadable.set(key, value));
			}
			return { metadata, unreadable };
		}
		const missing = uids.filter((uid) => !metadata.has(uid));
		if (missing.length > 0) {
			for (const uid of await this.stillPresent(session, folder, uidValidity, missing)) {
				unreadable.set(uid, this.fetchFailed(folder, uidValidity, uid, 'the server answered without its attributes'));
			}
		}
		return { metadata, unreadable };
	}

	/**
	 * The entries in fetch groups (small messages together, a large one streamed on its own), each with the contents
	 * the server delivered. An entry asked for and not delivered gets `unreadable` once the server failed it
	 * maxFetchAttempts times; before that the read throws (retried after a backoff). One the server confirms gone
	 * (expunged meanwhile) comes without content.
	 */
	async *contents(
		session: ImapSession,
		folder: string,
		uidValidity: string,
		entries: JudgedEntry[],
		whole: Map<number, Buffer> = new Map(),
	): AsyncGenerator<{ group: JudgedEntry[]; sources: Map<number, Buffer | Readable> }> {
		const groups = this.fetchGroups(entries, whole);
		let prefetched: { group: JudgedEntry[]; sources: Promise<Map<number, Buffer | Readable>> } | undefined;
		while (groups.length > 0) {
			const group = groups.shift() as JudgedEntry[];
			const wanted = this.toFetch(group, whole);
			const fetching = prefetched?.group === group ? prefetched.sources : this.fetchSources(session, group, whole);
			prefetched = undefined;
			let sources: Map<number, Buffer | Readable>;
			try {
				sources = await fetching;
			} catch (error) {
				// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
				if (!session.isOpen || this.signal.aborted) throw error;
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
				const present = await this.stillPresent(session, folder, uidValidity, unanswered.map((entry) => entry.uid));
				for (const entry of unanswered) {
					if (present.has(entry.uid)) {
						entry.unreadable = this.fetchFailed(folder, uidValidity, entry.uid, 'the server answered without its content');
					}
				}
			}
			// The server sends the next group while this one's items are built (not around a streamed message: it must
			// be read before the next command's answer can arrive; and memory stays at two groups).
			const next = groups[0];
			if (next && !this.streamed(group, whole) && this.toFetch(next, whole).length > 0 && !this.streamed(next, whole) && session.isOpen && !this.signal.aborted) {
				const nextSources = this.fetchSources(session, next, whole);
				// Awaited when its turn comes; a group given up (stop, a split after a refusal) must not leave an
				// unhandled rejection behind.
				nextSources.catch(() => undefined);
				prefetched = { group: next, sources: nextSources };
			}
			yield { group, sources };
		}
	}

	/** The entries of the group whose contents are still to be fetched (not already here whole). */
	private toFetch(group: JudgedEntry[], whole: Map<number, Buffer>): JudgedEntry[] {
		return group.filter((entry) => needsSource(entry) && !whole.has(entry.uid));
	}

	/** A group that is one large message, streamed on its own. */
	private streamed(group: JudgedEntry[], whole: Map<number, Buffer>): boolean {
		const fetched = this.toFetch(group, whole);
		return fetched.length === 1 && (fetched[0].meta?.size ?? 0) > this.config.streamAboveBytes;
	}

	/** The message was read: its count of failed attempts starts again. */
	delivered(folder: string, uidValidity: string, uid: number): void {
		if (this.fetchFailures.size > 0) this.fetchFailures.delete(fetchFailureKey(folder, uidValidity, uid));
	}

	/** Groups for fetching: one large message alone, or small ones up to the byte bound (plus the entries between). */
	private fetchGroups(entries: JudgedEntry[], whole: Map<number, Buffer>): JudgedEntry[][] {
		const groups: JudgedEntry[][] = [];
		let group: JudgedEntry[] = [];
		let bytes = 0;
		for (const entry of entries) {
			const fetched = needsSource(entry) && !whole.has(entry.uid);
			const size = fetched ? (entry.meta?.size ?? 0) : 0;
			const large = fetched && size > this.config.streamAboveBytes;
			if (fetched && this.toFetch(group, whole).length > 0 && (large || bytes + size > this.config.fetchBatchBytes)) {
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

	private async fetchSources(session: ImapSession, group: JudgedEntry[], whole: Map<number, Buffer>): Promise<Map<number, Buffer | Readable>> {
		const client = session.client;
		const sources = new Map<number, Buffer | Readable>();
		for (const entry of group) {
			const source = needsSource(entry) ? whole.get(entry.uid) : undefined;
			if (source) sources.set(entry.uid, source);
		}
		const wanted = this.toFetch(group, whole);
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

	/** The folder's UIDs now name other messages (or nothing): its failure counts mean nothing any more. */
	forget(folder: string): void {
		for (const key of this.fetchFailures.keys()) if (key.startsWith(`${folder}\u0000`)) this.fetchFailures.delete(key);
	}

	/**
	 * Which of these UIDs still exist in the selected folder (a UID SEARCH); only an answer counts, never silence. The
	 * failure counts of the ones gone are dropped (they would otherwise stay for the life of the trigger).
	 */
	private async stillPresent(session: ImapSession, folder: string, uidValidity: string, uids: number[]): Promise<Set<number>> {
		if (!session.isOpen) throw new SessionLostError(`The connection closed while reading folder "${folder}"`);
		const found = uidsFrom(await session.client.search({ uid: toUidSet(uids) }, { uid: true }), `the check for messages in folder "${folder}"`);
		const asked = new Set(uids);
		const present = new Set(found.filter((uid) => asked.has(uid)));
		for (const uid of uids) if (!present.has(uid)) this.fetchFailures.delete(fetchFailureKey(folder, uidValidity, uid));
		return present;
	}

	/** How many messages have failed reads counted (tests: the map stays bounded). */
	get trackedFailures(): number {
		return this.fetchFailures.size;
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
		this.log.warn(`message UID ${uid} in "${folder}" could not be read after ${attempts} attempts; emitting an error item for it`, {
			error: reason,
		});
		return `The message could not be read from the server after ${attempts} attempts: ${reason}`;
	}
}

function fetchFailureKey(folder: string, uidValidity: string, uid: number): string {
	return `${folder}\u0000${uidValidity}\u0000${uid}`;
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
