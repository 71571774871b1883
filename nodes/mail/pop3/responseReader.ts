import { Readable } from 'node:stream';

import { Pop3ProtocolError, Pop3ResponseTooLargeError } from './errors';

/**
 * POP3 response reading, independent of sockets and timers so it can be tested with any chunking.
 *
 * Everything works on Buffers. Whether a reply is multi-line is decided by the caller per command (RFC 1939), never
 * by looking at the bytes that arrive: a message body may well contain lines that start with `+OK` or `-ERR`.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF_DOT = Buffer.from('\r\n.', 'latin1');
const CR_ONLY = Buffer.from([CR]);

type UnstuffState = 'lineStart' | 'midLine' | 'dot' | 'dotCr' | 'done';

export interface UnstuffResult {
	/** Content bytes, in order; slices of the input (no copies) except for a rare lone CR after a leading dot. */
	output: Buffer[];
	/** True once the terminating `.CRLF` line was seen. */
	done: boolean;
	/** Bytes after the terminator (they belong to the next response). */
	rest?: Buffer;
}

/**
 * Incremental multi-line decoder: strips one leading dot from each line that starts with a dot and stops at the
 * line that is just `.` (RFC 1939 §3). Lines end with CRLF only; a lone CR or lone LF is content and does not start a
 * new line. The CRLF that ends the last content line is content and is kept, so a message comes out byte for byte
 * as stored. State survives across chunks, so the terminator or a stuffed dot may be split anywhere.
 */
export class DotUnstuffer {
	private state: UnstuffState = 'lineStart';
	/** In `midLine`: the previous chunk ended with CR, so a leading LF here completes a CRLF. */
	private previousChunkEndedWithCr = false;

	get finished(): boolean {
		return this.state === 'done';
	}

	/** Inside a line's content: only CRLF (possibly split across chunks) ends it. */
	private enterMidLine(): void {
		this.state = 'midLine';
		this.previousChunkEndedWithCr = false;
	}

	write(chunk: Buffer): UnstuffResult {
		if (this.state === 'done') throw new Error('DotUnstuffer received data after the terminator');
		const output: Buffer[] = [];
		const length = chunk.length;
		let segmentStart = 0;
		let index = 0;
		while (index < length) {
			switch (this.state) {
				case 'lineStart':
					if (chunk[index] !== DOT) {
						this.enterMidLine();
						break;
					}
					// Drop the leading dot: either stuffing (`..x` → `.x`) or the start of the terminator.
					if (index > segmentStart) output.push(chunk.subarray(segmentStart, index));
					segmentStart = ++index;
					this.state = 'dot';
					break;
				case 'dot':
					if (chunk[index] !== CR) {
						this.enterMidLine();
						break;
					}
					// Hold the CR back: `.CRLF` is the terminator, anything else makes it content again.
					segmentStart = ++index;
					this.state = 'dotCr';
					break;
				case 'dotCr':
					if (chunk[index] === LF) {
						this.state = 'done';
						return { output, done: true, rest: index + 1 < length ? chunk.subarray(index + 1) : undefined };
					}
					output.push(CR_ONLY);
					this.enterMidLine();
					break;
				case 'midLine': {
					if (this.previousChunkEndedWithCr && chunk[index] === LF) {
						index += 1;
						this.previousChunkEndedWithCr = false;
						this.state = 'lineStart';
						break;
					}
					this.previousChunkEndedWithCr = false;
					// Only a dot right after CRLF needs work; find the next one natively instead of walking every byte.
					const found = chunk.indexOf(CRLF_DOT, index);
					if (found >= 0) {
						const dotAt = found + 2;
						output.push(chunk.subarray(segmentStart, dotAt));
						index = dotAt + 1;
						segmentStart = index;
						this.state = 'dot';
						break;
					}
					// No `CRLF.` inside this chunk: remember how it ends so a split CRLF or `CRLF|.` is still seen.
					const last = chunk[length - 1];
					if (last === LF && length - 2 >= index && chunk[length - 2] === CR) this.state = 'lineStart';
					else if (last === CR) this.previousChunkEndedWithCr = true;
					index = length;
					break;
				}
			}
		}
		if (segmentStart < length) output.push(chunk.subarray(segmentStart, length));
		return { output, done: false };
	}
}

