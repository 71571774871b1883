import * as net from 'node:net';
import type { Readable } from 'node:stream';
import * as tls from 'node:tls';

import { TokenRejectedError } from '../auth/errors';
import { buildXOAuth2InitialResponse, decodeXOAuth2Challenge } from '../auth/xoauth2';
import { isCertificateVerificationCode } from '../connection';
import {
	Pop3AccessDisabledError,
	Pop3CertificateError,
	Pop3CommandError,
	Pop3ConnectionError,
	Pop3Error,
	Pop3MechanismUnsupportedError,
	Pop3ProtocolError,
	Pop3ServerBusyError,
	Pop3StlsUnavailableError,
	Pop3TimeoutError,
} from './errors';
import { type ListingLimits, parseStatusLine, Pop3ResponseReader, type Pop3Status } from './responseReader';

/**
 * `tls`: TLS from the first byte (port 995). `starttls`: plain connect, then STLS (refused if not offered).
 * `none`: no encryption, only when chosen explicitly. Same values as connection.ts `TlsSecurity`.
 */
export type Pop3Security = 'tls' | 'starttls' | 'none';

export interface Pop3TlsOptions {
	/** Verify the server certificate (default true). Turn off only for testing. */
	rejectUnauthorized?: boolean;
	/** SNI and the name the certificate must match; defaults to `host` unless host is an IP address. */
	servername?: string;
	/** Extra trusted CA certificate(s) in PEM, e.g. for a private mail server. */
	ca?: string | Buffer | Array<string | Buffer>;
	minVersion?: tls.SecureVersion;
}

export interface Pop3Timeouts {
	/** TCP connect plus TLS handshake (also the handshake after STLS), in ms. */
	connect: number;
	/** From connected to the server's greeting line. */
	greeting: number;
	/** From sending a command to its status line; also bounds QUIT. */
	command: number;
	/** Longest silence between chunks of a multi-line reply while the client is waiting for bytes (not while the consumer is slow). */
	idle: number;
	/**
	 * Whole LIST or UIDL listing, from its status line to its last line; bytes that keep arriving do not extend it, so a
	 * server dripping a never-ending listing is cut off. (CAPA, a few lines, gets `command` as its whole deadline.)
	 */
	listing: number;
	/** Whole RETR/TOP body, however it trickles in (includes the time the consumer takes to read it). */
	body: number;
}

export const DEFAULT_POP3_TIMEOUTS: Readonly<Pop3Timeouts> = {
	connect: 30_000,
	greeting: 30_000,
	command: 60_000,
	idle: 60_000,
	// The largest accepted listing (MAX_LISTING_BYTES, 48 MiB) at about 1.5 Mbit/s; a real one is far smaller.
	listing: 300_000,
	// The largest message the node may be told to fetch (1 GiB) at about 5 Mbit/s.
	body: 1_800_000,
};

/** Longest status or listing line accepted. RFC 2449 allows 512 octets; real servers stay far below this. */
export const DEFAULT_POP3_MAX_LINE_LENGTH = 8192;

/**
 * CAPA: RFC 2449 capabilities are a dozen short lines (Gmail sends 7, Dovecot 10). 200 lines / 64 KiB is far above
 * any real server and small enough that a man in the middle before STLS (CAPA is read before it) cannot hurt.
 */
export const MAX_CAPA_LINES = 200;
export const MAX_CAPA_BYTES = 64 * 1024;
/**
 * LIST/UIDL: one line per message. 500,000 messages is far beyond Gmail (about 250 listed per session in normal mode)
 * and a very large Dovecot/Exchange maildrop, yet each listed line costs about 130 bytes of heap once kept and both
 * listings are held at once, so this stays near 200 MB at worst. 48 MiB is 500,000 lines of about 100 bytes (a
 * 7-digit number, a 70-character UIDL per RFC 1939, CRLF) with room to spare.
 */
export const MAX_LISTING_ENTRIES = 500_000;
export const MAX_LISTING_BYTES = 48 * 1024 * 1024;

export interface Pop3ResponseLimits {
	capa: { lines: number; bytes: number };
	listing: { lines: number; bytes: number };
}

export const DEFAULT_POP3_LIMITS: Readonly<Pop3ResponseLimits> = {
	capa: { lines: MAX_CAPA_LINES, bytes: MAX_CAPA_BYTES },
	listing: { lines: MAX_LISTING_ENTRIES, bytes: MAX_LISTING_BYTES },
};

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

