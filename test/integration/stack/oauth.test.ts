/**
 * The stack's OAuth2 token server, through its real HTTP endpoints as n8n and the nodes use them: the Connect flow
 * (authorize → code → tokens), the refresh grant and its counter, revocation (400 invalid_grant), client
 * authentication, lifetimes, and JWTs that Dovecot can validate without crashing (no array claims).
 */
import * as crypto from 'node:crypto';
import { decodeJwtPayload, getStack } from '../../stack';
import { waitUntil } from '../../support/waitUntil';

const stack = getStack();
const callback = 'http://127.0.0.1:5678/rest/oauth2-credential/callback';

/** What n8n's Connect button sends to the authorization URL (plus the credential's auth query parameters). */
async function authorize(params: Record<string, string>): Promise<URL> {
	const url = new URL(stack.oauth.authorizeUrl);
	for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
	const response = await fetch(url, { redirect: 'manual' });
	expect(response.status).toBe(302);
	return new URL(response.headers.get('location') ?? '');
}

function connectParams(user: string, extra: Record<string, string> = {}): Record<string, string> {
	return {
		response_type: 'code',
		client_id: stack.oauth.clientId,
		redirect_uri: callback,
		scope: stack.oauth.scope,
		state: 'n8n-state-abc',
		access_type: 'offline',
		prompt: 'consent',
		login_hint: user,
		...extra,
	};
}

