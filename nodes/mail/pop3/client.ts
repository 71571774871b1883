/** POP3 commands over one session (RFC 1939, 2449, 2595, 5034 with XOAUTH2); the connection below them is wire.ts. */
import type { Readable } from 'node:stream';

import { buildXOAuth2InitialResponse } from '../auth/xoauth2';
import { authenticateXOAuth2, readCapabilities, startTls, type Pop3Capabilities } from './authorization';
import { Pop3CommandError, Pop3ConnectionError } from './errors';
import { CommandQueue } from './commandQueue';
import {
	greetingRefused,
	isSessionLevelCode,
	parseNumbers,
	parseScanListing,
	parseUniqueId,
	responseCodeOf,
	type Pop3ScanListing,
	type Pop3UniqueId,
} from './replies';
import {
	DEFAULT_POP3_LIMITS,
	DEFAULT_POP3_MAX_LINE_LENGTH,
	DEFAULT_POP3_TIMEOUTS,
	type Pop3ResponseLimits,
	type Pop3Security,
	type Pop3Timeouts,
	type Pop3TlsOptions,
	Pop3Wire,
} from './wire';

export type { Pop3ScanListing, Pop3UniqueId } from './replies';
export {
	DEFAULT_POP3_LIMITS,
	DEFAULT_POP3_TIMEOUTS,
	MAX_CAPA_BYTES,
	MAX_CAPA_LINES,
	MAX_LISTING_BYTES,
	MAX_LISTING_ENTRIES,
	type Pop3Timeouts,
	type Pop3TlsOptions,
} from './wire';

export interface Pop3ClientOptions {
	host: string;
	/** Defaults to 995 for `tls`, 110 otherwise. */
	port?: number;
	/** Defaults to `tls`. */
	security?: Pop3Security;
	tls?: Pop3TlsOptions;
	timeouts?: Partial<Pop3Timeouts>;
	maxLineLength?: number;
	/** Bounds of multi-line replies (tests make them small); defaults DEFAULT_POP3_LIMITS. */
	limits?: Partial<Pop3ResponseLimits>;
	/** Receives the protocol transcript (`C: STAT`, `S: +OK 2 320`); the AUTH line appears as `AUTH XOAUTH2 [redacted]`. */
	logger?: (message: string) => void;
}

export interface Pop3Stat {
	count: number;
	size: number;
}

type ClientState = 'new' | 'connecting' | 'connected' | 'authenticated' | 'closing' | 'closed';


/**
 * One POP3 session (RFC 1939, CAPA/RESP-CODES RFC 2449, STLS RFC 2595, AUTH RFC 5034 with XOAUTH2).
 *
 * Commands may be called without awaiting the previous one: they run strictly one after another (a RETR asked for
 * `pipelined` on a server with PIPELINING is written at once, but its reply is still read at its turn). A RETR/TOP stream
 * holds the session until it is read to the end or destroyed, so never await another command of the same client
 * before consuming the stream. Any timeout, broken connection or framing error destroys the socket; later calls reject.
 * Finish with quit() (Gmail marks messages as downloaded, and servers apply DELE, only after a clean QUIT) or destroy().
 */
export class Pop3Client {
	private readonly host: string;
	private readonly port: number;
	private readonly security: Pop3Security;
	private readonly timeouts: Pop3Timeouts;
	private readonly wire: Pop3Wire;

	private state: ClientState = 'new';
	private readonly limits: Pop3ResponseLimits;
	private readonly queue = new CommandQueue();
	private capabilityMap: Pop3Capabilities = new Map();
	private greetingText = '';
	/** The refusal (-ERR) to a transaction command when it is the last reply read so far; see refusalBeforeClose. */
	private lastRefusal?: Pop3CommandError;

	constructor(options: Pop3ClientOptions) {
		if (!options.host) throw new Error('POP3 host is required');
		this.host = options.host;
		this.security = options.security ?? 'tls';
		this.port = options.port ?? (this.security === 'tls' ? 995 : 110);
		this.timeouts = { ...DEFAULT_POP3_TIMEOUTS, ...options.timeouts };
		this.limits = { ...DEFAULT_POP3_LIMITS, ...options.limits };
		this.wire = new Pop3Wire({
			host: this.host,
			port: this.port,
			tlsOptions: { ...options.tls },
			timeouts: this.timeouts,
			maxLineLength: options.maxLineLength ?? DEFAULT_POP3_MAX_LINE_LENGTH,
			logger: options.logger,
			onClose: () => {
				this.state = 'closed';
			},
		});
	}