export type Pop3Status =
	| { kind: 'ok'; text: string }
	| { kind: 'err'; text: string; responseCode?: string }
	/** SASL continuation `+ <base64>` (only legal while AUTH is in progress). */
	| { kind: 'continue'; text: string }
	| { kind: 'invalid'; text: string };

/**
 * Classifies one status line by its exact indicator. Server text may be UTF-8 (RFC 6856); it is decoded for messages
 * only. Message content never goes through here.
 */
export function parseStatusLine(line: Buffer): Pop3Status {
	const text = line.toString('utf8');
	if (text === '+OK' || text.startsWith('+OK ')) return { kind: 'ok', text: text.slice(4) };
	if (text === '-ERR' || text.startsWith('-ERR ')) {
		const rest = text.slice(5);
		const code = /^\[([^\]\s]{1,64})\]\s*/.exec(rest);
		return code ? { kind: 'err', text: rest, responseCode: code[1].toUpperCase() } : { kind: 'err', text: rest };
	}
	if (text === '+' || text.startsWith('+ ')) return { kind: 'continue', text: text.slice(2) };
	return { kind: 'invalid', text };
}

interface BodyConsumer {
	readonly unstuffer: DotUnstuffer;
	wantsData(): boolean;
	deliver(pieces: Buffer[]): void;
	finish(): void;
	abort(error: Error): void;
}

/** Most lines and content bytes (dot-unstuffed, line endings included) one multi-line listing may have. */
export interface ListingLimits {
	maxLines: number;
	maxBytes: number;
	/** What the listing is, for the error message (e.g. `CAPA`). */
	name?: string;
}

export interface ResponseReaderOptions {
	/** Longest status or listing line accepted (without CRLF). Protects against a server that never sends a newline. */
	maxLineLength: number;
	/**
	 * Called with false when nothing may be read for now (a body consumer is full, or too many bytes arrived
	 * unasked), and with true when reading may go on. The client pauses/resumes the socket and its idle timer.
	 */
	onFlowChange?: (flowing: boolean) => void;
}

export interface BodyRead {
	/** The message bytes, dot-unstuffed, without the terminator. Errors if the connection fails before the end. */
	stream: Readable;
	/** Resolves when the terminator has been read off the connection, or the read failed (never rejects). */
	wireDone: Promise<void>;
	/** Unstuffed bytes read so far (also counts bytes dropped after the consumer destroyed the stream). */
	bytesRead(): number;
}

/**
 * Turns incoming chunks into status lines, listings and body streams, one request at a time.
 * The client serialises commands, so at most one line request or one body is active.
 */
export class Pop3ResponseReader {
	private chunks: Buffer[] = [];
	private bufferedBytes = 0;
	private lineRequest?: { resolve: (line: Buffer) => void; reject: (error: Error) => void };
	private body?: BodyConsumer;
	private sourceError?: Error;
	private discardIncoming = false;
	private pumping = false;
	private flowing = true;

	constructor(private readonly options: ResponseReaderOptions) {}

	/** Bytes received but not yet consumed by a request. */
	get bufferedByteCount(): number {
		return this.bufferedBytes;
	}

	get busy(): boolean {
		return this.lineRequest !== undefined || this.body !== undefined;
	}

	feed(chunk: Buffer): void {
		if (this.discardIncoming || chunk.length === 0) return;
		this.chunks.push(chunk);
		this.bufferedBytes += chunk.length;
		this.pump();
	}

