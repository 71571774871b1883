/** fetchNew's reading ahead: RETR for small messages before their turn (a window of them where PIPELINING is offered). */
import { Readable } from 'node:stream';

import { readSourcePrefix } from '../message/sourcePrefix';
import type { Pop3Client } from './client';
import { Pop3CommandError } from './errors';
import type { ListingEntry } from './seenState';

/**
 * Messages up to this size (by LIST) are read whole into memory, and the next ones are asked for (RETR) as soon as one
 * has arrived, while the consumer still parses it: the server and the network work on message n+1 while this process
 * works on message n. Without PIPELINING this is strict RFC 1939 lock-step (no command is sent before the previous
 * reply ended) with one small message held ahead.
 */
export const READ_AHEAD_MAX_BYTES = 1024 * 1024;

/**
 * With PIPELINING (RFC 2449 §6.6) advertised, how far ahead RETRs go: at most this many messages asked for and not yet
 * consumed, and at most this many bytes of them by LIST (a single message always fits). A server lying about sizes
 * cannot make it hold more than PIPELINE_MAX_MESSAGES × 2 × READ_AHEAD_MAX_BYTES: a message read ahead is dropped past
 * that (READ_AGAIN).
 */
export const PIPELINE_MAX_MESSAGES = 16;
export const PIPELINE_MAX_BYTES = 4 * 1024 * 1024;

/** A message as fetched: whole, or as its open stream (large by LIST, or larger than LIST said). */
type Fetched = Buffer | Readable;

/**
 * A message read ahead turned out larger than the read-ahead bound although LIST said it was small: its reply was
 * skipped (the session stays usable) and it is asked for again, streamed, at its turn. A read-ahead never holds an
 * open stream: a DELE queued behind it would wait for a stream nobody reads until the DELE is done.
 */
const READ_AGAIN = Symbol('read again at its turn');

interface AskedAhead {
	entry: ListingEntry;
	fetched: Promise<Buffer | typeof READ_AGAIN>;
}

/**
 * RETR for fetchNew, ahead of their turn for small messages: one message without PIPELINING, a window of up to
 * PIPELINE_MAX_MESSAGES / PIPELINE_MAX_BYTES with it. The window is filled only once the message at its turn is whole
 * in memory, and stops before a message that is large by LIST, so nothing is ever asked for behind a stream. A RETR
 * whose reply is not awaited yet keeps its failure until its message's turn, so the outcome of each message is what
 * it would have been without reading ahead.
 */
export class ReadAhead {
	private next = 0;
	/** entries[next..], asked for in order and not yet consumed. */
	private readonly window: AskedAhead[] = [];
	/** The message at its turn when it had been read ahead: its failure may be what broke the session. */
	private current?: AskedAhead;
	private readonly maxMessages: number;
	private readonly maxBytes: number;

	constructor(
		private readonly client: Pop3Client,
		private readonly entries: ListingEntry[],
	) {
		this.maxMessages = client.pipelining ? PIPELINE_MAX_MESSAGES : 1;
		this.maxBytes = client.pipelining ? PIPELINE_MAX_BYTES : READ_AHEAD_MAX_BYTES;
	}

	async consume<T>(entry: ListingEntry, consume: (source: Buffer | Readable, entry: ListingEntry) => Promise<T>): Promise<T> {
		if (this.entries[this.next] !== entry) throw new Error('POP3 read-ahead: messages consumed out of order');
		this.next++;
		this.current = this.window.shift();
		const ahead = this.current ? await this.current.fetched : undefined;
		const source = ahead === undefined || ahead === READ_AGAIN ? await this.fetch(entry) : ahead;
		// The reply of `entry` is off the wire when it is a Buffer: ask for the next small messages now.
		if (Buffer.isBuffer(source)) this.fillWindow();
		try {
			return await consume(source, entry);
		} finally {
			// Releases the session either way: a finished stream is already closed, an abandoned one is skipped.
			if (!Buffer.isBuffer(source) && !source.destroyed) source.destroy();
		}
	}

	/**
	 * The error to report for a failure that left the session unusable: the first RETR read ahead that failed, the
	 * message at its turn included, when there is one (it is what broke the session and names the step that failed;
	 * those after it only found the connection closed); otherwise `error`. A RETR the server refused (-ERR) left the
	 * session usable, so it is not the cause, unless it was the last reply before the server closed the connection
	 * (refusalBeforeClose): then it is why the session ended, whatever the close cut off after it.
	 */
	async cause(error: unknown): Promise<unknown> {
		if (this.client.usable) return error;
		const refusal = this.client.refusalBeforeClose;
		if (refusal) return refusal;
		for (const asked of [this.current, ...this.window]) {
			if (!asked) continue;
			const failure = await asked.fetched.then(
				() => undefined,
				(reason: unknown) => reason,
			);
			if (failure !== undefined && !(failure instanceof Pop3CommandError)) return failure;
		}
		return error;
	}

	/** Runs a command the session sends after the RETRs read ahead; a failure is reported as `cause` says. */
	async sendingAfter<R>(command: () => Promise<R>): Promise<R> {
		try {
			return await command();
		} catch (error) {
			throw await this.cause(error);
		}
	}

	/** The run stopped: messages read ahead are dropped (whole in memory or skipped, nothing holds the session). */
	abandon(): void {
		this.window.length = 0;
		this.current = undefined;
	}

	/** Asks for the following small messages while the window has room; stops at the first large one. */
	private fillWindow(): void {
		let bytes = this.window.reduce((sum, asked) => sum + asked.entry.size, 0);
		for (;;) {
			const following = this.entries[this.next + this.window.length];
			if (!following || following.size > READ_AHEAD_MAX_BYTES || this.window.length >= this.maxMessages) return;
			if (this.window.length > 0 && bytes + following.size > this.maxBytes) return;
			const fetched = this.fetchAhead(following);
			fetched.catch(() => undefined);
			this.window.push({ entry: following, fetched });
			bytes += following.size;
		}
	}

	/** The message at its turn: whole when small, else its stream (larger than LIST said: the start, then the rest). */
	private async fetch(entry: ListingEntry): Promise<Fetched> {
		const stream = await this.client.retr(entry.messageNumber);
		if (entry.size > READ_AHEAD_MAX_BYTES) return stream;
		const read = await readSourcePrefix(stream, 2 * READ_AHEAD_MAX_BYTES);
		return read.complete ? read.message : rejoined(read.head, stream);
	}

	/** A small message ahead of its turn: whole, or READ_AGAIN when it is larger than LIST said. */
	private async fetchAhead(entry: ListingEntry): Promise<Buffer | typeof READ_AGAIN> {
		const stream = await this.client.retr(entry.messageNumber, { pipelined: true });
		const read = await readSourcePrefix(stream, 2 * READ_AHEAD_MAX_BYTES);
		if (read.complete) return read.message;
		stream.destroy();
		return READ_AGAIN;
	}
}

/** `head` followed by the rest of `rest`; closing the result (read to the end or destroyed) closes `rest`. */
function rejoined(head: Buffer, rest: Readable): Readable {
	const joined = Readable.from(
		(async function* () {
			yield head;
			yield* rest;
		})(),
		{ objectMode: false },
	);
	// Destroyed before the generator reached `rest` (or while it waited at `head`): the generator never sees it.
	joined.once('close', () => {
		if (!rest.destroyed) rest.destroy();
	});
	return joined;
}