export interface Pop3ScanListing {
	messageNumber: number;
	size: number;
}

export interface Pop3UniqueId {
	messageNumber: number;
	uid: string;
}

type ClientState = 'new' | 'connecting' | 'connected' | 'authenticated' | 'closing' | 'closed';

interface StepTimer {
	readonly step: string;
	readonly ms: number;
	/** `response`: the whole wait counts. `idle`: restarts on every chunk and pauses while the consumer applies backpressure. */
	readonly mode: 'response' | 'idle';
	handle?: NodeJS.Timeout;
}

interface QueuedResult<T> {
	value: T;
	/** The next command starts only once this settles (a RETR body read to the end or destroyed). */
	settled?: Promise<unknown>;
}

const TRANSCRIPT_LINES = 20;
const SERVER_TEXT_LIMIT = 300;
const REDACTED = '[redacted]';
const BUSY_CODES = new Set(['SYS/TEMP', 'IN-USE', 'LOGIN-DELAY']);
const noop = (): undefined => undefined;

/**
 * One POP3 session (RFC 1939, CAPA/RESP-CODES RFC 2449, STLS RFC 2595, AUTH RFC 5034 with XOAUTH2).
 *
 * Commands may be called without awaiting the previous one: they run strictly one after another. A RETR/TOP stream
 * holds the session until it is read to the end or destroyed, so never await another command of the same client
 * before consuming the stream. Any timeout, broken connection or framing error destroys the socket; later calls reject.
 * Finish with quit() (Gmail marks messages as downloaded, and servers apply DELE, only after a clean QUIT) or destroy().
 */
export class Pop3Client {
	private readonly host: string;
	private readonly port: number;
	private readonly security: Pop3Security;
	private readonly tlsOptions: Pop3TlsOptions;
	private readonly timeouts: Pop3Timeouts;
	private readonly logger?: (message: string) => void;
	private readonly reader: Pop3ResponseReader;

	private state: ClientState = 'new';
	private socket?: net.Socket;
	private readonly sockets: net.Socket[] = [];
	private failure?: Error;
	private readonly failureListeners = new Set<(error: Error) => void>();
	private timer?: StepTimer;
	/** The whole-response deadline running beside `timer` (listings and bodies); data never extends it. */
	private deadline?: StepTimer;
	private readonly limits: Pop3ResponseLimits;
	private chain: Promise<unknown> = Promise.resolve();
	private capabilityMap = new Map<string, string[]>();
	private greetingText = '';
	private readonly secrets = new Set<string>();
	private readonly recentLines: string[] = [];

	constructor(options: Pop3ClientOptions) {
		if (!options.host) throw new Error('POP3 host is required');
		this.host = options.host;
		this.security = options.security ?? 'tls';
		this.port = options.port ?? (this.security === 'tls' ? 995 : 110);
		this.tlsOptions = { ...options.tls };
		this.timeouts = { ...DEFAULT_POP3_TIMEOUTS, ...options.timeouts };
		this.logger = options.logger;
		this.limits = { ...DEFAULT_POP3_LIMITS, ...options.limits };
		this.reader = new Pop3ResponseReader({
			maxLineLength: options.maxLineLength ?? DEFAULT_POP3_MAX_LINE_LENGTH,
			onFlowChange: (flowing) => this.onFlowChange(flowing),
		});
	}

