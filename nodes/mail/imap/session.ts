import type { ExistsEvent, ImapFlowOptions } from 'imapflow';

import { TokenRejectedError } from '../auth/errors';
import type { TokenSource } from '../auth/tokens';
import { withTokenRetry } from '../auth/tokens';
import { decodeXOAuth2Challenge } from '../auth/xoauth2';
import type { MailEndpoint } from '../connection';
import { tlsOptionsFor } from '../connection';
import type { ImapClient, ImapClientFactory } from './client';
import { imapErrorFields } from './client';
import type { TriggerLogger } from './logger';
import { createImapFlowLogger } from './logger';

export interface SessionTiming {
	/** Pause after the last command before IDLE starts. imapflow's default (15 s) delays notifications by that much. */
	autoIdleDelayMs: number;
	/** IDLE is ended and re-issued this often, well inside RFC 2177's 29 minutes, so a dead connection is noticed. */
	maxIdleTimeMs: number;
	/** No data from the server for this long → imapflow probes with NOOP, then gives up on the connection. */
	socketTimeoutMs: number;
	/** TCP + TLS + greeting budget for one connection attempt. */
	connectionTimeoutMs: number;
}

export const DEFAULT_SESSION_TIMING: SessionTiming = {
	autoIdleDelayMs: 200,
	maxIdleTimeMs: 5 * 60 * 1000,
	socketTimeoutMs: 150 * 1000,
	connectionTimeoutMs: 30 * 1000,
};

export interface SessionEnd {
	/** Text of the server's BYE, e.g. "Session expired, please login again." */
	byeReason?: string;
	/** The connection error that preceded the close, if any. */
	error?: Error;
}

export interface OpenSessionOptions {
	endpoint: MailEndpoint;
	tokens: TokenSource;
	createClient: ImapClientFactory;
	logger: TriggerLogger;
	timing: SessionTiming;
	/** Called with every client as soon as it exists, so a stop can destroy it even while it is still connecting. */
	track: (client: ImapClient) => void;
	/** Called for 'exists' notifications (new mail in the selected folder). */
	onExists?: (event: ExistsEvent) => void;
	/** Short label for logs (never contains secrets). */
	label: string;
	/** Refresh the token first unless it stays valid at least this long (rollover: outlive the current session). */
	minTokenValidityMs?: number;
	now?: () => number;
}

let sessionCounter = 0;

/**
 * One authenticated IMAP connection. Opening it always takes the token source's current token (refreshed when near
 * expiry, or after the server refuses it: see withTokenRetry). It never reconnects itself: the watcher decides
 * when to open the next one.
 */
export class ImapSession {
	readonly id: number;
	readonly openedAt: number;
	/** When the token this session logged in with expires (epoch ms); the watcher rolls over before that. */
	readonly tokenExpiresAt?: number;
	readonly ended: Promise<SessionEnd>;
	private endResult?: SessionEnd;
	private lastError?: Error;

	constructor(
		readonly client: ImapClient,
		tokenExpiresAt: number | undefined,
		private readonly label: string,
	) {
		this.id = ++sessionCounter;
		this.openedAt = Date.now();
		this.tokenExpiresAt = tokenExpiresAt;
		this.ended = new Promise<SessionEnd>((resolve) => {
			const finish = () => {
				if (this.endResult) return;
				this.endResult = {
					byeReason: client.byeReason,
					error: this.lastError,
				};
				resolve(this.endResult);
			};
			client.on('close', finish);
			// A client that closed between login and this constructor never fires 'close' again.
			if (!client.usable) finish();
		});
		client.on('error', (error: Error) => {
			this.lastError = error;
		});
	}

	get isOpen(): boolean {
		return !this.endResult && this.client.usable;
	}

	get description(): string {
		return `${this.label}#${this.id}`;
	}

	/** Ends the connection at once, without LOGOUT (used on stop and when a connection is judged dead). */
	destroy(): void {
		try {
			this.client.close();
		} catch {
			// Closing an already closed client throws nothing useful; the socket is gone either way.
		}
	}

	/** Polite close for a session that is being replaced: LOGOUT, but never wait longer than `graceMs`. */
	async retire(graceMs = 1000): Promise<void> {
		if (!this.isOpen) return;
		let timer: NodeJS.Timeout | undefined;
		try {
			await Promise.race([
				this.client.logout().catch(() => undefined),
				new Promise<void>((resolve) => {
					timer = setTimeout(resolve, graceMs);
				}),
			]);
		} finally {
			if (timer) clearTimeout(timer);
			this.destroy();
		}
	}
}

/**
 * Connects and authenticates with XOAUTH2 (imapflow uses OAUTHBEARER when the server advertises it). A refused token
 * becomes a TokenRejectedError so the token source refreshes once and the login is retried once.
 */
export async function openImapSession(options: OpenSessionOptions): Promise<ImapSession> {
	const { endpoint, tokens, timing, logger, label } = options;
	const now = options.now ?? Date.now;
	if (options.minTokenValidityMs !== undefined) {
		const expiresAt = tokens.expiresAt();
		if (expiresAt === undefined || expiresAt - now() < options.minTokenValidityMs) await tokens.refresh();
	}
	return await withTokenRetry(tokens, async (accessToken) => {
		const imapOptions: ImapFlowOptions = {
			host: endpoint.host,
			port: endpoint.port,
			secure: endpoint.secure,
			// STARTTLS is required unless the credential explicitly chose an unencrypted connection.
			doSTARTTLS: endpoint.secure ? undefined : endpoint.requireTLS,
			servername: endpoint.tls.servername,
			tls: tlsOptionsFor(endpoint),
			auth: { user: tokens.email, accessToken },
			logger: createImapFlowLogger(logger, { session: label }),
			autoIdleDelay: timing.autoIdleDelayMs,
			maxIdleTime: timing.maxIdleTimeMs,
			socketTimeout: timing.socketTimeoutMs,
			connectionTimeout: timing.connectionTimeoutMs,
			greetingTimeout: Math.min(16_000, timing.connectionTimeoutMs),
			clientInfo: { name: 'n8n-nodes-gmail-xoauth2' },
		};
		const client = options.createClient(imapOptions);
		// Without an 'error' listener an emitted error would crash the n8n process.
		client.on('error', () => undefined);
		options.track(client);
		if (options.onExists) client.on('exists', options.onExists);
		try {
			await client.connect();
		} catch (error) {
			try {
				client.close();
			} catch {
				// already closed
			}
			throw toLoginError(error);
		}
		return new ImapSession(client, tokens.expiresAt(), label);
	});
}

/** imapflow's authentication failure → TokenRejectedError (token never included); everything else unchanged. */
export function toLoginError(error: unknown): unknown {
	const fields = imapErrorFields(error);
	if (!fields.authenticationFailed) return error;
	// imapflow hands over the server's XOAUTH2 challenge already decoded (an object); the shared decoder takes either form.
	const challenge = decodeXOAuth2Challenge(fields.oauthError);
	const serverText =
		typeof fields.response === 'string'
			? fields.response
			: typeof fields.responseText === 'string'
				? fields.responseText
				: undefined;
	// No `cause`: imapflow's error object carries protocol details that n8n might serialise into an execution.
	return new TokenRejectedError('imap', { challenge, serverText });
}