	/**
	 * No more bytes will come. With `immediate` (timeout, client destroy, socket error) pending requests fail now and
	 * buffered bytes are dropped; otherwise (server closed the connection) complete replies already received are still
	 * delivered first, so a final `-ERR` sent just before the close is not lost.
	 */
	fail(error: Error, options: { immediate: boolean }): void {
		this.sourceError ??= error;
		if (options.immediate) {
			this.discardIncoming = true;
			this.chunks = [];
			this.bufferedBytes = 0;
			const body = this.body;
			this.body = undefined;
			body?.abort(this.sourceError);
		}
		this.pump();
	}

	/** The next line, without its line ending (CRLF; a bare LF is tolerated for status lines). */
	readLine(): Promise<Buffer> {
		this.assertIdle();
		return new Promise<Buffer>((resolve, reject) => {
			this.lineRequest = { resolve, reject };
			this.pump();
		});
	}

	/** A multi-line body (RETR, TOP) as a stream with backpressure; call right after its +OK line was read. */
	readBody(): BodyRead {
		this.assertIdle();
		let wantsMore = true;
		let discarding = false;
		let finishedOnWire = false;
		let bytes = 0;
		let settleWire: () => void = () => undefined;
		const wireDone = new Promise<void>((resolve) => {
			settleWire = resolve;
		});
		const stream = new Readable({
			highWaterMark: 64 * 1024,
			read: () => {
				wantsMore = true;
				this.pump();
			},
			destroy: (error, callback) => {
				if (!finishedOnWire) {
					// The consumer stopped early: keep reading to the terminator, dropping the bytes, so the session stays
					// usable (and so a failing connection still settles this body instead of leaving it paused forever).
					discarding = true;
					this.pump();
				}
				callback(error);
			},
		});
		this.startBody({
			unstuffer: new DotUnstuffer(),
			wantsData: () => discarding || wantsMore,
			deliver: (pieces) => {
				for (const piece of pieces) {
					bytes += piece.length;
					if (discarding) continue;
					if (!stream.push(piece)) wantsMore = false;
				}
			},
			finish: () => {
				finishedOnWire = true;
				if (!discarding) stream.push(null);
				settleWire();
			},
			abort: (error) => {
				finishedOnWire = true;
				if (!stream.destroyed) stream.destroy(error);
				settleWire();
			},
		});
		return { stream, wireDone, bytesRead: () => bytes };
	}

	/**
	 * A multi-line listing (CAPA, LIST, UIDL): its lines without CRLF, each at most maxLineLength bytes. With `limits`,
	 * a listing with more lines or content bytes is rejected with Pop3ResponseTooLargeError as soon as it passes them
	 * (nothing beyond the bound is kept; the rest of the reply is read and dropped until the caller closes).
	 */
	readListing(limits?: ListingLimits): Promise<Buffer[]> {
		this.assertIdle();
		const maxLineLength = this.options.maxLineLength;
		const maxLines = limits?.maxLines ?? Number.POSITIVE_INFINITY;
		const maxBytes = limits?.maxBytes ?? Number.POSITIVE_INFINITY;
		return new Promise<Buffer[]>((resolve, reject) => {
			const lines: Buffer[] = [];
			let partial: Buffer[] = [];
			let partialLength = 0;
			let bytes = 0;
			let failed = false;
			const tooLarge = (what: string) => {
				failed = true;
				lines.length = 0;
				partial = [];
				reject(new Pop3ResponseTooLargeError(limits?.name, what, { lines: maxLines, bytes: maxBytes }));
			};
			const takeLine = (tail: Buffer) => {
				if (lines.length >= maxLines) {
					tooLarge(`more than ${maxLines} lines`);
					return;
				}
				const joined = partial.length === 0 ? tail : Buffer.concat([...partial, tail]);
				const end = joined.length > 0 && joined[joined.length - 1] === CR ? joined.length - 1 : joined.length;
				lines.push(Buffer.from(joined.subarray(0, end)));
				partial = [];
				partialLength = 0;
			};
			this.startBody({
				unstuffer: new DotUnstuffer(),
				wantsData: () => true,
				deliver: (pieces) => {
					for (const piece of pieces) {
						if (failed) return;
						bytes += piece.length;
						if (bytes > maxBytes) {
							tooLarge(`more than ${maxBytes} bytes`);
							return;
						}
						let start = 0;
						for (let lf = piece.indexOf(LF); lf >= 0; lf = piece.indexOf(LF, start)) {
							if (partialLength + (lf - start) > maxLineLength + 1) break;
							takeLine(piece.subarray(start, lf));
							if (failed) return;
							start = lf + 1;
						}
						partial.push(piece.subarray(start));
						partialLength += piece.length - start;
						if (partialLength > maxLineLength + 1) {
							failed = true;
							reject(new Pop3ProtocolError(`The POP3 server sent a listing line longer than ${maxLineLength} bytes`));
						}
					}
				},
				finish: () => {
					if (failed) return;
					if (partialLength > 0) takeLine(Buffer.alloc(0));
					if (!failed) resolve(lines);
				},
				abort: (error) => {
					if (!failed) reject(error);
				},
			});
		});
	}