	/** Capabilities from CAPA (upper-case names, e.g. `SASL` → [`PLAIN`, `XOAUTH2`]); empty if the server has no CAPA. */
	get capabilities(): ReadonlyMap<string, readonly string[]> {
		return this.capabilityMap;
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

	/** Opens the connection, reads the greeting and CAPA, and upgrades with STLS when security is `starttls`. */
	connect(): Promise<void> {
		if (this.state !== 'new') {
			return Promise.reject(new Error('Pop3Client.connect() may be called only once; create a new client to reconnect'));
		}
		this.state = 'connecting';
		return this.enqueueSimple(async () => {
			try {
				await this.openSocket();
				const greeting = await this.readStatus('greeting', this.timeouts.greeting);
				if (greeting.kind !== 'ok') throw this.greetingRefused(greeting);
				this.greetingText = this.clean(greeting.text);
				await this.loadCapabilities();
				if (this.security === 'starttls') await this.startTls();
				this.state = 'connected';
			} catch (error) {
				throw this.fail(this.asError(error, 'connect'));
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
		this.secrets.add(accessToken);
		this.secrets.add(initialResponse);
		return this.enqueueSimple(async () => {
			this.assertState(['connected'], 'AUTH');
			const mechanisms = this.capabilityMap.get('SASL');
			if (mechanisms && !mechanisms.some((mechanism) => mechanism.toUpperCase() === 'XOAUTH2')) {
				throw this.withTranscript(
					new Pop3MechanismUnsupportedError(
						`The POP3 server ${this.host} does not offer XOAUTH2 login (it offers: ${mechanisms.join(', ') || 'none'})`,
						{ step: 'AUTH XOAUTH2' },
					),
				);
			}
			const step = 'AUTH XOAUTH2';
			this.send(`AUTH XOAUTH2 ${initialResponse}`, `AUTH XOAUTH2 ${REDACTED}`);
			const first = await this.readStatus(step, this.timeouts.command);
			if (first.kind === 'ok') {
				this.state = 'authenticated';
				return;
			}
			if (first.kind === 'err') throw this.authRefused(first);
			if (first.kind !== 'continue') throw this.fail(this.protocolError(step, first.text));
			// The server refused the token and explains why in base64 JSON; SASL wants an empty line before the final -ERR.
			const challenge = decodeXOAuth2Challenge(first.text);
			this.send('', '(empty line: acknowledges the XOAUTH2 error challenge)');
			const final = await this.readStatus(step, this.timeouts.command);
			if (final.kind === 'ok') {
				this.state = 'authenticated';
				return;
			}
			if (final.kind !== 'err') throw this.fail(this.protocolError(step, final.text));
			throw this.authRefused(final, challenge);
		});
	}

	stat(): Promise<Pop3Stat> {
		return this.transaction('STAT', async () => {
			const [count, size] = this.parseNumbers(await this.command('STAT'), 2, 'STAT');
			return { count, size };
		});
	}

	/** LIST: sizes of all messages not marked deleted, or of one message. */
	list(): Promise<Pop3ScanListing[]>;
	list(messageNumber: number): Promise<Pop3ScanListing>;
	list(messageNumber?: number): Promise<Pop3ScanListing[] | Pop3ScanListing> {
		return this.listingCommand('LIST', messageNumber, (line, step) => this.parseScanListing(line, step));
	}

	/** UIDL: the server's unique id of every message not marked deleted, or of one message. */
	uidl(): Promise<Pop3UniqueId[]>;
	uidl(messageNumber: number): Promise<Pop3UniqueId>;
	uidl(messageNumber?: number): Promise<Pop3UniqueId[] | Pop3UniqueId> {
		return this.listingCommand('UIDL', messageNumber, (line, step) => this.parseUniqueId(line, step));
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
				const lines = await this.readListing(verb, this.limits.listing, this.timeouts.listing);
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
	 */
	retr(messageNumber: number): Promise<Readable> {
		return this.streamingCommand('RETR', () => `RETR ${checkMessageNumber(messageNumber)}`);
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
			this.send('QUIT');
			const status = await this.readStatus('QUIT', this.timeouts.command);
			await this.closeAfterQuit();
			if (status.kind !== 'ok') {
				throw this.withTranscript(
					new Pop3CommandError(
						`The POP3 server refused QUIT (${this.clean(status.text)}); messages marked for deletion were not deleted`,
						{ step: 'QUIT', serverText: this.clean(status.text), responseCode: responseCodeOf(status) },
					),
				);
			}
		});
	}

	/** Closes the connection at once without QUIT (use after a failure). Pending calls reject; safe to call twice. */
	destroy(): void {
		const reason = new Pop3ConnectionError('The POP3 connection was closed by the client');
		this.fail(reason);
		// Also when the server had closed first: drop buffered replies and settle a body nobody is reading.
		this.reader.fail(this.failure ?? reason, { immediate: true });
		for (const socket of this.sockets) socket.destroy();
	}

	// ---- connection -------------------------------------------------------------------------------------------

	private openSocket(): Promise<void> {
		this.armTimer('connect', this.timeouts.connect, 'response');
		const socket =
			this.security === 'tls'
				? tls.connect({ host: this.host, port: this.port, ...this.secureContextOptions() })
				: net.connect({ host: this.host, port: this.port });
		this.adopt(socket);
		return this.waitForSocketEvent(socket, this.security === 'tls' ? 'secureConnect' : 'connect').then(() =>
			this.clearTimer(),
		);
	}

	private async startTls(): Promise<void> {
		if (!this.capabilityMap.has('STLS')) {
			throw new Pop3StlsUnavailableError(
				`The POP3 server ${this.host}:${this.port} does not offer STLS (STARTTLS), so the connection cannot be ` +
					'encrypted; nothing was sent in plain text. Use TLS (usually port 995) instead.',
				{ step: 'STLS' },
			);
		}
		this.send('STLS');
		const status = await this.readStatus('STLS', this.timeouts.command);
		if (status.kind !== 'ok') {
			throw new Pop3StlsUnavailableError(`The POP3 server refused STLS: ${this.clean(status.text)}`, {
				step: 'STLS',
				serverText: this.clean(status.text),
			});
		}
		if (this.reader.bufferedByteCount > 0) {
			// Bytes after the +OK but before the handshake were not protected by TLS: an attacker may have injected them.
			throw new Pop3ProtocolError('The POP3 server sent unencrypted data after accepting STLS; refusing to continue', {
				step: 'STLS',
			});
		}
		const plain = this.activeSocket();
		plain.off('data', this.onData);
		this.armTimer('STLS handshake', this.timeouts.connect, 'response');
		const secure = tls.connect({ socket: plain, host: this.host, ...this.secureContextOptions() });
		this.adopt(secure);
		await this.waitForSocketEvent(secure, 'secureConnect');
		this.clearTimer();
		// RFC 2595 §4: capabilities learned before TLS may have been tampered with.
		this.capabilityMap = new Map();
		await this.loadCapabilities();
	}

	private secureContextOptions(): tls.ConnectionOptions {
		const servername = this.tlsOptions.servername ?? (net.isIP(this.host) ? undefined : this.host);
		return {
			rejectUnauthorized: this.tlsOptions.rejectUnauthorized !== false,
			minVersion: this.tlsOptions.minVersion ?? 'TLSv1.2',
			...(servername ? { servername } : {}),
			...(this.tlsOptions.ca ? { ca: this.tlsOptions.ca } : {}),
		};
	}

	private adopt(socket: net.Socket): void {
		this.socket = socket;
		this.sockets.push(socket);
		socket.setNoDelay(true);
		socket.setKeepAlive(true, 60_000);
		socket.on('data', this.onData);
		socket.on('error', this.onSocketError);
		socket.on('close', this.onSocketClose);
	}

	private activeSocket(): net.Socket {
		if (!this.socket) throw new Error('POP3 client has no socket');
		return this.socket;
	}

	private waitForSocketEvent(socket: net.Socket, event: 'connect' | 'secureConnect'): Promise<void> {
		return new Promise<void>((resolve, reject) => {
			if (this.failure) {
				reject(this.failure);
				return;
			}
			const cleanup = () => {
				socket.off(event, onEvent);
				this.failureListeners.delete(onFailure);
			};
			const onEvent = () => {
				cleanup();
				resolve();
			};
			const onFailure = (error: Error) => {
				cleanup();
				reject(error);
			};
			socket.once(event, onEvent);
			this.failureListeners.add(onFailure);
		});
	}

	private readonly onData = (chunk: Buffer): void => {
		const timer = this.timer;
		if (timer?.mode === 'idle' && timer.handle) timer.handle.refresh();
		this.reader.feed(chunk);
	};

	private readonly onSocketError = (error: NodeJS.ErrnoException): void => {
		this.fail(this.describeSocketError(error));
	};

	private readonly onSocketClose = (): void => {
		if (this.failure) return;
		if (this.state === 'closing') {
			this.close(new Pop3ConnectionError('The POP3 server closed the connection after QUIT was sent', { step: 'QUIT' }), {
				immediate: false,
			});
			return;
		}
		const step = this.timer?.step;
		this.close(
			new Pop3ConnectionError(`The POP3 server closed the connection${step ? ` (step: ${step})` : ''}`, { step }),
			{ immediate: false },
		);
	};

	private onFlowChange(flowing: boolean): void {
		const socket = this.socket;
		if (!socket || socket.destroyed) return;
		const timer = this.timer;
		if (flowing) {
			socket.resume();
			if (timer?.mode === 'idle' && !timer.handle) this.startTimer(timer);
		} else {
			socket.pause();
			// The consumer is slow, not the server: stop counting silence until it wants more.
			if (timer?.mode === 'idle' && timer.handle) {
				clearTimeout(timer.handle);
				timer.handle = undefined;
			}
		}
	}

	private closeAfterQuit(): Promise<void> {
		const socket = this.activeSocket();
		if (socket.destroyed) return Promise.resolve();
		return new Promise<void>((resolve) => {
			const giveUp = setTimeout(() => {
				socket.destroy();
				resolve();
			}, this.timeouts.command);
			socket.once('close', () => {
				clearTimeout(giveUp);
				resolve();
			});
			socket.end();
		});
	}

	/** Ends the session because of `error` (the first reason wins) and destroys the sockets. Returns the recorded reason. */
	private fail(error: Error): Error {
		this.close(error, { immediate: true });
		return this.failure ?? error;
	}

	private close(reason: Error, options: { immediate: boolean }): void {
		if (this.failure) return;
		this.failure = reason;
		this.state = 'closed';
		this.clearTimer();
		this.clearDeadline(this.deadline);
		this.log(`closed: ${reason.message}`);
		this.withTranscript(reason);
		if (options.immediate) for (const socket of this.sockets) socket.destroy();
		this.reader.fail(reason, options);
		for (const listener of [...this.failureListeners]) listener(reason);
	}

	// ---- commands ---------------------------------------------------------------------------------------------

	private enqueue<T>(task: () => Promise<QueuedResult<T>>): Promise<T> {
		const run = this.chain.then(task);
		this.chain = run.then((result) => result.settled?.then(noop, noop), noop);
		return run.then((result) => result.value);
	}

	private enqueueSimple<T>(task: () => Promise<T>): Promise<T> {
		return this.enqueue(async () => ({ value: await task() }));
	}

	private transaction<T>(action: string, task: () => Promise<T>): Promise<T> {
		return this.enqueueSimple(() => {
			this.assertState(['authenticated'], action);
			return task();
		});
	}

	private streamingCommand(action: string, buildCommand: () => string): Promise<Readable> {
		return this.enqueue(async () => {
			this.assertState(['authenticated'], action);
			const command = buildCommand();
			await this.command(command);
			const bodyStep = `${command} (message body)`;
			const timer = this.armTimer(bodyStep, this.timeouts.idle, 'idle');
			const deadline = this.armDeadline(bodyStep, this.timeouts.body);
			const body = this.reader.readBody();
			const streamClosed = new Promise<void>((resolve) => body.stream.once('close', resolve));
			const wireDone = body.wireDone.then(() => {
				if (this.timer === timer) this.clearTimer();
				this.clearDeadline(deadline);
				if (!this.failure) this.log(`S: [${command}: ${body.bytesRead()} bytes]`);
			});
			return { value: body.stream, settled: Promise.all([wireDone, streamClosed]) };
		});
	}

	private assertState(allowed: ClientState[], action: string): void {
		if (this.state === 'closed' || this.state === 'closing' || this.failure) {
			const reason = this.failure ? `: ${this.failure.message}` : '';
			throw new Pop3ConnectionError(`The POP3 connection is no longer usable${reason}`, {
				step: action,
				cause: this.failure,
			});
		}
		if (!allowed.includes(this.state)) {
			if (this.state === 'authenticated') throw new Error(`POP3 ${action} is not possible: the session is already authenticated`);
			const needed = allowed.includes('authenticated') ? 'after authenticateXOAuth2()' : 'after connect()';
			throw new Error(`POP3 ${action} is only possible ${needed}`);
		}
	}

	private send(line: string, shownAs: string = line): void {
		this.log(`C: ${shownAs}`);
		this.activeSocket().write(`${line}\r\n`);
	}

	/** Sends a command and returns the text after +OK; -ERR becomes Pop3CommandError (the session stays usable). */
	private async command(command: string): Promise<string> {
		this.send(command);
		const status = await this.readStatus(command, this.timeouts.command);
		if (status.kind === 'ok') return status.text;
		if (status.kind === 'err') {
			const serverText = this.clean(status.text);
			throw this.withTranscript(
				new Pop3CommandError(`The POP3 server refused ${command}: ${serverText}`, {
					step: command,
					serverText,
					responseCode: responseCodeOf(status),
				}),
			);
		}
		throw this.fail(this.protocolError(command, status.text));
	}

	private async readStatus(step: string, timeoutMs: number): Promise<Pop3Status> {
		const timer = this.armTimer(step, timeoutMs, 'response');
		let line: Buffer;
		try {
			line = await this.reader.readLine();
		} catch (error) {
			throw this.fail(this.asError(error, step));
		} finally {
			if (this.timer === timer) this.clearTimer();
		}
		const status = parseStatusLine(line);
		this.log(`S: ${this.clean(line.toString('utf8'))}`);
		if (status.kind === 'invalid') throw this.fail(this.protocolError(step, status.text));
		return status;
	}

	private async readListing(step: string, limits: { lines: number; bytes: number }, totalMs: number): Promise<Buffer[]> {
		const timer = this.armTimer(`${step} (listing)`, this.timeouts.idle, 'idle');
		const deadline = this.armDeadline(`${step} (listing)`, totalMs);
		const readerLimits: ListingLimits = { maxLines: limits.lines, maxBytes: limits.bytes, name: step };
		try {
			const lines = await this.reader.readListing(readerLimits);
			this.log(`S: [${step}: ${lines.length} lines]`);
			return lines;
		} catch (error) {
			throw this.fail(this.asError(error, step));
		} finally {
			if (this.timer === timer) this.clearTimer();
			this.clearDeadline(deadline);
		}
	}

	private async loadCapabilities(): Promise<void> {
		this.send('CAPA');
		const status = await this.readStatus('CAPA', this.timeouts.command);
		if (status.kind === 'err') {
			// A plain RFC 1939 server without CAPA: nothing is known, AUTH is still tried.
			this.capabilityMap = new Map();
			return;
		}
		if (status.kind !== 'ok') throw this.fail(this.protocolError('CAPA', status.text));
		const capabilities = new Map<string, string[]>();
		for (const line of await this.readListing('CAPA', this.limits.capa, this.timeouts.command)) {
			const words = line.toString('latin1').trim().split(/\s+/);
			if (words[0]) capabilities.set(words[0].toUpperCase(), words.slice(1));
		}
		this.capabilityMap = capabilities;
	}

	// ---- errors and parsing -----------------------------------------------------------------------------------

	private greetingRefused(status: Pop3Status): Error {
		const serverText = this.clean(status.text);
		if (status.kind === 'err') {
			const responseCode = responseCodeOf(status);
			if (responseCode && BUSY_CODES.has(baseCode(responseCode))) {
				return new Pop3ServerBusyError({ step: 'greeting', serverText, responseCode });
			}
			return new Pop3ConnectionError(`The POP3 server refused the connection: ${serverText}`, {
				step: 'greeting',
				serverText,
				responseCode,
			});
		}
		return this.protocolError('greeting', status.text);
	}

	/** Classifies -ERR after AUTH by its RFC 3206 response code; never by the server's wording. */
	private authRefused(status: Pop3Status, challenge?: ReturnType<typeof decodeXOAuth2Challenge>): Error {
		const serverText = this.clean(status.text);
		const responseCode = responseCodeOf(status);
		const code = responseCode ? baseCode(responseCode) : undefined;
		const details = { step: 'AUTH XOAUTH2', serverText, responseCode };
		if (code === 'SYS/PERM') return this.withTranscript(new Pop3AccessDisabledError(details));
		if (code && BUSY_CODES.has(code)) return this.withTranscript(new Pop3ServerBusyError(details));
		return new TokenRejectedError('pop3', { challenge, serverText });
	}

	private protocolError(step: string, text: string): Pop3ProtocolError {
		const serverText = this.clean(text);
		return new Pop3ProtocolError(`The POP3 server sent an unexpected reply to ${step}: "${serverText}"`, {
			step,
			serverText,
		});
	}

	private asError(error: unknown, step: string): Error {
		if (error instanceof Pop3Error || error instanceof TokenRejectedError) return error;
		if (error instanceof Error) return new Pop3ProtocolError(`POP3 ${step} failed: ${this.clean(error.message)}`, { step });
		return new Pop3ProtocolError(`POP3 ${step} failed`, { step });
	}

	private describeSocketError(error: NodeJS.ErrnoException): Pop3Error {
		const code = error.code ?? '';
		const step = this.timer?.step ?? 'connection';
		const where = `${this.host}:${this.port}`;
		if (isCertificateVerificationCode(code)) {
			return new Pop3CertificateError(
				`The TLS certificate of the POP3 server ${where} is not trusted (${code}: ${error.message}). ` +
					'Use a certificate from a trusted authority or add its CA to the credential\'s "CA Certificate (PEM)" field; turn verification off only for testing.',
				{ step, cause: error, tlsCode: code },
			);
		}
		return new Pop3ConnectionError(`The POP3 connection to ${where} failed (step: ${step}): ${error.message}`, {
			step,
			cause: error,
		});
	}

	private parseNumbers(text: string, count: number, step: string): number[] {
		const words = text.trim().split(/\s+/).slice(0, count);
		const numbers = words.map((word) => (/^\d{1,15}$/.test(word) ? Number(word) : Number.NaN));
		if (numbers.length < count || numbers.some((value) => Number.isNaN(value))) {
			throw this.withTranscript(this.protocolError(step, text));
		}
		return numbers;
	}

	private parseScanListing(line: Buffer | string, step: string): Pop3ScanListing {
		const [messageNumber, size] = this.parseNumbers(typeof line === 'string' ? line : line.toString('latin1'), 2, step);
		return { messageNumber, size };
	}

	private parseUniqueId(line: Buffer | string, step: string): Pop3UniqueId {
		const text = typeof line === 'string' ? line : line.toString('latin1');
		const [number, uid] = text.trim().split(/\s+/);
		// RFC 1939: 1 to 70 printable ASCII characters; allow longer ids but nothing that could not be stored as text.
		if (!number || !/^\d{1,15}$/.test(number) || !uid || !/^[\x21-\x7e]{1,512}$/.test(uid)) {
			throw this.withTranscript(this.protocolError(step, text));
		}
		return { messageNumber: Number(number), uid };
	}

	// ---- timers, redaction, transcript ------------------------------------------------------------------------

	private armTimer(step: string, ms: number, mode: StepTimer['mode']): StepTimer {
		this.clearTimer();
		const timer: StepTimer = { step, ms, mode };
		this.timer = timer;
		this.startTimer(timer);
		return timer;
	}

	private startTimer(timer: StepTimer): void {
		timer.handle = setTimeout(() => {
			if (this.timer === timer) this.fail(new Pop3TimeoutError(timer.step, timer.ms));
		}, timer.ms);
	}

	private clearTimer(): void {
		if (this.timer?.handle) clearTimeout(this.timer.handle);
		this.timer = undefined;
	}

	/** A deadline for a whole reply, beside the step timer: nothing that arrives moves it. */
	private armDeadline(step: string, ms: number): StepTimer {
		this.clearDeadline(this.deadline);
		const deadline: StepTimer = { step, ms, mode: 'response' };
		deadline.handle = setTimeout(() => {
			if (this.deadline === deadline) this.fail(new Pop3TimeoutError(step, ms, 'total'));
		}, ms);
		this.deadline = deadline;
		return deadline;
	}

	private clearDeadline(deadline: StepTimer | undefined): void {
		if (!deadline) return;
		if (deadline.handle) clearTimeout(deadline.handle);
		deadline.handle = undefined;
		if (this.deadline === deadline) this.deadline = undefined;
	}

	/** Server text made safe for messages and logs: secrets removed, control characters replaced, length capped. */
	private clean(text: string): string {
		let cleaned = text;
		for (const secret of this.secrets) cleaned = cleaned.split(secret).join(REDACTED);
		cleaned = cleaned.replace(/[\x00-\x1f\x7f]/g, ' ');
		return cleaned.length > SERVER_TEXT_LIMIT ? `${cleaned.slice(0, SERVER_TEXT_LIMIT)}…` : cleaned;
	}

	private log(line: string): void {
		this.recentLines.push(line);
		if (this.recentLines.length > TRANSCRIPT_LINES) this.recentLines.shift();
		this.logger?.(line);
	}

	private withTranscript<E extends Error>(error: E): E {
		if (error instanceof Pop3Error && error.transcript.length === 0) error.transcript = [...this.recentLines];
		return error;
	}
}

function checkMessageNumber(messageNumber: number): number {
	if (!Number.isSafeInteger(messageNumber) || messageNumber < 1) {
		throw new RangeError(`POP3 message numbers start at 1, got ${String(messageNumber)}`);
	}
	return messageNumber;
}

function responseCodeOf(status: Pop3Status): string | undefined {
	return status.kind === 'err' ? status.responseCode : undefined;
}

/** `SYS/TEMP` stays whole; hierarchical codes (RFC 2449 §8) are compared by their first two levels at most. */
function baseCode(responseCode: string): string {
	return responseCode.split('/').slice(0, 2).join('/');
}
