/**
 * Checks a mail credential by logging in over IMAP with the access token as stored, and reports success or the
 * server's decoded XOAUTH2 refusal.
 *
 * It cannot refresh: n8n hands a credential test only the decrypted data (no refresh helper, no way to save a new
 * token), and a refresh whose result is thrown away would waste or, with rotating refresh tokens, even invalidate
 * the stored refresh token. An expired token is therefore reported as such, without contacting the server.
 *
 * Note on wiring: n8n never calls a node's `methods.credentialTest` for a type that extends oAuth2Api; its
 * credentials tester answers with its own "is an access token stored" check, and the editor shows no Test button
 * for OAuth2 types. This module is the real check for code that can call it (nodes, integration tests).
 */
import { ImapFlow } from 'imapflow';
import type {
	ICredentialDataDecryptedObject,
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import type { MailEndpoint } from '../connection';
import { MailCredentialFieldError, resolveMailConnection } from '../connection';
import { parseTokenData } from './tokens';
import { describeErrorSafely } from './redact';
import { decodeXOAuth2Challenge, describeXOAuth2Challenge } from './xoauth2';

/** The name under which nodes register the test (`methods.credentialTest`, `testedBy`). */
export const MAIL_CREDENTIAL_TEST_NAME = 'mailOAuth2ImapLoginTest';

export interface CredentialLoginCheckOptions {
	/** Whole-check time limit (default 20 s). */
	timeoutMs?: number;
	/** Clock, for tests. */
	now?: () => number;
}

/** ICredentialTestFunction-compatible: `methods: { credentialTest: { [MAIL_CREDENTIAL_TEST_NAME]: testMailCredential } }`. */
export async function testMailCredential(
	this: ICredentialTestFunctions | void,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	return await checkImapLogin(credential.type, credential.data ?? {});
}

export async function checkImapLogin(
	credentialType: string,
	data: ICredentialDataDecryptedObject,
	options: CredentialLoginCheckOptions = {},
): Promise<INodeCredentialTestResult> {
	let endpoint: MailEndpoint;
	let email: string;
	try {
		const connection = resolveMailConnection(credentialType, data, ['imap']);
		endpoint = connection.imap;
		email = connection.email;
	} catch (error) {
		if (error instanceof MailCredentialFieldError) return { status: 'Error', message: error.message };
		return { status: 'Error', message: describeErrorSafely(error) };
	}

	const tokenData = data.oauthTokenData;
	const now = (options.now ?? Date.now)();
	const token = parseTokenData(tokenData, now, 'stored');
	if (!token) {
		return { status: 'Error', message: 'The credential is not connected: click "Connect my account" first' };
	}
	const secrets = collectSecrets(data);
	if (token.expiresAt !== undefined && token.expiresAt <= now) {
		return {
			status: 'Error',
			message:
				`The stored access token expired at ${new Date(token.expiresAt).toISOString()}. A credential test cannot ` +
				'refresh it (n8n gives tests no way to save a new token); the nodes refresh it on their next run, or reconnect the credential.',
		};
	}

	const where = `${endpoint.host}:${endpoint.port}`;
	const client = new ImapFlow({
		host: endpoint.host,
		port: endpoint.port,
		secure: endpoint.secure,
		// true: STARTTLS or fail; false: stay in plain text ('none'); never the opportunistic middle ground.
		doSTARTTLS: endpoint.security === 'tls' ? undefined : endpoint.requireTLS,
		servername: endpoint.tls.servername,
		tls: { rejectUnauthorized: endpoint.tls.rejectUnauthorized, minVersion: endpoint.tls.minVersion },
		auth: { user: email, accessToken: token.accessToken },
		logger: false,
		verifyOnly: true,
		connectionTimeout: options.timeoutMs ?? 20_000,
		greetingTimeout: options.timeoutMs ?? 20_000,
		socketTimeout: options.timeoutMs ?? 20_000,
	});
	// imapflow emits 'error' for socket failures; without a listener Node would crash the process.
	client.on('error', () => undefined);

	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<never>((_resolve, reject) => {
		timer = setTimeout(
			() => reject(Object.assign(new Error(`no answer within ${options.timeoutMs ?? 20_000} ms`), { code: 'ETIMEDOUT' })),
			options.timeoutMs ?? 20_000,
		);
	});
	try {
		await Promise.race([client.connect(), deadline]);
		return { status: 'OK', message: `Logged in to ${where} as ${email}` };
	} catch (error) {
		return { status: 'Error', message: describeLoginFailure(error, where, secrets) };
	} finally {
		clearTimeout(timer);
		client.close();
	}
}

function describeLoginFailure(error: unknown, where: string, secrets: string[]): string {
	const shape = (typeof error === 'object' && error !== null ? error : {}) as {
		authenticationFailed?: unknown;
		oauthError?: unknown;
		responseText?: unknown;
		response?: unknown;
	};
	if (shape.authenticationFailed === true) {
		const reason = describeXOAuth2Challenge(decodeXOAuth2Challenge(shape.oauthError));
		const serverText = [shape.responseText, shape.response].find((value): value is string => typeof value === 'string');
		const server = serverText ? ` (${describeErrorSafely(serverText, secrets)})` : '';
		return `IMAP login to ${where} failed: ${reason}${server}`;
	}
	return `Could not log in to ${where}: ${describeErrorSafely(error, secrets)}`;
}

function collectSecrets(data: ICredentialDataDecryptedObject): string[] {
	const secrets: string[] = [];
	if (typeof data.clientSecret === 'string') secrets.push(data.clientSecret);
	const tokenData = data.oauthTokenData;
	if (tokenData && typeof tokenData === 'object' && !Array.isArray(tokenData)) {
		for (const key of ['access_token', 'refresh_token', 'id_token']) {
			const value = (tokenData as Record<string, unknown>)[key];
			if (typeof value === 'string') secrets.push(value);
		}
	}
	return secrets;
}