	/** Capabilities from CAPA (upper-case names, e.g. `SASL` → [`PLAIN`, `XOAUTH2`]); empty if the server has no CAPA. */
	get capabilities(): ReadonlyMap<string, readonly string[]> {
		return this.capabilityMap;
	}

	/**
	 * True when the CAPA read last (after STLS, RFC 2595 §4) lists PIPELINING (RFC 2449 §6.6). CAPA is not read again
	 * after AUTH: RFC 2449 §5 says capabilities available in the AUTHORIZATION state must be announced in both states,
	 * and one more CAPA would change what Gmail (which does not advertise PIPELINING) sees.
	 */
	get pipelining(): boolean {
		return this.capabilityMap.has('PIPELINING');
	}

	/** The greeting text after `+OK`. */
	get greeting(): string {
		return this.greetingText;
	}

	/** True between a successful connect() and quit()/destroy()/a failure. */
	get usable(): boolean {
		return this.state === 'connected' || this.state === 'authenticated';
	}

	get authenticated(): boolean {
		return this.state === 'authenticated';
	}

	/**
	 * The refusal (-ERR) that was the last reply the server sent before it closed the connection, when the session ended
	 * that way and the refusal named a problem of the session, not of one message (RFC 2449/3206 codes: SYS/PERM,
	 * SYS/TEMP, IN-USE, LOGIN-DELAY, AUTH): the reason it ended (Gmail refuses with `[SYS/PERM]` and hangs up when POP
	 * is switched off in the middle of a session), to be reported rather than the commands the close then cut off.
	 * Undefined otherwise: a message refused earlier (`no such message`) says nothing of why the connection dropped later.
	 */
	get refusalBeforeClose(): Pop3CommandError | undefined {
		if (!this.wire.closedByServer || !this.lastRefusal) return undefined;
		return isSessionLevelCode(this.lastRefusal.responseCode) ? this.lastRefusal : undefined;
	}

	/** Opens the connection, reads the greeting and CAPA, and upgrades with STLS when security is `starttls`. */
	connect(): Promise<void> {
		if (this.state !== 'new') {
			return Promise.reject(new Error('Pop3Client.connect() may be called only once; create a new client to reconnect'));
		}
		this.state = 'connecting';
		return this.enqueueSimple(async () => {
			try {
				await this.wire.open(this.security === 'tls');
				const greeting = await this.wire.readStatus('greeting', this.timeouts.greeting);
				if (greeting.kind !== 'ok') throw greetingRefused(this.wire, greeting);
				this.greetingText = this.wire.clean(greeting.text);
				this.capabilityMap = await readCapabilities(this.wire, this.limits, this.timeouts.command);
				if (this.security === 'starttls') {
					await startTls(this.wire, this.capabilityMap, `${this.host}:${this.port}`, this.timeouts.command);
					// RFC 2595 §4: capabilities learned before TLS may have been tampered with: read them again.
					this.capabilityMap = await readCapabilities(this.wire, this.limits, this.timeouts.command);
				}
				this.state = 'connected';
			} catch (error) {
				throw this.wire.fail(this.wire.asError(error, 'connect'));
			}
		});
	}

	/**
	 * `AUTH XOAUTH2` with the access token. Throws TokenRejectedError when the server refuses the token (the session
	 * stays in the authorization state, so a retry with a refreshed token may use the same client),
	 * Pop3AccessDisabledError for `[SYS/PERM]`, Pop3ServerBusyError for `[SYS/TEMP]`, `[IN-USE]`, `[LOGIN-DELAY]`.
	 */
	authenticateXOAuth2(user: string, accessToken: string): Promise<void> {
		let initialResponse: string;
		try {
			initialResponse = buildXOAuth2InitialResponse(user, accessToken);
		} catch (error) {
			return Promise.reject(error);
		}
		this.wire.addSecret(accessToken);
		this.wire.addSecret(initialResponse);
		return this.enqueueSimple(async () => {
			this.assertState(['connected'], 'AUTH');
			await authenticateXOAuth2(this.wire, this.capabilityMap, this.host, initialResponse, this.timeouts.command);
			this.state = 'authenticated';
		});
	}

	stat(): Promise<Pop3Stat> {
		return this.transaction('STAT', async () => {
			const [count, size] = parseNumbers(this.wire, await this.command('STAT'), 2, 'STAT');
			return { count, size };
		});
	}

	/** LIST: sizes of all messages not marked deleted, or of one message. */
	list(): Promise<Pop3ScanListing[]>;
	list(messageNumber: number): Promise<Pop3ScanListing>;
	list(messageNumber?: number): Promise<Pop3ScanListing[] | Pop3ScanListing> {
		return this.listingCommand('LIST', messageNumber, (line, step) => parseScanListing(this.wire, line, step));
	}

