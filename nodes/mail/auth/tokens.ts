/**
 * The token source: a valid OAuth2 access token for one mail credential, shared by every connection of one node
 * execution or trigger activation. Refreshes through n8n's helper (or directly on older n8n), re-reads the stored
 * credential before refreshing, shares one refresh among concurrent callers. Errors: tokenErrors.ts; nothing thrown
 * or logged here contains a token or secret. Design notes: docs (token lifecycle).
 */
import type { ICredentialDataDecryptedObject, INode, Logger } from 'n8n-workflow';

import type { MailCredentialType } from '../connection';
import { isMailCredentialType, readAccountEmail } from '../connection';
import { requestTokenRefresh } from './directRefresh';
import { TokenRejectedError } from './errors';
import { describeErrorSafely, redact } from './redact';
import {
	asRecord,
	endpointLabel,
	expiryNote,
	isTransientStatus,
	parseTokenData,
	RecentValues,
	stringField,
	TRANSIENT_NETWORK_CODES,
	type TokenState,
} from './tokenData';
import type { CredentialLabel } from './tokenErrors';
import {
	AccessTokenRejectedError,
	CredentialReconnectRequiredError,
	TokenEndpointUnavailableError,
	TokenRefreshFailedError,
} from './tokenErrors';

/**
 * What the token source needs from n8n's `this` (trigger, execute, load-options and poll contexts all fit):
 * getCredentials to re-read the stored token before refreshing, the refresh helper, a logger.
 */
export interface TokenSourceContext {
	getCredentials<T extends object = ICredentialDataDecryptedObject>(type: string, itemIndex?: number): Promise<T>;
	/** Only for the credential's name when createTokenSource is given a bare type name. */
	getNode?(): INode;
	logger: Logger;
	helpers: {
		/** Absent in older n8n versions. Must be called with `this` set to the context. */
		refreshOAuth2Token?(this: unknown, credentialsType: string): Promise<unknown>;
	};
}

export interface TokenSourceOptions {
	/** Refresh this long before expiry (default 60 s); shortened to a fifth of the lifetime for short-lived tokens. */
	refreshMarginMs?: number;
	/** Clock, for tests. */
	now?: () => number;
	/** Timeout of the direct refresh request used on older n8n (default 30 s). */
	directRefreshTimeoutMs?: number;
}

/** A credential as the node glue read it (once): its type, decrypted data and the name the user gave it. */
export interface StoredMailCredential {
	type: string;
	data: ICredentialDataDecryptedObject;
	name?: string;
}

export interface TokenSource {
	readonly credentialType: MailCredentialType;
	/** The account to authenticate as (XOAUTH2 `user=`), validated. */
	readonly email: string;
	/** A token that is valid for at least the safety margin; refreshes when needed. */
	getAccessToken(): Promise<string>;
	/**
	 * Forces a new token. Pass the token the server refused: when another caller has already replaced it, the
	 * replacement is returned without another refresh.
	 */
	refresh(rejectedToken?: string): Promise<string>;
	/** Expiry of the current token (epoch ms), when known. */
	expiresAt(): number | undefined;
	/** Redacts this credential's secrets and any token-looking value from text bound for a log or error. */
	redact(text: unknown): string;
	/** The error to throw when the server refused the token again after a forced refresh. */
	rejectedAfterRefreshError(error: TokenRejectedError): AccessTokenRejectedError;
}

export const DEFAULT_REFRESH_MARGIN_MS = 60_000;
/** A token obtained by a refresh this recently is used even if it already looks stale (clock skew guard). */
const MIN_REFRESH_INTERVAL_MS = 5_000;
const SHORT_LIVED_MARGIN_FRACTION = 0.2;

/**
 * Creates the token source for a credential the caller has already read (the node glue reads it once). Given a bare
 * credential type instead, reads the credential itself (kept for callers not yet on the glue).
 * @throws MailCredentialFieldError (bad Email), CredentialReconnectRequiredError (no token), Error (not a mail type)
 */
export async function createTokenSource(
	context: TokenSourceContext,
	credential: StoredMailCredential | string,
	options: TokenSourceOptions = {},
): Promise<TokenSource> {
	const credentialType = typeof credential === 'string' ? credential : credential.type;
	if (!isMailCredentialType(credentialType)) {
		throw new Error(`Unsupported credential type "${credentialType}" for mail over OAuth2`);
	}
	const stored =
		typeof credential === 'string'
			? {
					data: await context.getCredentials<ICredentialDataDecryptedObject>(credentialType),
					name: context.getNode?.().credentials?.[credentialType]?.name,
				}
			: credential;
	const email = readAccountEmail(credentialType, stored.data);
	return new OAuth2TokenSource(context, { type: credentialType, name: stored.name }, email, stored.data, options);
}

