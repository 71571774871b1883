/**
 * The POP3 connection below the commands (client.ts): the socket, TLS from the start or after STLS, the reply reader,
 * step timers and whole-reply deadlines, the transcript and the cleaning of server text. The first failure closes it
 * for good and is what every later call rejects with.
 */
import * as net from 'node:net';
import type { Readable } from 'node:stream';
import * as tls from 'node:tls';

import { TokenRejectedError } from '../auth/errors';
import { isCertificateVerificationCode } from '../connection';
import { Pop3CertificateError, Pop3ConnectionError, Pop3Error, Pop3ProtocolError, Pop3TimeoutError } from './errors';
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
	/** A prepared context (with the trust store of `ca` and the minimum version); used instead of building one. */
	secureContext?: tls.SecureContext;
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

interface StepTimer {
	readonly step: string;
	readonly ms: number;
	/** `response`: the whole wait counts. `idle`: restarts on every chunk and pauses while the consumer applies backpressure. */
	readonly mode: 'response' | 'idle';
	handle?: NodeJS.Timeout;
}

export interface Pop3WireOptions {
	host: string;
	port: number;
	tlsOptions: Pop3TlsOptions;
	timeouts: Pop3Timeouts;
	maxLineLength: number;
	logger?: (message: string) => void;
	/** Called once, when the connection ends for good (failure, destroy, or the server closing it). */
	onClose: (reason: Error) => void;
}

const TRANSCRIPT_LINES = 20;
const SERVER_TEXT_LIMIT = 300;
export const REDACTED = '[redacted]';

export class Pop3Wire {
	private readonly host: string;
	private readonly port: number;
	private readonly tlsOptions: Pop3TlsOptions;
	private readonly timeouts: Pop3Timeouts;
	private readonly logger?: (message: string) => void;
	private readonly onClose: (reason: Error) => void;
	private readonly reader: Pop3ResponseReader;
	private socket?: net.Socket;
	private readonly sockets: net.Socket[] = [];
	/** Why the connection ended; set once. */
	failure?: Error;
	private readonly failureListeners = new Set<(error: Error) => void>();
	private timer?: StepTimer;
	/** The whole-response deadline running beside `timer` (listings and bodies); data never extends it. */
	private deadline?: StepTimer;
	private readonly secrets = new Set<string>();
	private readonly recentLines: string[] = [];
	/** Set once QUIT is sent: the server closing the connection is then expected. */
	quitting = false;
	/** True when the session ended because the server closed the connection (not after QUIT, a timeout or a reset). */
	closedByServer = false;

	constructor(options: Pop3WireOptions) {
		this.host = options.host;
		this.port = options.port;
		this.tlsOptions = options.tlsOptions;
		this.timeouts = options.timeouts;
		this.logger = options.logger;
		this.onClose = options.onClose;
		this.reader = new Pop3ResponseReader({
			maxLineLength: options.maxLineLength,
			onFlowChange: (flowing) => this.onFlowChange(flowing),
		});
	}

	/** Bytes received and not yet read (after STLS's +OK they would be unencrypted injections). */
	get bufferedByteCount(): number {
		return this.reader.bufferedByteCount;
	}

	/** A value cleaned out of every server text, log line and transcript (the token, the AUTH line). */
	addSecret(secret: string): void {
		this.secrets.add(secret);
	}

	/** TCP connect, with TLS from the first byte when `secure`; the connect timeout covers the handshake. */
	open(secure: boolean): Promise<void> {
		this.armTimer('connect', this.timeouts.connect, 'response');
		const socket = secure
			? tls.connect({ host: this.host, port: this.port, ...this.secureContextOptions() })
			: net.connect({ host: this.host, port: this.port });
		this.adopt(socket);
		return this.waitForSocketEvent(socket, secure ? 'secureConnect' : 'connect').then(() => this.clearTimer());
	}

	/** The TLS handshake over the plain connection, after the server accepted STLS. */
	async upgradeToTls(): Promise<void> {
		const plain = this.activeSocket();
		plain.off('data', this.onData);
		this.armTimer('STLS handshake', this.timeouts.connect, 'response');
		const secure = tls.connect({ socket: plain, host: this.host, ...this.secureContextOptions() });
		this.adopt(secure);
		await this.waitForSocketEvent(secure, 'secureConnect');
		this.clearTimer();
	}