	/** UIDL: the server's unique id of every message not marked deleted, or of one message. */
	uidl(): Promise<Pop3UniqueId[]>;
	uidl(messageNumber: number): Promise<Pop3UniqueId>;
	uidl(messageNumber?: number): Promise<Pop3UniqueId[] | Pop3UniqueId> {
		return this.listingCommand('UIDL', messageNumber, (line, step) => parseUniqueId(this.wire, line, step));
	}

	/**
	 * LIST and UIDL follow one rule (RFC 1939 §5): without an argument a multi-line listing, one entry per line; with a
	 * message number a single-line answer holding that one entry. `parse` reads an entry either way.
	 */
	private listingCommand<T>(
		verb: 'LIST' | 'UIDL',
		messageNumber: number | undefined,
		parse: (line: Buffer | string, step: string) => T,
	): Promise<T[] | T> {
		return this.transaction(verb, async () => {
			if (messageNumber === undefined) {
				await this.command(verb);
				const lines = await this.wire.readListing(verb, this.limits.listing, this.timeouts.listing);
				return lines.map((line) => parse(line, verb));
			}
			const command = `${verb} ${checkMessageNumber(messageNumber)}`;
			return parse(await this.command(command), command);
		});
	}

	/**
	 * RETR: the message's exact bytes (dot-unstuffing undone, terminator removed) as a stream with backpressure.
	 * The next command waits until the stream has been read to the end or destroyed; destroying it early makes the
	 * client skip the rest of the message so the session stays usable.
	 *
	 * `pipelined`: when the server advertised PIPELINING and every command queued before this one is already written,
	 * the line goes out now instead of after the previous reply; the reply is still read in order. The caller must read
	 * (or destroy) every body in order, as ever, and bounds how many it asks for ahead.
	 */
	retr(messageNumber: number, options: { pipelined?: boolean } = {}): Promise<Readable> {
		return this.streamingCommand('RETR', () => `RETR ${checkMessageNumber(messageNumber)}`, options);
	}

	/** TOP: the headers, the blank line and the first `lineCount` body lines, streamed like retr(). */
	top(messageNumber: number, lineCount: number): Promise<Readable> {
		return this.streamingCommand('TOP', () => {
			if (!Number.isSafeInteger(lineCount) || lineCount < 0) {
				throw new RangeError(`TOP needs a line count of 0 or more, got ${String(lineCount)}`);
			}
			return `TOP ${checkMessageNumber(messageNumber)} ${lineCount}`;
		});
	}

	/** DELE: marks a message deleted; the server removes it only after a successful quit(). */
	dele(messageNumber: number): Promise<void> {
		return this.transaction('DELE', async () => {
			await this.command(`DELE ${checkMessageNumber(messageNumber)}`);
		});
	}

	/** RSET: unmarks all messages marked deleted in this session. */
	rset(): Promise<void> {
		return this.transaction('RSET', async () => {
			await this.command('RSET');
		});
	}

	noop(): Promise<void> {
		return this.transaction('NOOP', async () => {
			await this.command('NOOP');
		});
	}

	/**
	 * QUIT and close. Only after this does the server commit deletions (and Gmail mark messages as downloaded).
	 * Throws if the server answers -ERR (deletions not applied) or the reply never comes.
	 */
	quit(): Promise<void> {
		return this.enqueueSimple(async () => {
			this.assertState(['connected', 'authenticated'], 'QUIT');
			this.state = 'closing';
			this.wire.quitting = true;
			this.wire.send('QUIT');
			const status = await this.wire.readStatus('QUIT', this.timeouts.command);
			await this.wire.closeAfterQuit();
			if (status.kind !== 'ok') {
				throw this.wire.withTranscript(
					new Pop3CommandError(
						`The POP3 server refused QUIT (${this.wire.clean(status.text)}); messages marked for deletion were not deleted`,
						{ step: 'QUIT', serverText: this.wire.clean(status.text), responseCode: responseCodeOf(status) },
					),
				);
			}
		});
	}

	/** Closes the connection at once without QUIT (use after a failure). Pending calls reject; safe to call twice. */
	destroy(): void {
		this.wire.destroy();
	}

	// ---- commands ---------------------------------------------------------------------------------------------

	private enqueueSimple<T>(task: () => Promise<T>): Promise<T> {
		return this.queue.run(async () => ({ value: await task() }));
	}

