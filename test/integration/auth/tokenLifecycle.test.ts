/**
 * The token source (nodes/mail/auth/tokens.ts) against the real stack: Dovecot validating JWT access tokens, the
 * stack's token server refreshing and revoking them, imapflow logging in through withTokenRetry. The credential is
 * the generic mailServerOAuth2Api pointed at the stack's token endpoint (the Google type cannot point anywhere else).
 * Last, what the credential's TLS settings mean for a login: the stack's certificate is self-signed, so with
 * verification on (the default, Node's trust store) it must be refused before any token is sent.
 *
 * Every refresh is counted at the token server itself (per account, refresh_token grant), so "exactly one refresh"
 * means one HTTP request reached the endpoint, not one call of a function.
 */
import * as fs from 'node:fs';
import type { ImapFlow } from 'imapflow';

import { TokenRejectedError } from '../../../nodes/mail/auth/errors';

import type { TokenSource } from '../../../nodes/mail/auth/tokens';
import { createTokenSource, withTokenRetry } from '../../../nodes/mail/auth/tokens';
import {
	AccessTokenRejectedError,
	CredentialReconnectRequiredError,
	RECONNECT_MESSAGE,
	TokenEndpointUnavailableError,
	isReconnectRequiredError,
} from '../../../nodes/mail/auth/tokenErrors';
import { buildXOAuth2InitialResponse } from '../../../nodes/mail/auth/xoauth2';
import { resolveMailConnection } from '../../../nodes/mail/connection';
import type { MailEndpoint } from '../../../nodes/mail/connection';
import { MAIL_SERVER_TYPE, StoredCredential } from '../harness/credentials';
import type { IssuedTokens } from '../harness/credentials';
import { decodeJwtPayload, getStack, waitForTokenExpiry } from '../../stack';
import type { NodeContextStandIn } from './nodeContext';
import { closedPort, imapLogin, nodeContext, openTriggerSession } from './nodeContext';
import { SecretLedger } from './secrets';

// Tokens that must expire mid-test take seconds; jest's default 5 s is too tight (the project's testTimeout is not applied).
jest.setTimeout(30_000);

const stack = getStack();

/** Everything one test set up, kept for the leak check at the end of the file. */
interface Scenario {
	user: string;
	issued: IssuedTokens;
	credential: StoredCredential;
	context: NodeContextStandIn;
	/** Access tokens handed to IMAP logins, in order. */
	tried: string[];
}

const scenarios: Scenario[] = [];
const thrown: Array<{ where: string; error: unknown }> = [];
const extraSecrets: string[] = [];

interface ScenarioOptions {
	/** The credential's account (default: a fresh mailbox). */
	user?: string;
	/** Lifetime of the issued access token and of every token refreshed from it (default: the server's hour). */
	lifetimeSeconds?: number;
	/** Store this access token instead of the issued one (e.g. an expired one). */
	storedAccessToken?: string;
	/** The stored n8n_expires_at (default: issue time + lifetime, as n8n writes it). */
	expiresAt?: number;
	refreshHelper?: boolean;
	/** Tokens for this account instead of the credential's own (the server then refuses every login). */
	tokensFor?: string;
	accessTokenUrl?: string;
	/** The credential's IMAP port and security (default: implicit TLS on the stack's IMAPS port). */
	imap?: { port: number; security: 'tls' | 'starttls' };
	/** The credential's "Ignore Mail Server Certificate Errors" (default off). */
	allowUnauthorizedCerts?: boolean;
}

async function scenario(options: ScenarioOptions = {}): Promise<Scenario> {
	const user = options.user ?? stack.newMailbox('auth');
	const issued = await stack.issueTokens(options.tokensFor ?? user, { lifetimeSeconds: options.lifetimeSeconds });
	const credential = StoredCredential.mailServer(
		stack,
		user,
		{ ...issued, access_token: options.storedAccessToken ?? issued.access_token },
		{
			imapHost: stack.host,
			imapPort: options.imap?.port ?? stack.ports.imaps,
			imapSecurity: options.imap?.security ?? 'tls',
			...(options.accessTokenUrl ? { accessTokenUrl: options.accessTokenUrl } : {}),
			...(options.allowUnauthorizedCerts !== undefined ? { allowUnauthorizedCerts: options.allowUnauthorizedCerts } : {}),
		},
		{ expiresAt: options.expiresAt },
	);
	const context = nodeContext(credential, { refreshHelper: options.refreshHelper ?? true });
	const created: Scenario = { user, issued, credential, context, tried: [] };
	scenarios.push(created);
	return created;
}