describe('OAuth2 token server', () => {
	it('runs the Connect flow: auto-approved redirect with code and state, code exchanged once for tokens', async () => {
		const user = stack.newMailbox('connect');
		const redirect = await authorize(connectParams(user));
		expect(`${redirect.origin}${redirect.pathname}`).toBe(callback);
		expect(redirect.searchParams.get('state')).toBe('n8n-state-abc');
		const code = redirect.searchParams.get('code') ?? '';
		expect(code).not.toBe('');

		const exchange = await stack.requestToken({ grant_type: 'authorization_code', code, redirect_uri: callback });
		expect(exchange.status).toBe(200);
		expect(exchange.body).toMatchObject({ token_type: 'Bearer', expires_in: 3599, scope: stack.oauth.scope });
		expect(typeof exchange.body.refresh_token).toBe('string');
		expect(decodeJwtPayload(String(exchange.body.access_token))).toMatchObject({ email: user, iss: stack.oauth.url });

		const replay = await stack.requestToken({ grant_type: 'authorization_code', code, redirect_uri: callback });
		expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
	});

	it('checks PKCE when the authorization request carried a challenge', async () => {
		const verifier = crypto.randomBytes(32).toString('base64url');
		const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
		const params = connectParams(stack.newMailbox('pkce'), { code_challenge: challenge, code_challenge_method: 'S256' });
		const wrongCode = (await authorize(params)).searchParams.get('code') ?? '';
		const wrong = await stack.requestToken({ grant_type: 'authorization_code', code: wrongCode, redirect_uri: callback, code_verifier: 'nope' });
		expect(wrong).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
		const code = (await authorize(params)).searchParams.get('code') ?? '';
		const right = await stack.requestToken({ grant_type: 'authorization_code', code, redirect_uri: callback, code_verifier: verifier });
		expect(right.status).toBe(200);
	});

	it('redirects with error=access_denied when set to deny, and never redirects for an unknown client', async () => {
		await stack.configureTokenServer({ authorizeDecision: 'deny' });
		try {
			const denied = await authorize(connectParams(stack.newMailbox('deny')));
			expect(denied.searchParams.get('error')).toBe('access_denied');
			expect(denied.searchParams.get('code')).toBeNull();
		} finally {
			await stack.configureTokenServer({ authorizeDecision: 'approve' });
		}
		const url = new URL(stack.oauth.authorizeUrl);
		url.search = new URLSearchParams({ ...connectParams('x@example.test'), client_id: 'intruder' }).toString();
		expect((await fetch(url, { redirect: 'manual' })).status).toBe(400);
	});

	it('serves the refresh grant (client in the body or HTTP Basic) and counts each request per grant type', async () => {
		const user = stack.newMailbox('refresh');
		const tokens = await stack.issueTokens(user);
		const before = await stack.tokenRequestCount({ user });

		const viaBody = await stack.refreshAccessToken(tokens.refresh_token);
		expect(viaBody.status).toBe(200);
		expect(viaBody.body.refresh_token).toBeUndefined(); // like Google: the refresh token is kept, not rotated
		expect(decodeJwtPayload(String(viaBody.body.access_token)).email).toBe(user);
		const viaBasic = await stack.requestToken({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { clientAuth: 'basic' });
		expect(viaBasic.status).toBe(200);

		expect(await stack.tokenRequestCount({ user })).toBe(before + 2);
		expect(await stack.tokenRequestCount({ user, grantType: 'refresh_token', outcome: 'ok' })).toBe(2);
		expect(await stack.tokenRequestCount({ user, grantType: 'authorization_code' })).toBe(0);
	});

	it('answers a revoked refresh token with 400 invalid_grant (and counts the refused request)', async () => {
		const user = stack.newMailbox('revoked');
		const tokens = await stack.issueTokens(user);
		await stack.revokeRefreshToken(tokens.refresh_token);
		const refused = await stack.refreshAccessToken(tokens.refresh_token);
		expect(refused.status).toBe(400);
		expect(refused.body).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
		expect(await stack.tokenRequestCount({ user, grantType: 'refresh_token', outcome: 'refused' })).toBe(1);
	});

	it('revokes through the public revocation endpoint too, and rejects unknown refresh tokens alike', async () => {
		const tokens = await stack.issueTokens(stack.newMailbox('revoke-endpoint'));
		const revoke = await fetch(stack.oauth.revokeUrl, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: new URLSearchParams({ token: tokens.refresh_token }).toString(),
		});
		expect(revoke.status).toBe(200);
		expect((await stack.refreshAccessToken(tokens.refresh_token)).body.error).toBe('invalid_grant');
		expect((await stack.refreshAccessToken('1//never-issued')).body.error).toBe('invalid_grant');
	});

	it('refuses a wrong client secret with 401 invalid_client', async () => {
		const tokens = await stack.issueTokens(stack.newMailbox('client'));
		const response = await fetch(stack.oauth.tokenUrl, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: new URLSearchParams({
				grant_type: 'refresh_token',
				refresh_token: tokens.refresh_token,
				client_id: stack.oauth.clientId,
				client_secret: 'wrong',
			}).toString(),
		});
		expect(response.status).toBe(401);
		expect(await response.json()).toMatchObject({ error: 'invalid_client' });
	});

	it('issues access tokens with the lifetime set per refresh token or as the default', async () => {
		const tokens = await stack.issueTokens(stack.newMailbox('lifetime'), { lifetimeSeconds: 20 });
		const lifetime = (token: unknown): number => {
			const claims = decodeJwtPayload(String(token));
			return Number(claims.exp) - Number(claims.iat);
		};
		expect(tokens.expires_in).toBe(20);
		expect(lifetime(tokens.access_token)).toBe(20);
		expect((await stack.refreshAccessToken(tokens.refresh_token)).body.expires_in).toBe(20);

		await stack.setAccessTokenLifetime(10, { refreshToken: tokens.refresh_token });
		const refreshed = await stack.refreshAccessToken(tokens.refresh_token);
		expect(refreshed.body.expires_in).toBe(10);
		expect(lifetime(refreshed.body.access_token)).toBe(10);

		const other = await stack.issueTokens(stack.newMailbox('default-lifetime'));
		await stack.setAccessTokenLifetime(15);
		try {
			expect((await stack.refreshAccessToken(other.refresh_token)).body.expires_in).toBe(15);
		} finally {
			await stack.setAccessTokenLifetime(3599);
		}
	});

	it('signs RS256 JWTs that verify against its JWKS and carry no array claims (Dovecot 2.3.19 crashes on some)', async () => {
		const token = await stack.accessToken(stack.newMailbox('jwt'));
		const [headerPart, payloadPart, signature] = token.split('.');
		const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as { alg: string; kid: string };
		expect(header.alg).toBe('RS256');
		const jwks = (await (await fetch(stack.oauth.jwksUrl)).json()) as { keys: Array<crypto.JsonWebKey & { kid: string }> };
		const jwk = jwks.keys.find((key) => key.kid === header.kid);
		expect(jwk).toBeDefined();
		const key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
		expect(crypto.verify('sha256', Buffer.from(`${headerPart}.${payloadPart}`), key, Buffer.from(signature, 'base64url'))).toBe(true);
		for (const value of Object.values(decodeJwtPayload(token))) expect(Array.isArray(value)).toBe(false);
	});

	it('can fail the next token requests on purpose (a provider outage as the nodes will see it)', async () => {
		const tokens = await stack.issueTokens(stack.newMailbox('flaky'));
		await stack.failNextTokenRequests(1, 503);
		expect((await stack.refreshAccessToken(tokens.refresh_token)).status).toBe(503);
		expect((await stack.refreshAccessToken(tokens.refresh_token)).status).toBe(200);

		await stack.tokenServerOutage(300);
		await expect(stack.refreshAccessToken(tokens.refresh_token)).rejects.toThrow();
		// The server listens again when its own 300 ms timer has run. It is another process, late on a busy machine:
		// wait for it to answer (a refused connection changes nothing there), then it must answer the refresh.
		let afterOutage: Awaited<ReturnType<typeof stack.refreshAccessToken>> | undefined;
		await waitUntil(async () => {
			afterOutage = await stack.refreshAccessToken(tokens.refresh_token).catch(() => undefined);
			return afterOutage !== undefined;
		}, 'the token server to answer again');
		expect(afterOutage?.status).toBe(200);
	});
});