/**
 * Runs a login with a valid token. When the server refuses the token (the protocol client throws
 * TokenRejectedError), forces one refresh and tries once more; a second refusal becomes AccessTokenRejectedError
 * with the server's decoded reason. Any other error passes through untouched.
 */
export async function withTokenRetry<T>(tokens: TokenSource, login: (accessToken: string) => Promise<T>): Promise<T> {
	const firstToken = await tokens.getAccessToken();
	try {
		return await login(firstToken);
	} catch (error) {
		// Not a token problem: the protocol client's error reaches the caller unchanged (it knows the item and step).
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error
		if (!(error instanceof TokenRejectedError)) throw error;
	}
	const secondToken = await tokens.refresh(firstToken);
	try {
		return await login(secondToken);
	} catch (error) {
		if (error instanceof TokenRejectedError) throw tokens.rejectedAfterRefreshError(error);
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error
		throw error;
	}
}

class OAuth2TokenSource implements TokenSource {
	private current: TokenState | undefined;
	private inFlight: Promise<string> | undefined;
	/** A refresh token rotated by a direct refresh: n8n's copy is outdated and could not be updated. */
	private unsavedRefreshToken: string | undefined;
	/**
	 * What is redacted by value (patterns catch JWTs and Google tokens anyway; this is for opaque ones). Only values
	 * that can still turn up in a text, so a trigger that runs for months does not collect every token it ever saw:
	 * - the client secret and the access, refresh and ID token of the latest credential read (what n8n holds, which
	 *   n8n's own refresh errors may echo; in direct-refresh mode an older token that stays stored);
	 * - the current and the previous access token: a connection opened with the previous one may still be open or
	 *   failing (an IMAP session until its rollover, a login being retried), and its server may echo it;
	 * - the last two refresh tokens and the last ID token returned by a refresh (the current one and the one it
	 *   rotated away, which some providers keep valid).
	 * Anything older is used by no connection and sent nowhere any more. At most 9 values.
	 */
	private clientSecret: string | undefined;
	private storedSecrets: string[] = [];
	private readonly recentAccessTokens = new RecentValues(2);
	private readonly recentRefreshTokens = new RecentValues(2);
	private issuedIdToken: string | undefined;
	/**
	 * Tokens a server has refused: never adopted again, even if the credential still stores one as valid. Bounded
	 * like the secrets; a refused token that the credential keeps storing is touched on every read, so it stays.
	 */
	private readonly refusedTokens = new RecentValues(4);
	private readonly label: CredentialLabel;
	private readonly marginMs: number;
	private readonly now: () => number;

	readonly credentialType: MailCredentialType;

	constructor(
		private readonly context: TokenSourceContext,
		credential: { type: MailCredentialType; name?: string },
		readonly email: string,
		data: ICredentialDataDecryptedObject,
		private readonly options: TokenSourceOptions,
	) {
		this.credentialType = credential.type;
		this.label = { type: credential.type, name: credential.name };
		this.marginMs = options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
		this.now = options.now ?? Date.now;
		this.rememberStored(data);

		const tokenData = asRecord(data.oauthTokenData);
		this.adopt(parseTokenData(tokenData, this.now(), 'stored'));
		if (!this.current && !stringField(tokenData, 'refresh_token')) {
			throw new CredentialReconnectRequiredError(this.label, {
				reason: 'it is not connected to an account yet',
				cause: 'No OAuth2 token is stored in the credential.',
			});
		}
	}

	async getAccessToken(): Promise<string> {
		if (this.current && this.isUsable(this.current)) return this.current.accessToken;
		return await this.renew(undefined);
	}

	async refresh(rejectedToken?: string): Promise<string> {
		if (rejectedToken !== undefined) {
			this.refusedTokens.add(rejectedToken);
			this.context.logger.debug(`The mail server refused the OAuth2 access token of ${this.credentialType}; getting a new one`);
			const current = this.current;
			if (current && current.accessToken !== rejectedToken && this.isUsable(current)) return current.accessToken;
		}
		return await this.renew(rejectedToken ?? this.current?.accessToken ?? '');
	}

	expiresAt(): number | undefined {
		return this.current?.expiresAt;
	}