/** An access token of `user` that Dovecot already refuses as expired. */
async function expiredAccessToken(user: string): Promise<string> {
	const token = (await stack.issueTokens(user, { lifetimeSeconds: 1 })).access_token;
	extraSecrets.push(token);
	await waitForTokenExpiry(token);
	return token;
}

function login(current: Scenario): (accessToken: string) => Promise<ImapFlow> {
	return (accessToken) => imapLogin(stack, current.user, accessToken, current.tried);
}

async function loginAndLogout(current: Scenario, tokens: TokenSource): Promise<void> {
	const client = await withTokenRetry(tokens, login(current));
	try {
		expect(client.authenticated).toBeTruthy();
	} finally {
		await client.logout();
	}
}

/** The error a promise rejects with (fails the test if it resolves); kept for the leak check. */
async function failureOf(where: string, promise: Promise<unknown>): Promise<unknown> {
	const outcome = await promise.then(
		() => ({ resolved: true as const }),
		(error: unknown) => ({ resolved: false as const, error }),
	);
	if (outcome.resolved) throw new Error(`${where}: expected a failure, but it succeeded`);
	thrown.push({ where, error: outcome.error });
	return outcome.error;
}

async function refreshRequests(user: string, since: number): Promise<Array<{ status: number; error?: string }>> {
	return (await stack.tokenRequests({ user, grantType: 'refresh_token', since })).map(({ status, error }) => ({ status, error }));
}

/** Names instead of token values in assertions, so a failing expectation never prints a token. */
function tokenNames(current: Scenario, names: Record<string, string | undefined>): string[] {
	return current.tried.map((token) => Object.entries(names).find(([, value]) => value === token)?.[0] ?? 'unknown token');
}

function storedTokenData(current: Scenario): Record<string, unknown> {
	return current.credential.tokenData as Record<string, unknown>;
}

/** The IMAP endpoint the nodes derive from the scenario's credential (host, port, security, TLS verification). */
function imapEndpoint(current: Scenario): MailEndpoint {
	return resolveMailConnection(current.credential.type, current.credential.read(), ['imap']).imap;
}

/** Login lines of `user` in Dovecot's log (successful or refused): whether a login reached the server at all. */
function dovecotLoginLines(user: string): string[] {
	return fs
		.readFileSync(stack.info.files.dovecotLog, 'utf8')
		.split('\n')
		.filter((line) => line.includes(`user=<${user}>`) || line.includes(`oauth2(${user},`));
}

/**
 * Dovecot's log process writes a moment after the client got its answer: wait up to `waitMs` for `count` matching
 * lines (count 0: look again after `waitMs`, so a late line is not missed).
 */