	private assertIdle(): void {
		if (this.busy) throw new Error('POP3 response reader: a previous response is still being read');
	}

	private startBody(consumer: BodyConsumer): void {
		if (this.sourceError && this.chunks.length === 0) {
			consumer.abort(this.sourceError);
			return;
		}
		this.body = consumer;
		this.pump();
	}

	private pump(): void {
		if (this.pumping) return;
		this.pumping = true;
		try {
			for (;;) {
				const body = this.body;
				if (body) {
					if (!body.wantsData()) break;
					const chunk = this.chunks.shift();
					if (!chunk) {
						if (this.sourceError) {
							this.body = undefined;
							body.abort(this.sourceError);
							continue;
						}
						break;
					}
					this.bufferedBytes -= chunk.length;
					const result = body.unstuffer.write(chunk);
					if (result.rest) {
						this.chunks.unshift(result.rest);
						this.bufferedBytes += result.rest.length;
					}
					if (result.output.length > 0) body.deliver(result.output);
					if (result.done) {
						this.body = undefined;
						body.finish();
					}
					continue;
				}
				const request = this.lineRequest;
				if (request) {
					let line: Buffer | undefined;
					try {
						line = this.takeLine();
					} catch (error) {
						this.lineRequest = undefined;
						request.reject(error as Error);
						continue;
					}
					if (line) {
						this.lineRequest = undefined;
						request.resolve(line);
						continue;
					}
					if (this.sourceError) {
						this.lineRequest = undefined;
						request.reject(this.sourceError);
						continue;
					}
				}
				break;
			}
		} finally {
			this.pumping = false;
		}
		this.updateFlow();
	}

	private takeLine(): Buffer | undefined {
		if (this.chunks.length === 0) return undefined;
		const joined = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
		const lf = joined.indexOf(LF);
		const max = this.options.maxLineLength;
		if (lf < 0) {
			// +1: the CR of a CRLF split from its LF may already be here.
			if (joined.length > max + 1) throw new Pop3ProtocolError(`The POP3 server sent a line longer than ${max} bytes`);
			this.chunks = [joined];
			return undefined;
		}
		const end = lf > 0 && joined[lf - 1] === CR ? lf - 1 : lf;
		if (end > max) throw new Pop3ProtocolError(`The POP3 server sent a line longer than ${max} bytes`);
		// Copy, so a short status line does not keep a large socket chunk alive.
		const line = Buffer.from(joined.subarray(0, end));
		const rest = joined.subarray(lf + 1);
		this.chunks = rest.length > 0 ? [rest] : [];
		this.bufferedBytes = rest.length;
		return line;
	}

	private updateFlow(): void {
		let flowing: boolean;
		if (this.discardIncoming) flowing = true;
		else if (this.body) flowing = this.body.wantsData();
		// Nobody is reading: accept a little (a reply racing the request), then stop taking bytes from the socket.
		else flowing = this.bufferedBytes <= this.options.maxLineLength * 2;
		if (flowing !== this.flowing) {
			this.flowing = flowing;
			this.options.onFlowChange?.(flowing);
		}
	}
}
