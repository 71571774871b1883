/**
 * One pooled nodemailer transport per node execution: a single SMTP connection, opened on the first message, reused
 * for every item, closed at the end. Tokens come from the token source through nodemailer's provisionCallback (one
 * forced refresh when the server refuses one). File and URL access are always off; errors never carry the token.
 */import { PassThrough, pipeline, type Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type { SendMailOptions, Transporter } from 'nodemailer';
import type { SMTPPoolOptions, SMTPPoolSentMessageInfo } from 'nodemailer/lib/smtp-pool';
import type { SMTPTransportGetSocket } from 'nodemailer/lib/smtp-transport';
import type { Logger } from 'n8n-workflow';

import { TokenRejectedError } from '../auth/errors';
import { TokenSourceError } from '../auth/tokenErrors';
import type { TokenSource } from '../auth/tokens';
import { isCertificateVerificationCode, tlsOptionsFor, type MailEndpoint } from '../connection';

export type SmtpLogger = Pick<Logger, 'debug' | 'warn'>;

export interface SmtpSenderOptions {
	endpoint: MailEndpoint;
	tokens: TokenSource;
	logger?: SmtpLogger;
	/** Time limits in ms: TCP/TLS connect, server greeting, inactivity on an open connection. */
	connectionTimeoutMs?: number;
	greetingTimeoutMs?: number;
	socketTimeoutMs?: number;
}

/** What the node outputs per item: the part of nodemailer's result a workflow can use. */
export interface SentMessage {
	messageId: string;
	accepted: string[];
	rejected: string[];
	response: string;
	envelope: { from: string | false; to: string[] };
}

/**
 * Whether a failed message may nevertheless have reached the server: `notSent` when it failed before or while
 * the server was still judging it (connect, login, MAIL FROM, RCPT TO, a refused DATA), `unknown` when the
 * connection broke after the message content went out and before the server confirmed it.
 */
export type DeliveryState = 'notSent' | 'unknown';

/** An SMTP failure for one message, with the server's answer (redacted) and what it means for delivery. */
export class SmtpSendError extends Error {
	readonly code?: string;
	readonly responseCode?: number;
	readonly response?: string;
	readonly command?: string;
	readonly delivery: DeliveryState;
	/** The TLS certificate of the server was refused (self-signed, expired, wrong name). */
	readonly certificateRejected: boolean;
	/** Sending again later may succeed unchanged: not a certificate, not a permanent (5xx) refusal, surely not sent. */
	readonly transient: boolean;

	constructor(
		message: string,
		details: { code?: string; responseCode?: number; response?: string; command?: string; delivery: DeliveryState; certificateRejected?: boolean },
	) {
		super(message);
		this.name = 'SmtpSendError';
		this.code = details.code;
		this.responseCode = details.responseCode;
		this.response = details.response;
		this.command = details.command;
		this.delivery = details.delivery;
		this.certificateRejected = details.certificateRejected ?? false;
		this.transient =
			!this.certificateRejected && this.delivery === 'notSent' && (this.responseCode === undefined || this.responseCode < 500);
	}
}

/**
 * Rides along in the message data (nodemailer copies the caller's keys into `mail.data`) so the stream plugin can
 * hand back the message stream the connection reads from: whether any of its bytes were read decides between
 * "not sent" and "may have been delivered" when the connection breaks. nodemailer reports every broken connection
 * as command "CONN", whatever the stage, so its error alone cannot tell.
 */
const CONTENT_PROBE = 'gxContentProbe';

interface ContentProbe {
	stream?: Readable;
}

interface NodemailerFailure {
	message?: unknown;
	code?: unknown;
	originalCode?: unknown;
	responseCode?: unknown;
	response?: unknown;
	command?: unknown;
	cause?: unknown;
}

export class SmtpSender {
	private transport: Transporter<SMTPPoolSentMessageInfo, SMTPPoolOptions> | undefined;
	/** The token last handed to nodemailer: the one to report as refused. */
	private lastToken: string | undefined;
	private closed = false;
	/** Connections opened so far (one per login; more than one only after the server dropped one). */
	connectionsOpened = 0;
	/** Refreshes forced because the server refused a token. */
	tokenRenewals = 0;
	messagesSent = 0;

	constructor(private readonly options: SmtpSenderOptions) {}

	/**
	 * Sends one message over the shared connection (opening it on first use).
	 * @throws SmtpSendError, or the token source's errors (reconnect required, token endpoint unavailable, ...),
	 *   or AccessTokenRejectedError when the server refused a freshly refreshed token
	 */
	async send(message: SendMailOptions): Promise<SentMessage> {
		if (this.closed) throw new Error('The SMTP connection of this execution is already closed');
		const transport = this.ensureTransport();
		const renewalsBefore = this.tokenRenewals;
		let probe: ContentProbe = {};
		try {
			return this.sent(await transport.sendMail(withProbe(message, probe)));
		} catch (error) {
			const rejection = this.asTokenRejection(error);
			if (!rejection) throw this.mapError(error, probe);
			if (this.tokenRenewals > renewalsBefore) throw this.options.tokens.rejectedAfterRefreshError(rejection);
			// Refused without the XOAUTH2 challenge, so nodemailer did not ask for a new token: refresh here and send
			// again. Safe: login comes before the message, so nothing of it reached the server.
			this.tokenRenewals++;
			this.options.logger?.debug('SMTP: the server refused the access token; refreshing it and sending again');
			await this.options.tokens.refresh(this.lastToken);
		}
		probe = {};
		try {
			return this.sent(await transport.sendMail(withProbe(message, probe)));
		} catch (error) {
			const rejection = this.asTokenRejection(error);
			if (rejection) throw this.options.tokens.rejectedAfterRefreshError(rejection);
			throw this.mapError(error, probe);
		}
	}

	/** Closes the connection (after the message being sent, if any). Safe to call more than once. */
	close(): void {
		if (this.closed) return;
		this.closed = true;
		if (!this.transport) return;
		this.transport.close();
		this.options.logger?.debug(
			`SMTP: closed; sent ${this.messagesSent} message(s) over ${this.connectionsOpened} connection(s), ` +
				`${this.tokenRenewals} token refresh(es) after a refusal`,
		);
	}

	private ensureTransport(): Transporter<SMTPPoolSentMessageInfo, SMTPPoolOptions> {
		if (this.transport) return this.transport;
		const { endpoint, tokens } = this.options;
		// Called once per connection the pool opens: counts them (nodemailer then opens its own socket).
		const countConnection: SMTPTransportGetSocket = (_options, callback) => {
			this.connectionsOpened++;
			this.options.logger?.debug(`SMTP: connecting to ${endpoint.host}:${endpoint.port} (${endpoint.security})`);
			// Asynchronously, as nodemailer's own getSocket does.
			void Promise.resolve().then(() => callback(null, false));
		};
		const transport = nodemailer.createTransport({
			pool: true,
			// One connection for the whole execution, however many items: Gmail counts simultaneous connections,
			// and every login costs a round of TLS + SASL.
			maxConnections: 1,
			maxMessages: Infinity,
			host: endpoint.host,
			port: endpoint.port,
			secure: endpoint.secure,
			requireTLS: endpoint.requireTLS,
			// 'none' (the generic credential's explicit choice): do not even try STARTTLS.
			ignoreTLS: endpoint.security === 'none',
			tls: tlsOptionsFor(endpoint),
			auth: {
				type: 'OAuth2',
				user: tokens.email,
				provisionCallback: (_user, renew, callback) => {
					this.provideToken(renew).then(
						(token) => callback(null, token),
						(error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
					);
				},
			},
			connectionTimeout: this.options.connectionTimeoutMs ?? 30_000,
			greetingTimeout: this.options.greetingTimeoutMs ?? 30_000,
			socketTimeout: this.options.socketTimeoutMs ?? 120_000,
			getSocket: countConnection,
			disableFileAccess: true,
			disableUrlAccess: true,
			logger: false,
		});
		// The last stage of the message stream, the one the connection reads: see CONTENT_PROBE.
		transport.use('stream', (mail, done) => {
			const probe = (mail.data as Record<string, unknown>)[CONTENT_PROBE] as ContentProbe | undefined;
			if (probe && mail.message) {
				mail.message.processFunc((input) => {
					const output = new PassThrough();
					pipeline(input, output, () => undefined);
					probe.stream = output;
					return output;
				});
			}
			done();
		});
		// The pool reports connection failures to the message being sent; an 'error' event without a listener would
		// end the n8n process.
		transport.on('error', (error: Error) => this.options.logger?.debug(`SMTP: ${this.options.tokens.redact(error.message)}`));
		this.transport = transport;
		return transport;
	}

	private async provideToken(renew: boolean): Promise<string> {
		const { tokens } = this.options;
		let token: string;
		if (renew) {
			this.tokenRenewals++;
			this.options.logger?.debug('SMTP: the server refused the access token during login; refreshing it once');
			token = await tokens.refresh(this.lastToken);
		} else {
			token = await tokens.getAccessToken();
		}
		this.lastToken = token;
		return token;
	}

	private sent(info: SMTPPoolSentMessageInfo): SentMessage {
		this.messagesSent++;
		return {
			messageId: info.messageId,
			accepted: (info.accepted ?? []).map(String),
			rejected: (info.rejected ?? []).map(String),
			response: typeof info.response === 'string' ? this.options.tokens.redact(info.response) : '',
			envelope: { from: info.envelope?.from ?? false, to: [...(info.envelope?.to ?? [])] },
		};
	}

	/** The server refused the token at login (not: the token source failed, which it reports itself). */
	private asTokenRejection(error: unknown): TokenRejectedError | undefined {
		if (error instanceof TokenSourceError || !error || typeof error !== 'object') return undefined;
		const failure = error as NodemailerFailure;
		const command = typeof failure.command === 'string' ? failure.command : '';
		if (failure.code !== 'EAUTH' || !/^AUTH\b/i.test(command)) return undefined;
		const response = typeof failure.response === 'string' ? this.options.tokens.redact(failure.response) : undefined;
		return new TokenRejectedError('smtp', { serverText: response, cause: error });
	}

	private mapError(error: unknown, probe: ContentProbe): Error {
		// Token source errors (reconnect required, endpoint unavailable, ...) arrive through provisionCallback, which
		// nodemailer passes on as they are: they already say what to do.
		if (error instanceof TokenSourceError) return error;
		const failure = (error && typeof error === 'object' ? error : {}) as NodemailerFailure;
		const redact = (text: unknown) => this.options.tokens.redact(text);
		const code = typeof failure.code === 'string' ? failure.code : undefined;
		const originalCode = typeof failure.originalCode === 'string' ? failure.originalCode : undefined;
		const command = typeof failure.command === 'string' ? failure.command : undefined;
		const responseCode = typeof failure.responseCode === 'number' ? failure.responseCode : undefined;
		const response = typeof failure.response === 'string' ? redact(failure.response) : undefined;
		const text = redact(typeof failure.message === 'string' ? failure.message : String(error));
		const { host, port } = this.options.endpoint;

		const certificateCode = [originalCode, code].find(isCertificateVerificationCode);
		if (certificateCode || /certificate|self[- ]signed/i.test(text)) {
			return new SmtpSendError(`The TLS certificate of ${host}:${port} was refused: ${text}`, {
				code: certificateCode ?? code,
				command,
				delivery: 'notSent',
				certificateRejected: true,
			});
		}
		// The server's own refusal (a reply code) is a clear "not accepted"; a broken connection after content was
		// read is not.
		const contentWentOut = probe.stream?.readableDidRead === true;
		const delivery: DeliveryState = contentWentOut && responseCode === undefined ? 'unknown' : 'notSent';
		return new SmtpSendError(text, { code: originalCode ?? code, responseCode, response, command, delivery });
	}
}

function withProbe(message: SendMailOptions, probe: ContentProbe): SendMailOptions {
	return { ...message, [CONTENT_PROBE]: probe } as SendMailOptions;
}