async function waitForDovecotLines(user: string, pattern: RegExp, count: number, waitMs = 3000): Promise<string[]> {
	if (count === 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
	const deadline = Date.now() + waitMs;
	let lines = dovecotLoginLines(user).filter((line) => pattern.test(line));
	while (lines.length < count && Date.now() < deadline) {
		await new Promise((resolve) => setTimeout(resolve, 50));
		lines = dovecotLoginLines(user).filter((line) => pattern.test(line));
	}
	return lines;
}

const helperVariants = [
	["through n8n's refreshOAuth2Token", true],
	['directly, on an n8n without the helper', false],
] as const;

describe('token source against the stack', () => {
	it('refreshes a token that expired during the test through the bound n8n helper: one token request, the new token saved, the second login succeeds', async () => {
		const current = await scenario({ lifetimeSeconds: 3 });
		const since = Date.now();
		// The stand-in is as strict as n8n: called unbound, the helper fails before any request.
		const unbound = current.context.helpers.refreshOAuth2Token;
		await expect(unbound?.(MAIL_SERVER_TYPE)).rejects.toThrow(new TypeError('this.getCredentials is not a function'));
		const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

		await loginAndLogout(current, tokens);
		expect(await refreshRequests(current.user, since)).toEqual([]);

		await waitForTokenExpiry(current.issued.access_token);
		await loginAndLogout(current, tokens);

		expect(await refreshRequests(current.user, since)).toEqual([{ status: 200, error: undefined }]);
		expect(current.context.helperCalls()).toBe(1);
		const saved = storedTokenData(current);
		// Straight to the refreshed token: the expired one was never offered to the server.
		expect(tokenNames(current, { stored: current.issued.access_token, refreshed: String(saved.access_token) })).toEqual([
			'stored',
			'refreshed',
		]);
		expect(decodeJwtPayload(String(saved.access_token))).toMatchObject({ email: current.user, iss: stack.oauth.url });
		// n8n's shape: merged (the refresh token survives), n8n_expires_at a string of epoch ms in the future.
		expect(saved.refresh_token === current.issued.refresh_token).toBe(true);
		expect(saved.n8n_expires_at).toEqual(expect.stringMatching(/^\d{13}$/));
		expect(Number(saved.n8n_expires_at)).toBeGreaterThan(Date.now());
		expect(tokens.expiresAt()).toBe(Number(saved.n8n_expires_at));
		const reread = await current.context.getCredentials(MAIL_SERVER_TYPE);
		expect((reread.oauthTokenData as Record<string, unknown>).access_token === current.tried[1]).toBe(true);

		// The next execution starts from the saved token: no further request.
		const nextExecution = await createTokenSource(nodeContext(current.credential, { refreshHelper: true }), MAIL_SERVER_TYPE);
		expect((await nextExecution.getAccessToken()) === saved.access_token).toBe(true);
		expect(await refreshRequests(current.user, since)).toHaveLength(1);
	});

	it('several connections that find the token due at once share one refresh', async () => {
		const current = await scenario({ expiresAt: Date.now() - 1000 });
		const since = Date.now();
		const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

		await Promise.all([1, 2, 3].map(() => loginAndLogout(current, tokens)));

		expect(await refreshRequests(current.user, since)).toHaveLength(1);
		expect(current.context.helperCalls()).toBe(1);
		expect(tokenNames(current, { refreshed: String(storedTokenData(current).access_token) })).toEqual([
			'refreshed',
			'refreshed',
			'refreshed',
		]);
	});

	it('a stored token the server refuses although n8n_expires_at calls it valid: one refresh, then the login succeeds', async () => {
		const user = stack.newMailbox('auth');
		const stale = await expiredAccessToken(user);
		const current = await scenario({ user, storedAccessToken: stale, expiresAt: Date.now() + 3_600_000 });
		const since = Date.now();
		const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

		await loginAndLogout(current, tokens);

		expect(await refreshRequests(user, since)).toEqual([{ status: 200, error: undefined }]);
		expect(current.context.helperCalls()).toBe(1);
		expect(tokenNames(current, { stale, refreshed: String(storedTokenData(current).access_token) })).toEqual(['stale', 'refreshed']);
		expect(current.context.logs.some((entry) => entry.level === 'debug' && /refused the OAuth2 access token/.test(entry.message))).toBe(true);
	});

	it('a freshly refreshed token refused again ends with AccessTokenRejectedError (decoded status) after exactly one refresh', async () => {
		// Tokens of another account: Dovecot refuses each of them for the credential's address, before and after refresh.
		const otherAccount = stack.newMailbox('other');
		const current = await scenario({ tokensFor: otherAccount });
		const since = Date.now();
		const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

		const error = await failureOf('refused twice', withTokenRetry(tokens, login(current)));

		expect(error).toBeInstanceOf(AccessTokenRejectedError);
		expect((error as Error).message).toMatch(
			/^The IMAP server refused a freshly refreshed access token: the server answered status (401|invalid_token)/,
		);
		expect(current.tried).toHaveLength(2);
		expect(await refreshRequests(otherAccount, since)).toEqual([{ status: 200, error: undefined }]);
	});

	describe.each(helperVariants)('a revoked refresh token, refreshing %s', (_label, refreshHelper) => {
		const expectedMessage = refreshHelper
			? // n8n 2.41 replaces invalid_grant with "needs to be reconnected" and drops the provider's reason.
				RECONNECT_MESSAGE
			: `${RECONNECT_MESSAGE}: Token has been expired or revoked.`;

		it('gives every waiting connection the same single CredentialReconnectRequiredError after one token request', async () => {
			const current = await scenario({ expiresAt: Date.now() - 1000, refreshHelper });
			await stack.revokeRefreshToken(current.issued.refresh_token);
			const storedBefore = JSON.stringify(current.credential.data);
			const since = Date.now();
			const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

			const errors = await Promise.all(
				[1, 2, 3].map((attempt) => failureOf(`revoked, connection ${attempt}`, withTokenRetry(tokens, login(current)))),
			);

			expect(new Set(errors).size).toBe(1);
			const [error] = errors;
			expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
			expect(isReconnectRequiredError(error)).toBe(true);
			expect((error as CredentialReconnectRequiredError).message).toBe(expectedMessage);
			expect((error as CredentialReconnectRequiredError).description).toMatch(/Connect my account.*7 days/s);
			expect(await refreshRequests(current.user, since)).toEqual([{ status: 400, error: 'invalid_grant' }]);
			expect(current.context.helperCalls()).toBe(refreshHelper ? 1 : 0);
			expect(current.tried).toEqual([]);
			// n8n leaves the stored token alone when the refresh is refused.
			expect(JSON.stringify(current.credential.data) === storedBefore).toBe(true);
		});

		it('after the server refused the stored token, ends with the reconnect error, not a login error', async () => {
			const user = stack.newMailbox('auth');
			const stale = await expiredAccessToken(user);
			const current = await scenario({ user, storedAccessToken: stale, refreshHelper, expiresAt: Date.now() + 3_600_000 });
			await stack.revokeRefreshToken(current.issued.refresh_token);
			const since = Date.now();
			const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

			const error = await failureOf('refused, then revoked', withTokenRetry(tokens, login(current)));

			expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
			expect((error as Error).message).toBe(expectedMessage);
			expect(tokenNames(current, { stale })).toEqual(['stale']);
			expect(await refreshRequests(user, since)).toEqual([{ status: 400, error: 'invalid_grant' }]);
		});
	});

	it('without the n8n helper refreshes directly at the real token endpoint: the token is used for this run, not saved', async () => {
		const current = await scenario({ expiresAt: Date.now() - 1000, refreshHelper: false });
		const storedBefore = JSON.stringify(current.credential.data);
		const since = Date.now();
		const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

		await loginAndLogout(current, tokens);
		await loginAndLogout(current, tokens);

		expect(await refreshRequests(current.user, since)).toEqual([{ status: 200, error: undefined }]);
		expect(current.tried).toHaveLength(2);
		expect(current.tried[0] === current.tried[1]).toBe(true);
		expect(current.tried[0] === current.issued.access_token).toBe(false);
		expect(decodeJwtPayload(current.tried[0])).toMatchObject({ email: current.user });
		expect(JSON.stringify(current.credential.data) === storedBefore).toBe(true);
		expect(current.context.logs.some((entry) => entry.level === 'debug' && /could not be saved/.test(entry.message))).toBe(true);
	});

	describe.each(helperVariants)('an unreachable token endpoint, refreshing %s', (_label, refreshHelper) => {
		it('is a transient TokenEndpointUnavailableError (ECONNREFUSED) and no login is attempted', async () => {
			const port = await closedPort();
			const current = await scenario({
				expiresAt: Date.now() - 1000,
				refreshHelper,
				accessTokenUrl: `http://127.0.0.1:${port}/token`,
			});
			const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);

			const error = await failureOf('unreachable token endpoint', withTokenRetry(tokens, login(current)));

			expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
			expect(error).toMatchObject({ transient: true, code: 'ECONNREFUSED' });
			expect((error as Error).message).toContain(`(127.0.0.1:${port})`);
			expect(current.tried).toEqual([]);
			expect(current.context.helperCalls()).toBe(refreshHelper ? 1 : 0);
		});
	});

	describe("the credential's TLS settings, logging in as the IMAP trigger does", () => {
		it('refuses the self-signed certificate by default: the TLS error passes through untouched, before any token is sent, without a refresh', async () => {
			const current = await scenario();
			const since = Date.now();
			const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);
			expect(imapEndpoint(current).tls.rejectUnauthorized).toBe(true);

			const error = await failureOf('self-signed refused', openTriggerSession(tokens, imapEndpoint(current), current.context, current));

			expect(error).not.toBeInstanceOf(TokenRejectedError);
			expect(error).not.toBeInstanceOf(AccessTokenRejectedError);
			expect(String((error as Error).message)).toMatch(/self[- ]signed certificate/);
			// One connection attempt, not retried with a refreshed token: a certificate is not a token problem.
			expect(current.tried).toHaveLength(1);
			expect(await refreshRequests(current.user, since)).toEqual([]);
			expect(await waitForDovecotLines(current.user, /./, 0, 500)).toEqual([]);
		});

		it('accepts it when allowUnauthorizedCerts is on: a good token logs in over implicit TLS and over STARTTLS', async () => {
			const user = stack.newMailbox('auth');
			const implicitTls = await scenario({ user, allowUnauthorizedCerts: true });
			const startTls = await scenario({ user, allowUnauthorizedCerts: true, imap: { port: stack.ports.imap, security: 'starttls' } });

			for (const current of [implicitTls, startTls]) {
				const endpoint = imapEndpoint(current);
				expect(endpoint.tls.rejectUnauthorized).toBe(false);
				const clients: ImapFlow[] = [];
				const tokens = await createTokenSource(current.context, MAIL_SERVER_TYPE);
				const session = await openTriggerSession(tokens, endpoint, current.context, { tried: current.tried, clients });
				try {
					expect(session.isOpen).toBe(true);
					expect(clients).toHaveLength(1);
					// Encrypted either way: from the first byte, or upgraded before the token went out.
					expect(clients[0].secureConnection).toBe(true);
				} finally {
					await session.retire();
				}
			}
			expect(startTls.credential.read()).toMatchObject({ imapPort: stack.ports.imap, imapSecurity: 'starttls' });
			expect(await waitForDovecotLines(user, /Login: user=/, 2)).toHaveLength(2);
		});
	});

	it('leaves no token in the Dovecot or token server log, in any error thrown above, or in the node logs', async () => {
		const ledger = new SecretLedger();
		for (const current of scenarios) {
			ledger.addTokenData('issued token', current.issued);
			ledger.addTokenData('stored token', current.credential.tokenData);
			ledger.add('token used to log in', ...current.tried);
		}
		ledger.add('expired token', ...extraSecrets);
		// Sanity: the check covers every scenario above (issued access + refresh token each, refreshed ones on top).
		expect(scenarios.length).toBeGreaterThanOrEqual(10);
		expect(ledger.size).toBeGreaterThanOrEqual(2 * scenarios.length);
		expect(thrown.length).toBeGreaterThanOrEqual(8);

		// The detector finds a token even inside a base64 SASL response, as a verbose server log would carry it.
		const probe = scenarios[0];
		expect(ledger.findIn('probe', `AUTHENTICATE XOAUTH2 ${buildXOAuth2InitialResponse(probe.user, probe.issued.access_token)}`)).not.toEqual([]);
		// And the Dovecot log is where refused logins of these tests were written (so a leak there would show).
		const dovecotLog = fs.readFileSync(stack.info.files.dovecotLog, 'utf8');
		expect(scenarios.filter((current) => dovecotLog.includes(`oauth2(${current.user},`)).length).toBeGreaterThanOrEqual(3);

		const findings = ledger.findInServerLogs(stack);
		for (const { where, error } of thrown) findings.push(...ledger.findInError(`the error of "${where}"`, error));
		for (const [index, current] of scenarios.entries()) {
			findings.push(...ledger.findIn(`the node log of scenario ${index + 1}`, JSON.stringify(current.context.logs)));
		}
		expect(findings).toEqual([]);
	});
});
