/** Login errors: the mail server refused an access token during SASL. Compare tokenErrors.ts: getting a token failed. */
import type { XOAuth2Challenge } from './xoauth2';
import { describeXOAuth2Challenge } from './xoauth2';

export type MailProtocol = 'imap' | 'smtp' | 'pop3';

/**
 * The mail server refused the access token during SASL (IMAP AUTHENTICATIONFAILED, SMTP 535, POP -ERR after the
 * XOAUTH2 challenge). Protocol clients throw this so the token source can refresh once and retry the login;
 * every other failure is thrown as is. The message never contains the token.
 */
export class TokenRejectedError extends Error {
	readonly protocol: MailProtocol;
	readonly challenge?: XOAuth2Challenge;
	readonly serverText?: string;

	constructor(protocol: MailProtocol, options: { challenge?: XOAuth2Challenge; serverText?: string; cause?: unknown } = {}) {
		const reason = describeXOAuth2Challenge(options.challenge);
		const server = options.serverText ? `: ${options.serverText}` : '';
		super(`${protocol.toUpperCase()} login with OAuth2 failed, ${reason}${server}`, { cause: options.cause });
		this.name = 'TokenRejectedError';
		this.protocol = protocol;
		this.challenge = options.challenge;
		this.serverText = options.serverText;
	}
}