	redact(text: unknown): string {
		return redact(text, this.knownSecrets());
	}

	/** The values redact() replaces literally (see the field comments): for diagnostics and tests. */
	knownSecrets(): string[] {
		return [
			this.clientSecret,
			...this.storedSecrets,
			...this.recentAccessTokens.values(),
			...this.recentRefreshTokens.values(),
			this.issuedIdToken,
		].filter((value): value is string => typeof value === 'string');
	}

	rejectedAfterRefreshError(error: TokenRejectedError): AccessTokenRejectedError {
		return new AccessTokenRejectedError(this.label, {
			protocol: error.protocol,
			email: this.email,
			challenge: error.challenge,
			serverText: error.serverText ? this.redact(error.serverText) : undefined,
		});
	}

	/** One renewal at a time; everyone who asks meanwhile gets its result. */
	private renew(rejectedToken: string | undefined): Promise<string> {
		if (this.inFlight) return this.inFlight;
		const run = this.performRenewal(rejectedToken).finally(() => {
			this.inFlight = undefined;
		});
		this.inFlight = run;
		return run;
	}

	private async performRenewal(rejectedToken: string | undefined): Promise<string> {
		const data = await this.context.getCredentials<ICredentialDataDecryptedObject>(this.credentialType);
		this.rememberStored(data);
		const tokenData = asRecord(data.oauthTokenData);

		const stored = parseTokenData(tokenData, this.now(), 'stored');
		// Still stored, still refused: keep it among the refused however many other tokens were refused since.
		if (stored) this.refusedTokens.touch(stored.accessToken);
		if (
			stored &&
			stored.accessToken !== this.current?.accessToken &&
			stored.accessToken !== rejectedToken &&
			!this.refusedTokens.has(stored.accessToken) &&
			this.isUsable(stored)
		) {
			this.context.logger.debug(`Using the OAuth2 access token of ${this.credentialType} that was refreshed elsewhere`);
			this.adopt(stored);
			return stored.accessToken;
		}

		const refreshToken = this.unsavedRefreshToken ?? stringField(tokenData, 'refresh_token');
		if (!refreshToken) {
			// Without a refresh token, a token of unknown expiry is all there is: use it until a server refuses it.
			const current = this.current;
			if (rejectedToken === undefined && current && current.expiresAt === undefined) return current.accessToken;
			throw new CredentialReconnectRequiredError(this.label, {
				reason: 'no refresh token is stored',
				cause:
					'The access token expired or was refused and cannot be renewed without a refresh token. Google issues one ' +
					'only with access_type=offline&prompt=consent (the Google Mail credential sends both); Microsoft only with ' +
					'the offline_access scope.',
			});
		}

		let fresh: TokenState;
		try {
			fresh = await this.refreshWith(data, refreshToken);
		} catch (error) {
			// Queue mode: two processes may refresh at once; with rotating refresh tokens (Microsoft) the slower one's
			// invalid_grant says nothing about the credential, so the stored one is read again before calling it dead.
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- already our worded error class
			if (!(error instanceof CredentialReconnectRequiredError)) throw error;
			const again = await this.context.getCredentials<ICredentialDataDecryptedObject>(this.credentialType);
			this.rememberStored(again);
			const againData = asRecord(again.oauthTokenData);
			const newer = parseTokenData(againData, this.now(), 'stored');
			if (
				newer &&
				newer.accessToken !== stored?.accessToken &&
				newer.accessToken !== rejectedToken &&
				!this.refusedTokens.has(newer.accessToken) &&
				this.isUsable(newer)
			) {
				this.context.logger.debug(`Using the OAuth2 access token of ${this.credentialType} that another process refreshed meanwhile`);
				this.adopt(newer);
				return newer.accessToken;
			}
			const newerRefreshToken = stringField(againData, 'refresh_token');
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- the reconnect error, worded for the user
			if (!newerRefreshToken || newerRefreshToken === refreshToken) throw error;
			this.context.logger.debug(`Refreshing the OAuth2 access token of ${this.credentialType} again with the refresh token another process saved`);
			fresh = await this.refreshWith(again, newerRefreshToken);
		}
		this.adopt(fresh);
		return fresh.accessToken;
	}

	private async refreshWith(data: ICredentialDataDecryptedObject, refreshToken: string): Promise<TokenState> {
		const helper = this.context.helpers.refreshOAuth2Token;
		return typeof helper === 'function' ? await this.refreshThroughN8n(helper, data) : await this.refreshDirectly(data, refreshToken);
	}