	/**
	 * The multi-line body after `command`'s +OK, as a stream with backpressure, under the idle timer and the body
	 * deadline. `settled`: once the body is off the wire and the stream closed (the next command waits for it).
	 */
	readBody(command: string): { stream: Readable; settled: Promise<unknown> } {
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
		return { stream: body.stream, settled: Promise.all([wireDone, streamClosed]) };
	}

	/** Closes at once (after a failure, or by the caller); pending reads reject; safe to call twice. */
	destroy(): void {
		const reason = new Pop3ConnectionError('The POP3 connection was closed by the client');
		this.fail(reason);
		// Also when the server had closed first: drop buffered replies and settle a body nobody is reading.
		this.reader.fail(this.failure ?? reason, { immediate: true });
		for (const socket of this.sockets) socket.destroy();
	}

	private secureContextOptions(): tls.ConnectionOptions {
		const servername = this.tlsOptions.servername ?? (net.isIP(this.host) ? undefined : this.host);
		return {
			rejectUnauthorized: this.tlsOptions.rejectUnauthorized !== false,
			minVersion: this.tlsOptions.minVersion ?? 'TLSv1.2',
			...(servername ? { servername } : {}),
			...(this.tlsOptions.ca ? { ca: this.tlsOptions.ca } : {}),
			...(this.tlsOptions.secureContext ? { secureContext: this.tlsOptions.secureContext } : {}),
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
		if (this.quitting) {
			this.close(new Pop3ConnectionError('The POP3 server closed the connection after QUIT was sent', { step: 'QUIT' }), {
				immediate: false,
			});
			return;
		}
		const step = this.timer?.step;
		this.closedByServer = true;
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

	closeAfterQuit(): Promise<void> {
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
	fail(error: Error): Error {
		this.close(error, { immediate: true });
		return this.failure ?? error;
	}

	private close(reason: Error, options: { immediate: boolean }): void {
		if (this.failure) return;
		this.failure = reason;
		this.onClose(reason);
		this.clearTimer();
		this.clearDeadline(this.deadline);
		this.log(`closed: ${reason.message}`);
		this.withTranscript(reason);
		if (options.immediate) for (const socket of this.sockets) socket.destroy();
		this.reader.fail(reason, options);
		for (const listener of [...this.failureListeners]) listener(reason);
	}

	send(line: string, shownAs: string = line): void {
		this.log(`C: ${shownAs}`);
		this.activeSocket().write(`${line}\r\n`);
	}

	async readStatus(step: string, timeoutMs: number): Promise<Pop3Status> {
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

	async readListing(step: string, limits: { lines: number; bytes: number }, totalMs: number): Promise<Buffer[]> {
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

	protocolError(step: string, text: string): Pop3ProtocolError {
		const serverText = this.clean(text);
		return new Pop3ProtocolError(`The POP3 server sent an unexpected reply to ${step}: "${serverText}"`, {
			step,
			serverText,
		});
	}

	asError(error: unknown, step: string): Error {
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
					'Use a certificate from a trusted authority or add its CA certificate; turn verification off only for testing.',
				{ step, cause: error, tlsCode: code },
			);
		}
		return new Pop3ConnectionError(`The POP3 connection to ${where} failed (step: ${step}): ${error.message}`, {
			step,
			cause: error,
		});
	}

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
	clean(text: string): string {
		let cleaned = text;
		for (const secret of this.secrets) cleaned = cleaned.split(secret).join(REDACTED);
		cleaned = cleaned.replace(/[\x00-\x1f\x7f]/g, ' ');
		return cleaned.length > SERVER_TEXT_LIMIT ? `${cleaned.slice(0, SERVER_TEXT_LIMIT)}…` : cleaned;
	}

	log(line: string): void {
		this.recentLines.push(line);
		if (this.recentLines.length > TRANSCRIPT_LINES) this.recentLines.shift();
		this.logger?.(line);
	}

	withTranscript<E extends Error>(error: E): E {
		if (error instanceof Pop3Error && error.transcript.length === 0) error.transcript = [...this.recentLines];
		return error;
	}
}