	private transaction<T>(action: string, task: () => Promise<T>): Promise<T> {
		return this.enqueueSimple(() => {
			this.assertState(['authenticated'], action);
			return task();
		});
	}

	private streamingCommand(action: string, buildCommand: () => string, options: { pipelined?: boolean } = {}): Promise<Readable> {
		const sentAhead = options.pipelined === true ? this.sendAhead(buildCommand) : undefined;
		return this.queue.run(
			async () => {
				if (sentAhead !== undefined && this.wire.failure) throw await this.answeredAfterEnd(sentAhead);
				this.assertState(['authenticated'], action);
				const command = sentAhead ?? buildCommand();
				if (sentAhead === undefined) this.wire.send(command);
				await this.replyTo(command);
				const body = this.wire.readBody(command);
				return { value: body.stream, settled: body.settled };
			},
			{ sentAhead: sentAhead !== undefined },
		);
	}

	/**
	 * Writes a command line now, before the replies it follows have arrived (RFC 2449 PIPELINING), and returns it; or
	 * undefined when it must wait its turn: no PIPELINING, not in the transaction state, connection failed, or an
	 * earlier command is still unwritten (lines must reach the server in the order their replies are read).
	 */
	private sendAhead(buildCommand: () => string): string | undefined {
		if (!this.pipelining || this.state !== 'authenticated' || this.wire.failure || this.queue.unsent > 0) return undefined;
		let command: string;
		try {
			command = buildCommand();
		} catch {
			return undefined; // an invalid argument: the queued task builds it again and rejects with the error
		}
		this.wire.send(command);
		return command;
	}

	/**
	 * The error for a command written ahead whose turn came after the connection ended. A refusal (-ERR) that had arrived
	 * whole before the end is its answer; nothing else is read off the connection after that (a +OK would be followed by
	 * a body that may be cut, whose lines must never be taken for the next command's status).
	 */
	private async answeredAfterEnd(command: string): Promise<Error> {
		try {
			await this.replyTo(command);
		} catch (error) {
			if (error instanceof Pop3CommandError) return error;
		}
		this.wire.destroy();
		return this.unansweredAhead(command);
	}

	/**
	 * A command written ahead whose turn came after the connection ended: the end cut off its reply, so the error names
	 * it (the recorded failure may name a reply read earlier, whose bytes had all arrived before the server closed).
	 */
	private unansweredAhead(command: string): Pop3ConnectionError {
		return this.wire.withTranscript(
			new Pop3ConnectionError(`The POP3 connection ended before the server answered ${command}`, {
				step: command,
				cause: this.wire.failure,
			}),
		);
	}

	private assertState(allowed: ClientState[], action: string): void {
		if (this.state === 'closed' || this.state === 'closing' || this.wire.failure) {
			const reason = this.wire.failure ? `: ${this.wire.failure.message}` : '';
			throw new Pop3ConnectionError(`The POP3 connection is no longer usable${reason}`, {
				step: action,
				cause: this.wire.failure,
			});
		}
		if (!allowed.includes(this.state)) {
			if (this.state === 'authenticated') throw new Error(`POP3 ${action} is not possible: the session is already authenticated`);
			const needed = allowed.includes('authenticated') ? 'after authenticateXOAuth2()' : 'after connect()';
			throw new Error(`POP3 ${action} is only possible ${needed}`);
		}
	}

	/** Sends a command and returns the text after +OK; -ERR becomes Pop3CommandError (the session stays usable). */
	private async command(command: string): Promise<string> {
		this.wire.send(command);
		return this.replyTo(command);
	}

	/** Reads the status line answering `command` (already sent): the text after +OK, or the error command() describes. */
	private async replyTo(command: string): Promise<string> {
		const status = await this.wire.readStatus(command, this.timeouts.command);
		this.lastRefusal = undefined;
		if (status.kind === 'ok') return status.text;
		if (status.kind === 'err') {
			const serverText = this.wire.clean(status.text);
			this.lastRefusal = this.wire.withTranscript(
				new Pop3CommandError(`The POP3 server refused ${command}: ${serverText}`, {
					step: command,
					serverText,
					responseCode: responseCodeOf(status),
				}),
			);
			throw this.lastRefusal;
		}
		throw this.wire.fail(this.wire.protocolError(command, status.text));
	}
}

function checkMessageNumber(messageNumber: number): number {
	if (!Number.isSafeInteger(messageNumber) || messageNumber < 1) {
		throw new RangeError(`POP3 message numbers start at 1, got ${String(messageNumber)}`);
	}
	return messageNumber;
}