	private async refreshThroughN8n(
		helper: NonNullable<TokenSourceContext['helpers']['refreshOAuth2Token']>,
		data: ICredentialDataDecryptedObject,
	): Promise<TokenState> {
		let result: unknown;
		try {
			// Bound call: n8n's helper reads this.getCredentials, this.logger, ... from its `this`.
			result = await helper.call(this.context, this.credentialType);
		} catch (error) {
			throw this.mapRefreshError(error, data);
		}
		const tokenData = asRecord(result);
		this.rememberIssued(tokenData);
		const fresh = parseTokenData(tokenData, this.now(), 'refreshed');
		if (!fresh) {
			throw new TokenRefreshFailedError(this.label, 'n8n refreshed the token but returned no access token');
		}
		this.context.logger.debug(`Refreshed the OAuth2 access token of ${this.credentialType} through n8n${expiryNote(fresh, this.now())}`);
		return fresh;
	}

	private async refreshDirectly(data: ICredentialDataDecryptedObject, refreshToken: string): Promise<TokenState> {
		const tokenUrl = stringField(data, 'accessTokenUrl');
		const clientId = stringField(data, 'clientId');
		if (!tokenUrl || !clientId) {
			throw new TokenRefreshFailedError(this.label, 'the credential has no access token URL or client ID');
		}
		const endpoint = endpointLabel(tokenUrl);

		let result: Awaited<ReturnType<typeof requestTokenRefresh>>;
		try {
			result = await requestTokenRefresh({
				tokenUrl,
				clientId,
				clientSecret: stringField(data, 'clientSecret'),
				refreshToken,
				authentication: data.authentication === 'header' ? 'header' : 'body',
				ignoreSSLIssues: data.ignoreSSLIssues === true,
				timeoutMs: this.options.directRefreshTimeoutMs,
			});
		} catch (error) {
			throw this.mapRefreshError(error, data);
		}

		if (result.kind === 'oauthError') {
			const reason = this.redact(result.description ?? result.error);
			if (result.error === 'invalid_grant') {
				throw new CredentialReconnectRequiredError(this.label, {
					reason,
					cause: `The token endpoint (${endpoint}) refused the stored refresh token (invalid_grant).`,
				});
			}
			if (isTransientStatus(result.httpStatus)) {
				throw new TokenEndpointUnavailableError(this.label, {
					endpoint,
					httpStatus: result.httpStatus,
					detail: `the token endpoint answered HTTP ${result.httpStatus} ${this.redact(result.error)}`,
				});
			}
			throw new TokenRefreshFailedError(
				this.label,
				`the token endpoint (${endpoint}) answered HTTP ${result.httpStatus} ${this.redact(result.error)}: ${reason}`,
			);
		}
		if (result.kind === 'httpError') {
			if (isTransientStatus(result.httpStatus)) {
				throw new TokenEndpointUnavailableError(this.label, {
					endpoint,
					httpStatus: result.httpStatus,
					detail: this.redact(result.detail),
				});
			}
			throw new TokenRefreshFailedError(this.label, `the token endpoint (${endpoint}): ${this.redact(result.detail)}`);
		}

		this.rememberIssued(result.data);
		const fresh = parseTokenData(result.data, this.now(), 'refreshed');
		if (!fresh) throw new TokenRefreshFailedError(this.label, 'the token endpoint returned no access token');
		const rotated = stringField(result.data, 'refresh_token');
		if (rotated) this.unsavedRefreshToken = rotated;
		this.context.logger.debug(
			`This n8n version offers nodes no refreshOAuth2Token helper: refreshed the OAuth2 access token of ${this.credentialType} ` +
				`directly at ${endpoint}${expiryNote(fresh, this.now())}. The new token could not be saved to the credential; it ` +
				'is used only by this execution or trigger activation.',
		);
		return fresh;
	}

