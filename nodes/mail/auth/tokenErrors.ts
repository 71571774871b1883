/**
 * Token-source errors: getting a usable access token failed (refresh refused, token endpoint down, token refused after
 * a refresh). Plain classes with a `kind`, `transient` and a `description` of what to do; the node glue turns them
 * into n8n errors. Compare errors.ts: the mail server refused a token during login. No text here holds a token.
 */
import type { MailProtocol } from './errors';
import type { XOAuth2Challenge } from './xoauth2';
import { describeXOAuth2Challenge } from './xoauth2';

export const RECONNECT_MESSAGE = 'The OAuth2 credential must be reconnected';

const GOOGLE_TESTING_HINT =
	'For Google: while the OAuth consent screen\'s publishing status is "Testing", Google revokes refresh tokens after 7 days; ' +
	'publish the app ("In production") so this does not recur. Refresh tokens also end when access is revoked, the password ' +
	'changes, or the token is unused for 6 months.';

export interface CredentialLabel {
	/** The credential type name, e.g. googleMailOAuth2Api. */
	type: string;
	/** The credential's name as the user sees it, when the node knows it. */
	name?: string;
}

function labelOf(credential: CredentialLabel): string {
	return credential.name ? `"${credential.name}" (${credential.type})` : `of type ${credential.type}`;
}

export type TokenErrorKind = 'RECONNECT_REQUIRED' | 'TOKEN_ENDPOINT_UNAVAILABLE' | 'TOKEN_REFRESH_FAILED' | 'ACCESS_TOKEN_REJECTED';

/** Why the operation failed, in n8n's vocabulary (n8n-workflow `Failure['cause']`), as plain data. */
export type TokenFailureCause = 'credential-invalid' | 'temporarily-unavailable' | 'configuration-invalid';

export abstract class TokenSourceError extends Error {
	abstract readonly kind: TokenErrorKind;
	/** True when the same request may succeed later without anyone changing anything. */
	abstract readonly transient: boolean;
	/** What the user should do: the n8n error's description. */
	readonly description: string;
	readonly failureCause: TokenFailureCause;
	/** n8n's error level; undefined = n8n's default for the error class. */
	readonly level?: 'warning';

	constructor(message: string, details: { description: string; failureCause: TokenFailureCause; level?: 'warning' }) {
		super(message);
		this.name = new.target.name;
		this.description = details.description;
		this.failureCause = details.failureCause;
		this.level = details.level;
	}
}

/**
 * The user has to act: the refresh token was refused (invalid_grant), is missing, or the credential was never
 * connected. Retrying cannot help.
 */
export class CredentialReconnectRequiredError extends TokenSourceError {
	readonly kind = 'RECONNECT_REQUIRED';
	readonly transient = false;
	readonly reconnectRequired = true;

	constructor(credential: CredentialLabel, details: { reason?: string; cause: string }) {
		super(details.reason ? `${RECONNECT_MESSAGE}: ${details.reason}` : RECONNECT_MESSAGE, {
			description:
				`Credential ${labelOf(credential)}: ${details.cause} Open the credential and click "Connect my account" ` +
				`(or "Reconnect") again. ${GOOGLE_TESTING_HINT}`,
			level: 'warning',
			failureCause: 'credential-invalid',
		});
	}
}

/**
 * The token endpoint could not be reached or answered with a server error (network failure, timeout, 5xx, 429).
 * Transient: retry with backoff.
 */
export class TokenEndpointUnavailableError extends TokenSourceError {
	readonly kind = 'TOKEN_ENDPOINT_UNAVAILABLE';
	readonly transient = true;
	/** The network error code (ECONNREFUSED, ETIMEDOUT, ...) when there was one. */
	readonly code?: string;
	/** The HTTP status when the endpoint answered. */
	readonly httpStatus?: number;

	constructor(credential: CredentialLabel, details: { endpoint: string; code?: string; httpStatus?: number; detail: string }) {
		// The network code stays out of the message: n8n replaces a message that contains one with a generic text.
		super(`Could not reach the OAuth2 token endpoint (${details.endpoint}) to refresh the access token`, {
			description:
				`Credential ${labelOf(credential)}: ${details.detail}. This is usually temporary; the request will succeed ` +
				'once the token endpoint is reachable again.',
			level: 'warning',
			failureCause: 'temporarily-unavailable',
		});
		this.code = details.code;
		this.httpStatus = details.httpStatus;
	}
}

/** The token endpoint refused the refresh for a reason other than invalid_grant (invalid_client, bad URL, ...). */
export class TokenRefreshFailedError extends TokenSourceError {
	readonly kind = 'TOKEN_REFRESH_FAILED';
	readonly transient = false;

	constructor(credential: CredentialLabel, detail: string) {
		super('Refreshing the OAuth2 access token failed', {
			description: `Credential ${labelOf(credential)}: ${detail}. Check the client ID, client secret and token URL of the credential.`,
			failureCause: 'configuration-invalid',
		});
	}
}

/** The mail server refused a token that had just been refreshed: refreshing again will not help. */
export class AccessTokenRejectedError extends TokenSourceError {
	readonly kind = 'ACCESS_TOKEN_REJECTED';
	readonly transient = false;
	readonly protocol: MailProtocol;
	readonly challenge?: XOAuth2Challenge;

	constructor(
		credential: CredentialLabel,
		details: { protocol: MailProtocol; email: string; challenge?: XOAuth2Challenge; serverText?: string },
	) {
		const reason = describeXOAuth2Challenge(details.challenge);
		const server = details.serverText ? ` (${details.serverText})` : '';
		super(`The ${details.protocol.toUpperCase()} server refused a freshly refreshed access token: ${reason}${server}`, {
			description:
				`Credential ${labelOf(credential)}, account "${details.email}". Check that the Email field is the account you ` +
				'connected, that the token carries the mail scope (Google: https://mail.google.com/; Microsoft 365: ' +
				'IMAP.AccessAsUser.All, POP.AccessAsUser.All or SMTP.Send), and that IMAP / POP / authenticated SMTP is ' +
				'enabled for the mailbox.',
			failureCause: 'credential-invalid',
		});
		this.protocol = details.protocol;
		this.challenge = details.challenge;
	}
}

export function isReconnectRequiredError(error: unknown): error is CredentialReconnectRequiredError {
	return error instanceof CredentialReconnectRequiredError;
}