	/** Turns whatever a refresh threw into one of our error classes, with every secret removed. */
	private mapRefreshError(error: unknown, data: ICredentialDataDecryptedObject): Error {
		const detail = describeErrorSafely(error, this.knownSecrets());
		const shape = (typeof error === 'object' && error !== null ? error : {}) as {
			message?: unknown;
			code?: unknown;
			status?: unknown;
			body?: { error?: unknown; error_description?: unknown };
			response?: { status?: unknown };
			cause?: { code?: unknown };
			failure?: { cause?: unknown };
		};
		const message = typeof shape.message === 'string' ? shape.message : '';
		const endpoint = endpointLabel(stringField(data, 'accessTokenUrl'));

		// n8n ≥ 2.x turns invalid_grant into "The credential ... needs to be reconnected." (Google's reason is dropped).
		if (shape.failure?.cause === 'credential-invalid' || /needs to be reconnected/i.test(message)) {
			return new CredentialReconnectRequiredError(this.label, {
				cause: 'n8n could not refresh the access token: the token endpoint refused the stored refresh token (invalid_grant).',
			});
		}
		// Older n8n passes the OAuth2 client's error on: message = error_description, body = the error response.
		if (shape.body?.error === 'invalid_grant' || /\binvalid_grant\b/.test(message)) {
			const description = shape.body?.error_description;
			return new CredentialReconnectRequiredError(this.label, {
				reason: this.redact(typeof description === 'string' ? description : message || 'invalid_grant'),
				cause: `The token endpoint (${endpoint}) refused the stored refresh token (invalid_grant).`,
			});
		}
		if (/no refresh token is available/i.test(message)) {
			return new CredentialReconnectRequiredError(this.label, {
				reason: 'no refresh token is stored',
				cause: 'n8n has no refresh token for this credential.',
			});
		}
		if (/credentials? not connected/i.test(message)) {
			return new CredentialReconnectRequiredError(this.label, {
				reason: 'it is not connected to an account yet',
				cause: 'No OAuth2 token is stored in the credential.',
			});
		}

		const code = [shape.code, shape.cause?.code].find((value): value is string => typeof value === 'string');
		if (code && TRANSIENT_NETWORK_CODES.has(code)) {
			return new TokenEndpointUnavailableError(this.label, { endpoint, code, detail });
		}
		const status = [shape.response?.status, shape.status].find((value): value is number => typeof value === 'number');
		if (status !== undefined && isTransientStatus(status)) {
			return new TokenEndpointUnavailableError(this.label, { endpoint, httpStatus: status, detail });
		}
		return new TokenRefreshFailedError(this.label, detail);
	}

	private isUsable(token: TokenState): boolean {
		const now = this.now();
		// A token refreshed moments ago is reused (no refresh loop) even if it looks expired only when it arrived
		// already "expired" (clock skew with the issuer); a very short-lived token that ran out is refreshed.
		const arrivedStale = token.expiresAt !== undefined && token.expiresAt <= token.obtainedAt;
		const notExpired = token.expiresAt === undefined || now < token.expiresAt || arrivedStale;
		if (token.origin === 'refreshed' && now - token.obtainedAt < MIN_REFRESH_INTERVAL_MS && notExpired) return true;
		// Unknown expiry: trust a token we just obtained until a server refuses it; refresh one of unknown age first.
		if (token.expiresAt === undefined) return token.origin === 'refreshed';
		return now < token.expiresAt - this.marginFor(token);
	}

	private marginFor(token: TokenState): number {
		if (token.lifetimeMs === undefined) return this.marginMs;
		return Math.min(this.marginMs, token.lifetimeMs * SHORT_LIVED_MARGIN_FRACTION);
	}

	/** The token in use from now on; the one it replaces becomes the previous one (still redacted). */
	private adopt(token: TokenState | undefined): void {
		this.current = token;
		if (token) this.recentAccessTokens.add(token.accessToken);
	}

	/** A credential read replaces what the previous read contributed (the latest read is what n8n holds). */
	private rememberStored(data: ICredentialDataDecryptedObject): void {
		this.clientSecret = stringField(data, 'clientSecret') ?? this.clientSecret;
		const tokenData = asRecord(data.oauthTokenData);
		this.storedSecrets = ['access_token', 'refresh_token', 'id_token']
			.map((key) => stringField(tokenData, key))
			.filter((value): value is string => value !== undefined);
	}

	/** What a refresh returned, before it is adopted (so an error while reading it is redacted too). */
	private rememberIssued(tokenData: Record<string, unknown> | undefined): void {
		const accessToken = stringField(tokenData, 'access_token');
		if (accessToken) this.recentAccessTokens.add(accessToken);
		const refreshToken = stringField(tokenData, 'refresh_token');
		if (refreshToken) this.recentRefreshTokens.add(refreshToken);
		this.issuedIdToken = stringField(tokenData, 'id_token') ?? this.issuedIdToken;
	}
}

export { parseTokenData, readJwtTimes, type TokenState } from './tokenData';
