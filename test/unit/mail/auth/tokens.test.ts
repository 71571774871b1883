import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	ILoadOptionsFunctions,
	INode,
	ITriggerFunctions,
	Logger,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { TokenRejectedError } from '../../../../nodes/mail/auth/errors';
import {
	AccessTokenRejectedError,
	CredentialReconnectRequiredError,
	RECONNECT_MESSAGE,
	TokenEndpointUnavailableError,
	TokenRefreshFailedError,
	isReconnectRequiredError,
} from '../../../../nodes/mail/auth/tokenErrors';
import type { TokenSource, TokenSourceContext } from '../../../../nodes/mail/auth/tokens';
import { MailCredentialFieldError } from '../../../../nodes/mail/connection';
import { createTokenSource, parseTokenData, readJwtTimes, withTokenRetry } from '../../../../nodes/mail/auth/tokens';

// Compile-time check: every n8n context the nodes use can be handed to createTokenSource as is.
export const contextsFit: Array<(context: ITriggerFunctions | IExecuteFunctions | ILoadOptionsFunctions) => TokenSourceContext> = [
	(context) => context,
];

const NOW = 1_750_000_000_000;
const GOOGLE = 'googleMailOAuth2Api';
const GENERIC = 'mailServerOAuth2Api';

const STORED_ACCESS_TOKEN = 'ya29.stored-access-token-AAAA';
const REFRESH_TOKEN = '1//refresh-token-BBBBBBBBBBBB';
const CLIENT_SECRET = 'client-secret-CCCCCCCC';

/** Every secret any test hands out; no error message, description or log line may ever contain one. */
const SECRETS = new Set<string>([STORED_ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET]);

function secret(value: string): string {
	SECRETS.add(value);
	return value;
}

function jwt(claims: Record<string, unknown>): string {
	const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
	return secret(`${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}.c2lnbmF0dXJl`);
}

interface Deferred<T> {
	promise: Promise<T>;
	resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
	let resolve!: (value: T) => void;
	const promise = new Promise<T>((res) => (resolve = res));
	return { promise, resolve };
}

interface LogEntry {
	level: string;
	message: string;
	metadata?: unknown;
}

type RefreshImplementation = (this: FakeContext, type: string) => Promise<unknown>;

/** Stands in for n8n's node context: credentials "in the database", a logger, the refresh helper. */
class FakeContext implements TokenSourceContext {
	stored: ICredentialDataDecryptedObject;
	getCredentialsCalls = 0;
	readonly logs: LogEntry[] = [];
	readonly refreshThisValues: unknown[] = [];
	readonly refreshTypes: string[] = [];
	readonly node: INode = {
		id: 'node-1',
		name: 'Gmail IMAP Trigger',
		type: 'n8n-nodes-gmail-xoauth2.gmailImapTrigger',
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
		credentials: { [GOOGLE]: { id: 'cred-1', name: 'My Gmail' }, [GENERIC]: { id: 'cred-2', name: 'Local stack' } },
	};
	readonly logger: Logger = {
		error: (message, metadata) => this.logs.push({ level: 'error', message, metadata }),
		warn: (message, metadata) => this.logs.push({ level: 'warn', message, metadata }),
		info: (message, metadata) => this.logs.push({ level: 'info', message, metadata }),
		debug: (message, metadata) => this.logs.push({ level: 'debug', message, metadata }),
	};
	helpers: TokenSourceContext['helpers'] = {};

	constructor(stored: ICredentialDataDecryptedObject) {
		this.stored = stored;
	}

	async getCredentials<T extends object = ICredentialDataDecryptedObject>(type: string): Promise<T> {
		expect([GOOGLE, GENERIC]).toContain(type);
		this.getCredentialsCalls++;
		// A copy, like a fresh database read: later changes to `stored` are not visible through earlier results.
		return structuredClone(this.stored) as T;
	}

	getNode(): INode {
		return this.node;
	}

	/**
	 * Installs a refresh helper that behaves like n8n's: it reads `this.getCredentials` (so an unbound call throws),
	 * then saves and returns the new token data.
	 */
	useRefreshHelper(implementation: RefreshImplementation): jest.Mock {
		const { refreshThisValues, refreshTypes } = this;
		const helper = jest.fn(async function (this: unknown, type: string): Promise<unknown> {
			refreshThisValues.push(this);
			refreshTypes.push(type);
			await (this as FakeContext).getCredentials(type);
			return await implementation.call(this as FakeContext, type);
		});
		this.helpers = { refreshOAuth2Token: helper };
		return helper;
	}

	/** A helper that issues `newToken`, saves it with n8n_expires_at and returns the merged token data. */
	useSavingRefreshHelper(newToken: string, options: { expiresInSeconds?: number; now?: () => number; gate?: Promise<void> } = {}) {
		secret(newToken);
		return this.useRefreshHelper(async function (this: FakeContext) {
			if (options.gate) await options.gate;
			const expiresIn = options.expiresInSeconds ?? 3599;
			const tokenData = {
				...(this.stored.oauthTokenData as Record<string, unknown>),
				access_token: newToken,
				expires_in: expiresIn,
				n8n_expires_at: String((options.now ?? (() => NOW))() + expiresIn * 1000),
			};
			this.stored = { ...this.stored, oauthTokenData: tokenData };
			return tokenData;
		});
	}
}

function googleData(tokenData: Record<string, unknown>): ICredentialDataDecryptedObject {
	return {
		email: 'me@gmail.com',
		clientId: 'client-id.apps.googleusercontent.com',
		clientSecret: CLIENT_SECRET,
		accessTokenUrl: 'https://oauth2.googleapis.com/token',
		authentication: 'body',
		oauthTokenData: { token_type: 'Bearer', refresh_token: REFRESH_TOKEN, ...tokenData },
	} as ICredentialDataDecryptedObject;
}

function validStoredToken(expiresInMs = 3_600_000): Record<string, unknown> {
	return { access_token: STORED_ACCESS_TOKEN, expires_in: 3599, n8n_expires_at: String(NOW + expiresInMs) };
}

function safeStringify(value: unknown): string {
	const seen = new WeakSet<object>();
	return JSON.stringify(value, (_key, inner: unknown) => {
		if (inner && typeof inner === 'object') {
			if (seen.has(inner)) return '[circular]';
			seen.add(inner);
		}
		return inner;
	});
}

/** No secret in the message, description, own properties or stack of an error. */
function expectNoSecretsIn(error: unknown): void {
	expect(error).toBeInstanceOf(Error);
	const err = error as Error & { description?: unknown };
	const texts = [
		err.message,
		String(err.description ?? ''),
		String(err.stack ?? ''),
		safeStringify(Object.fromEntries(Object.getOwnPropertyNames(err).map((key) => [key, (err as unknown as Record<string, unknown>)[key]]))),
	];
	for (const text of texts) {
		for (const value of SECRETS) expect(text).not.toContain(value);
	}
}

function expectNoSecretsInLogs(context: FakeContext): void {
	for (const entry of context.logs) {
		const text = `${entry.message} ${safeStringify(entry.metadata ?? null)}`;
		for (const value of SECRETS) expect(text).not.toContain(value);
	}
}

async function caught(run: () => Promise<unknown>): Promise<Error> {
	try {
		await run();
	} catch (error) {
		expectNoSecretsIn(error);
		return error as Error;
	}
	throw new Error('expected the call to throw');
}

function clock(start = NOW) {
	let current = start;
	return {
		now: () => current,
		advance: (ms: number) => {
			current += ms;
		},
	};
}

describe('createTokenSource', () => {
	it('validates the account address and exposes it', async () => {
		const context = new FakeContext(googleData(validStoredToken()));
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(tokens.email).toBe('me@gmail.com');
		expect(tokens.credentialType).toBe(GOOGLE);

		context.stored = { ...context.stored, email: 'not an address' };
		const error = await caught(() => createTokenSource(context, GOOGLE));
		expect(error).toBeInstanceOf(MailCredentialFieldError);
		expect(error.message).toContain('(email)');
	});

	it('takes a credential the caller already read without reading it again, and names it in errors', async () => {
		const context = new FakeContext(googleData(validStoredToken()));
		const data = await context.getCredentials(GOOGLE);
		const calls = context.getCredentialsCalls;
		const tokens = await createTokenSource(context, { type: GOOGLE, data, name: 'Work mail' }, { now: () => NOW });
		expect(context.getCredentialsCalls).toBe(calls);
		expect(await tokens.getAccessToken()).toBe(STORED_ACCESS_TOKEN);
		expect(context.getCredentialsCalls).toBe(calls);

		const unconnected = { email: 'me@gmail.com', clientId: 'id', clientSecret: CLIENT_SECRET };
		const error = await caught(() => createTokenSource(context, { type: GOOGLE, data: unconnected, name: 'Work mail' }));
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
		expect((error as CredentialReconnectRequiredError).description).toContain('"Work mail" (googleMailOAuth2Api)');
		expect(error).not.toBeInstanceOf(NodeOperationError);
		expect(error).toMatchObject({ kind: 'RECONNECT_REQUIRED', transient: false, failureCause: 'credential-invalid' });
	});

	it('reports a credential that was never connected as needing a (re)connect', async () => {
		const context = new FakeContext({ email: 'me@gmail.com', clientId: 'id', clientSecret: CLIENT_SECRET });
		const error = await caught(() => createTokenSource(context, GOOGLE));
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
		expect(error.message).toBe(`${RECONNECT_MESSAGE}: it is not connected to an account yet`);
		expect(isReconnectRequiredError(error)).toBe(true);
	});

	it('refuses credential types that are not mail credentials', async () => {
		const context = new FakeContext(googleData(validStoredToken()));
		await expect(createTokenSource(context, 'gmailOAuth2')).rejects.toThrow('Unsupported credential type');
	});
});

describe('expiry: when the stored token is used and when it is refreshed', () => {
	it('uses a token whose n8n_expires_at (a string of epoch ms) is more than the margin away', async () => {
		const context = new FakeContext(googleData(validStoredToken(61_000)));
		const helper = context.useSavingRefreshHelper('ya29.fresh-1');
		const time = clock();
		const tokens = await createTokenSource(context, GOOGLE, { now: time.now });
		expect(await tokens.getAccessToken()).toBe(STORED_ACCESS_TOKEN);
		expect(helper).not.toHaveBeenCalled();
		// A valid token costs no further credential read.
		expect(context.getCredentialsCalls).toBe(1);
		expect(tokens.expiresAt()).toBe(NOW + 61_000);
		// Renewed exactly when the 60 s margin before expiry begins.
		time.advance(999);
		expect(await tokens.getAccessToken()).toBe(STORED_ACCESS_TOKEN);
		expect(helper).not.toHaveBeenCalled();
		time.advance(1);
		expect(await tokens.getAccessToken()).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('refreshes a token that expires within the 60 s margin', async () => {
		const context = new FakeContext(googleData(validStoredToken(59_000)));
		const helper = context.useSavingRefreshHelper('ya29.fresh-1');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
		expect(tokens.expiresAt()).toBe(NOW + 3_599_000);
	});

	it('honours a configured margin', async () => {
		const context = new FakeContext(googleData(validStoredToken(200_000)));
		const helper = context.useSavingRefreshHelper('ya29.fresh-1');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW, refreshMarginMs: 300_000 });
		expect(await tokens.getAccessToken()).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('prefers n8n_expires_at over the JWT exp', async () => {
		const token = jwt({ sub: 'me', exp: NOW / 1000 + 7200, iat: NOW / 1000 - 10 });
		const context = new FakeContext(
			googleData({ access_token: token, expires_in: 3599, n8n_expires_at: String(NOW - 1000) }),
		);
		const helper = context.useSavingRefreshHelper('ya29.fresh-1');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('falls back to the JWT exp when n8n_expires_at is absent (imported token data)', async () => {
		const valid = jwt({ sub: 'me', exp: NOW / 1000 + 3600, iat: NOW / 1000 });
		const context = new FakeContext(googleData({ access_token: valid }));
		const helper = context.useSavingRefreshHelper('ya29.fresh-1');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe(valid);
		expect(tokens.expiresAt()).toBe(NOW + 3_600_000);
		expect(helper).not.toHaveBeenCalled();

		const expiring = jwt({ sub: 'me', exp: NOW / 1000 + 30, iat: NOW / 1000 - 3570 });
		context.stored = googleData({ access_token: expiring });
		const second = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await second.getAccessToken()).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('refreshes an opaque token of unknown age before first use, then reuses the refreshed one', async () => {
		const context = new FakeContext(googleData({ access_token: STORED_ACCESS_TOKEN }));
		secret('ya29.no-expiry');
		// A server that sends no expires_in: the refreshed token's expiry stays unknown.
		const helper = context.useRefreshHelper(async function (this: FakeContext) {
			return { access_token: 'ya29.no-expiry', refresh_token: REFRESH_TOKEN };
		});
		const time = clock();
		const tokens = await createTokenSource(context, GOOGLE, { now: time.now });
		expect(tokens.expiresAt()).toBeUndefined();
		expect(await tokens.getAccessToken()).toBe('ya29.no-expiry');
		time.advance(3_600_000);
		expect(await tokens.getAccessToken()).toBe('ya29.no-expiry');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('shortens the margin to a fifth of the lifetime for short-lived tokens (a 10 s token is renewed after 8 s)', async () => {
		const time = clock();
		const context = new FakeContext(googleData({ access_token: STORED_ACCESS_TOKEN, expires_in: 10, n8n_expires_at: String(NOW + 10_000) }));
		let issued = 0;
		const helper = context.useRefreshHelper(async function (this: FakeContext) {
			issued++;
			const tokenData = { access_token: secret(`ya29.short-${issued}`), expires_in: 10, n8n_expires_at: String(time.now() + 10_000) };
			this.stored = { ...this.stored, oauthTokenData: { ...(this.stored.oauthTokenData as object), ...tokenData } };
			return tokenData;
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: time.now });
		time.advance(7_900);
		expect(await tokens.getAccessToken()).toBe(STORED_ACCESS_TOKEN);
		time.advance(200);
		expect(await tokens.getAccessToken()).toBe('ya29.short-1');
		time.advance(7_900);
		expect(await tokens.getAccessToken()).toBe('ya29.short-1');
		time.advance(200);
		expect(await tokens.getAccessToken()).toBe('ya29.short-2');
		expect(helper).toHaveBeenCalledTimes(2);
	});

	it('does not refresh in a loop when a just-refreshed token already looks stale (clock skew)', async () => {
		const context = new FakeContext(googleData(validStoredToken(-1_000)));
		const skewed = jwt({ exp: NOW / 1000 - 5 });
		const helper = context.useRefreshHelper(async () => ({ access_token: skewed }));
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe(skewed);
		expect(await tokens.getAccessToken()).toBe(skewed);
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('refreshes a just-refreshed very short-lived token once it has really expired', async () => {
		const time = clock();
		const context = new FakeContext(googleData(validStoredToken(-1_000)));
		let issued = 0;
		const helper = context.useRefreshHelper(async () => {
			issued += 1;
			return { access_token: jwt({ exp: (time.now() + 3_000) / 1000, n: issued }) };
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => time.now() });
		const first = await tokens.getAccessToken();
		time.advance(3_800);
		const second = await tokens.getAccessToken();
		expect(second).not.toBe(first);
		expect(helper).toHaveBeenCalledTimes(2);
	});

	it('uses a token saved by another execution or process instead of refreshing again', async () => {
		const context = new FakeContext(googleData(validStoredToken(10_000)));
		const helper = context.useSavingRefreshHelper('ya29.should-not-be-used');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const elsewhere = secret('ya29.refreshed-elsewhere');
		context.stored = googleData({ access_token: elsewhere, expires_in: 3599, n8n_expires_at: String(NOW + 3_599_000) });
		expect(await tokens.getAccessToken()).toBe(elsewhere);
		expect(helper).not.toHaveBeenCalled();
	});

	it('keeps using a token of unknown expiry when there is no refresh token to renew it', async () => {
		const context = new FakeContext({
			email: 'me@gmail.com',
			oauthTokenData: { access_token: STORED_ACCESS_TOKEN },
		} as ICredentialDataDecryptedObject);
		const helper = context.useSavingRefreshHelper('ya29.unused');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe(STORED_ACCESS_TOKEN);
		expect(helper).not.toHaveBeenCalled();
	});

	it('asks for a reconnect when an expired token has no refresh token', async () => {
		const context = new FakeContext({
			email: 'me@gmail.com',
			oauthTokenData: { access_token: STORED_ACCESS_TOKEN, n8n_expires_at: String(NOW - 1) },
		} as ICredentialDataDecryptedObject);
		const helper = context.useSavingRefreshHelper('ya29.unused');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
		expect(error.message).toBe(`${RECONNECT_MESSAGE}: no refresh token is stored`);
		expect(helper).not.toHaveBeenCalled();
	});
});

describe('parseTokenData / readJwtTimes', () => {
	it('reads n8n_expires_at as a string or a number', () => {
		expect(parseTokenData({ access_token: 'x', n8n_expires_at: String(NOW + 5) }, NOW, 'stored')?.expiresAt).toBe(NOW + 5);
		expect(parseTokenData({ access_token: 'x', n8n_expires_at: NOW + 5 }, NOW, 'stored')?.expiresAt).toBe(NOW + 5);
	});

	it('ignores a missing, empty or nonsensical expiry', () => {
		for (const value of [undefined, '', 'soon', '-5', 0]) {
			expect(parseTokenData({ access_token: 'opaque', n8n_expires_at: value }, NOW, 'stored')?.expiresAt).toBeUndefined();
		}
	});

	it('derives the expiry of a just-refreshed token from expires_in, but not of a stored one of unknown age', () => {
		expect(parseTokenData({ access_token: 'x', expires_in: '3599' }, NOW, 'refreshed')?.expiresAt).toBe(NOW + 3_599_000);
		expect(parseTokenData({ access_token: 'x', expires_in: 3599 }, NOW, 'stored')?.expiresAt).toBeUndefined();
	});

	it('returns nothing without an access token', () => {
		expect(parseTokenData(undefined, NOW, 'stored')).toBeUndefined();
		expect(parseTokenData({ refresh_token: 'r' }, NOW, 'stored')).toBeUndefined();
		expect(parseTokenData({ access_token: '' }, NOW, 'stored')).toBeUndefined();
	});

	it('reads exp and iat of a JWT and nothing from opaque or broken tokens', () => {
		expect(readJwtTimes(jwt({ exp: 2_000_000_000, iat: 1_999_996_400 }))).toEqual({
			expiresAt: 2_000_000_000_000,
			issuedAt: 1_999_996_400_000,
		});
		expect(readJwtTimes('ya29.a0AfB_opaque')).toEqual({});
		expect(readJwtTimes('a.%%%.c')).toEqual({});
		expect(readJwtTimes(`x.${Buffer.from('[1]').toString('base64url')}.y`)).toEqual({});
	});
});

describe('refreshing through n8n', () => {
	it("calls n8n's helper bound to the node context, with the credential type", async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		const helper = context.useSavingRefreshHelper('ya29.fresh-1');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
		expect(context.refreshThisValues).toEqual([context]);
		expect(context.refreshTypes).toEqual([GOOGLE]);
		expectNoSecretsInLogs(context);
	});

	it('shares one refresh among concurrent callers', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		const gate = deferred<void>();
		const helper = context.useSavingRefreshHelper('ya29.fresh-1', { gate: gate.promise });
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const callers = Array.from({ length: 10 }, () => tokens.getAccessToken());
		// Let every caller reach the in-flight refresh before it completes.
		await new Promise((resolve) => setImmediate(resolve));
		gate.resolve();
		expect(await Promise.all(callers)).toEqual(Array(10).fill('ya29.fresh-1'));
		expect(helper).toHaveBeenCalledTimes(1);
		// Once done, the next expiry starts a new refresh rather than reusing the settled one.
		expect(await tokens.getAccessToken()).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('forces a refresh even for a token that looks valid, and refreshes once for many refusals of the same token', async () => {
		const context = new FakeContext(googleData(validStoredToken()));
		const gate = deferred<void>();
		const helper = context.useSavingRefreshHelper('ya29.fresh-1', { gate: gate.promise });
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const refused = await tokens.getAccessToken();
		const refreshes = Array.from({ length: 5 }, () => tokens.refresh(refused));
		await new Promise((resolve) => setImmediate(resolve));
		gate.resolve();
		expect(await Promise.all(refreshes)).toEqual(Array(5).fill('ya29.fresh-1'));
		// A refusal of the old token that arrives late does not cost another refresh.
		expect(await tokens.refresh(refused)).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('does not hand back the refused token even if it is what the credential still stores', async () => {
		const context = new FakeContext(googleData(validStoredToken()));
		const helper = context.useSavingRefreshHelper('ya29.fresh-1');
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.refresh(STORED_ACCESS_TOKEN)).toBe('ya29.fresh-1');
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('maps n8n\'s "needs to be reconnected" error (invalid_grant) to a reconnect error with the Testing-app hint', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		context.useRefreshHelper(async function (this: FakeContext) {
			throw new NodeOperationError(this.getNode(), 'The credential "My Gmail" needs to be reconnected.', {
				description: 'Access could not be refreshed ...',
				failure: { cause: 'credential-invalid' },
			});
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
		expect(error.message).toBe(RECONNECT_MESSAGE);
		const description = (error as CredentialReconnectRequiredError).description ?? '';
		expect(description).toContain('"My Gmail" (googleMailOAuth2Api)');
		expect(description).toContain('invalid_grant');
		expect(description).toMatch(/7 days/);
		expect(description).toMatch(/Testing/);
		expect(error).not.toBeInstanceOf(TokenEndpointUnavailableError);
	});

	it("maps older n8n's invalid_grant error (the OAuth2 client's AuthError) and keeps Google's reason", async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		context.useRefreshHelper(async () => {
			throw Object.assign(new Error('Token has been expired or revoked.'), {
				code: 'EAUTH',
				body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
			});
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
		expect(error.message).toBe(`${RECONNECT_MESSAGE}: Token has been expired or revoked.`);
	});

	it('maps an unreachable token URL to a transient error without leaking the request body', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		context.useRefreshHelper(async () => {
			// What axios throws: the request config (with the form body) rides along on the error.
			throw Object.assign(new Error('connect ECONNREFUSED 142.250.0.1:443'), {
				code: 'ECONNREFUSED',
				isAxiosError: true,
				config: { data: `refresh_token=${REFRESH_TOKEN}&client_secret=${CLIENT_SECRET}` },
			});
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
		expect(error).toMatchObject({ transient: true });
		expect((error as TokenEndpointUnavailableError).code).toBe('ECONNREFUSED');
		expect(error.message).toBe('Could not reach the OAuth2 token endpoint (oauth2.googleapis.com) to refresh the access token');
	});

	it('treats a 5xx answer as transient', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		context.useRefreshHelper(async () => {
			throw Object.assign(new Error('Request failed with status code 503'), { response: { status: 503 } });
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
		expect((error as TokenEndpointUnavailableError).httpStatus).toBe(503);
	});

	it('redacts secrets from any other failure it passes on', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		context.useRefreshHelper(async () => {
			throw new Error(`unexpected answer for refresh_token=${REFRESH_TOKEN} (Authorization: Bearer ${STORED_ACCESS_TOKEN})`);
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(TokenRefreshFailedError);
		expect((error as TokenRefreshFailedError).description).toContain('unexpected answer for refresh_token=[redacted]');
	});

	it('reports a helper result without an access token', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		context.useRefreshHelper(async () => ({ token_type: 'Bearer' }));
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await caught(() => tokens.getAccessToken())).toBeInstanceOf(TokenRefreshFailedError);
	});

	it('recovers after a failed refresh: the next call tries again', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		let attempt = 0;
		secret('ya29.second-attempt');
		const helper = context.useRefreshHelper(async () => {
			attempt++;
			if (attempt === 1) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
			return { access_token: 'ya29.second-attempt', expires_in: 3599 };
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await caught(() => tokens.getAccessToken())).toBeInstanceOf(TokenEndpointUnavailableError);
		expect(await tokens.getAccessToken()).toBe('ya29.second-attempt');
		expect(helper).toHaveBeenCalledTimes(2);
	});
});

interface RecordedRequest {
	method?: string;
	url?: string;
	headers: http.IncomingHttpHeaders;
	form: URLSearchParams;
}

type Responder = (request: RecordedRequest) => { status: number; body?: unknown; contentType?: string } | 'hang';

/** A token endpoint on 127.0.0.1, for the direct refresh used when n8n has no refresh helper. */
async function startTokenServer(respond: Responder) {
	const requests: RecordedRequest[] = [];
	const server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const recorded = { method: req.method, url: req.url, headers: req.headers, form: new URLSearchParams(Buffer.concat(chunks).toString()) };
			requests.push(recorded);
			const answer = respond(recorded);
			if (answer === 'hang') return;
			res.writeHead(answer.status, { 'Content-Type': answer.contentType ?? 'application/json' });
			res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {}));
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}/oauth/token`,
		requests,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

function genericData(tokenUrl: string, tokenData: Record<string, unknown>, extra: Record<string, unknown> = {}) {
	return {
		email: 'user@example.test',
		clientId: 'n8n-client',
		clientSecret: CLIENT_SECRET,
		accessTokenUrl: tokenUrl,
		authentication: 'body',
		imapHost: '127.0.0.1',
		oauthTokenData: { refresh_token: REFRESH_TOKEN, ...tokenData },
		...extra,
	} as ICredentialDataDecryptedObject;
}

describe('two processes refreshing the same credential (queue mode)', () => {
	const reconnect = function (this: FakeContext): never {
		throw new NodeOperationError(this.getNode(), 'The credential "My Gmail" needs to be reconnected.', { failure: { cause: 'credential-invalid' } });
	};

	it('an invalid_grant while another process saved a new access token meanwhile: uses that token, no reconnect error', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		const otherToken = secret('ya29.saved-by-the-worker');
		context.useRefreshHelper(async function (this: FakeContext) {
			// The other process's refresh landed first and rotated the refresh token: ours is refused.
			this.stored = googleData({ access_token: otherToken, expires_in: 3599, n8n_expires_at: String(NOW + 3_600_000), refresh_token: secret('1//rotated-refresh') });
			reconnect.call(this);
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe(otherToken);
		expect(context.logs.some((entry) => /another process refreshed meanwhile/.test(entry.message))).toBe(true);
	});

	it('an invalid_grant after the refresh token was rotated elsewhere (no usable token saved): refreshes once more with the new one', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		const rotated = secret('1//rotated-refresh-2');
		let calls = 0;
		context.useRefreshHelper(async function (this: FakeContext) {
			calls++;
			if (calls === 1) {
				this.stored = googleData({ ...validStoredToken(0), refresh_token: rotated });
				reconnect.call(this);
			}
			expect((this.stored.oauthTokenData as { refresh_token: string }).refresh_token).toBe(rotated);
			return { access_token: 'ya29.fresh-after-rotation', expires_in: 3599, n8n_expires_at: String(NOW + 3_600_000) };
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe('ya29.fresh-after-rotation');
		expect(calls).toBe(2);
	});

	it('a grant really revoked still ends in the reconnect error, after one more read of the stored credential', async () => {
		const context = new FakeContext(googleData(validStoredToken(0)));
		const helper = context.useRefreshHelper(async function (this: FakeContext) {
			reconnect.call(this);
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		const before = context.getCredentialsCalls;
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
		expect(helper).toHaveBeenCalledTimes(1);
		// The renewal's read, the helper's own read, and one more read after the refusal.
		expect(context.getCredentialsCalls - before).toBe(3);
	});
});

describe('refreshing directly where n8n has no refresh helper', () => {
	let server: Awaited<ReturnType<typeof startTokenServer>> | undefined;
	afterEach(async () => {
		await server?.close();
		server = undefined;
	});

	it('sends the refresh_token grant with the client credentials in the body, and says it could not save the token', async () => {
		const fresh = jwt({ sub: 'user@example.test', exp: NOW / 1000 + 600, iat: NOW / 1000 });
		server = await startTokenServer(() => ({ status: 200, body: { access_token: fresh, token_type: 'Bearer', expires_in: 600 } }));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });

		expect(await tokens.getAccessToken()).toBe(fresh);
		expect(tokens.expiresAt()).toBe(NOW + 600_000);
		expect(server.requests).toHaveLength(1);
		const [request] = server.requests;
		expect(request.method).toBe('POST');
		expect(request.url).toBe('/oauth/token');
		expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
		expect(request.headers.authorization).toBeUndefined();
		expect(Object.fromEntries(request.form)).toEqual({
			grant_type: 'refresh_token',
			refresh_token: REFRESH_TOKEN,
			client_id: 'n8n-client',
			client_secret: CLIENT_SECRET,
		});
		const notice = context.logs.find((entry) => entry.level === 'debug' && /could not be saved/.test(entry.message));
		expect(notice?.message).toContain(`127.0.0.1:${new URL(server.url).port}`);
		expectNoSecretsInLogs(context);
	});

	it("uses a Basic header when the credential's authentication is 'header'", async () => {
		server = await startTokenServer(() => ({ status: 200, body: { access_token: secret('at-header'), expires_in: 600 } }));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }, { authentication: 'header' }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe('at-header');
		const [request] = server.requests;
		expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`n8n-client:${CLIENT_SECRET}`).toString('base64')}`);
		expect(request.form.get('client_secret')).toBeNull();
		expect(request.form.get('client_id')).toBeNull();
	});

	it('keeps a rotated refresh token in memory for the next refresh, since it cannot be saved', async () => {
		let issued = 0;
		server = await startTokenServer(() => {
			issued++;
			return { status: 200, body: { access_token: secret(`at-${issued}`), refresh_token: secret(`rt-rotated-${issued}`), expires_in: 600 } };
		});
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe('at-1');
		expect(await tokens.refresh('at-1')).toBe('at-2');
		expect(server.requests.map((request) => request.form.get('refresh_token'))).toEqual([REFRESH_TOKEN, 'rt-rotated-1']);
	});

	it('never goes back to a stored token the server has refused, though it cannot replace it in the credential', async () => {
		let issued = 0;
		server = await startTokenServer(() => {
			issued++;
			return { status: 200, body: { access_token: secret(`at-direct-${issued}`), expires_in: 600 } };
		});
		// The stored token looks valid for an hour, but the server refuses it.
		const context = new FakeContext(genericData(server.url, validStoredToken()));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		expect(await tokens.refresh(STORED_ACCESS_TOKEN)).toBe('at-direct-1');
		expect(await tokens.refresh('at-direct-1')).toBe('at-direct-2');
		expect(server.requests).toHaveLength(2);
	});

	it('shares one request among concurrent callers', async () => {
		server = await startTokenServer(() => ({ status: 200, body: { access_token: secret('at-shared'), expires_in: 600 } }));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		const results = await Promise.all(Array.from({ length: 8 }, () => tokens.getAccessToken()));
		expect(new Set(results)).toEqual(new Set(['at-shared']));
		expect(server.requests).toHaveLength(1);
	});

	it('maps a 400 invalid_grant to a reconnect error with the server\'s reason', async () => {
		server = await startTokenServer(() => ({
			status: 400,
			body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
		}));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
		expect(error.message).toBe(`${RECONNECT_MESSAGE}: Token has been expired or revoked.`);
		expect((error as CredentialReconnectRequiredError).description).toContain('"Local stack" (mailServerOAuth2Api)');
		expect((error as CredentialReconnectRequiredError).description).toMatch(/7 days/);
	});

	it('maps other OAuth errors to a refresh failure, redacting what the server echoes', async () => {
		server = await startTokenServer((request) => ({
			status: 401,
			body: { error: 'invalid_client', error_description: `unknown client for secret ${request.form.get('client_secret')}` },
		}));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(TokenRefreshFailedError);
		expect((error as TokenRefreshFailedError).description).toContain('HTTP 401 invalid_client: unknown client for secret [redacted]');
	});

	it.each([500, 503, 429])('treats HTTP %d as transient', async (status) => {
		server = await startTokenServer(() => ({ status, body: '<html>busy</html>', contentType: 'text/html' }));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
		expect((error as TokenEndpointUnavailableError).httpStatus).toBe(status);
	});

	it('reports a 200 answer without an access token as a failure', async () => {
		server = await startTokenServer(() => ({ status: 200, body: { token_type: 'Bearer' } }));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		expect(await caught(() => tokens.getAccessToken())).toBeInstanceOf(TokenRefreshFailedError);
	});

	it('accepts a form-encoded token answer', async () => {
		server = await startTokenServer(() => ({
			status: 200,
			body: `access_token=${secret('at-form')}&expires_in=600&token_type=bearer`,
			contentType: 'application/x-www-form-urlencoded',
		}));
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		expect(await tokens.getAccessToken()).toBe('at-form');
	});

	it('maps a refused connection to a transient error', async () => {
		const closed = await startTokenServer(() => ({ status: 200 }));
		const url = closed.url;
		await closed.close();
		const context = new FakeContext(genericData(url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
		expect((error as TokenEndpointUnavailableError).code).toBe('ECONNREFUSED');
	});

	it('gives up on a silent endpoint after the timeout, as a transient error', async () => {
		server = await startTokenServer(() => 'hang');
		const context = new FakeContext(genericData(server.url, { access_token: STORED_ACCESS_TOKEN }));
		const tokens = await createTokenSource(context, GENERIC, { now: () => NOW, directRefreshTimeoutMs: 200 });
		const error = await caught(() => tokens.getAccessToken());
		expect(error).toBeInstanceOf(TokenEndpointUnavailableError);
		expect((error as TokenEndpointUnavailableError).code).toBe('ETIMEDOUT');
	});
});

describe('withTokenRetry', () => {
	const challenge = { status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' };

	async function setup() {
		const context = new FakeContext(googleData(validStoredToken()));
		let issued = 0;
		const helper = context.useRefreshHelper(async function (this: FakeContext) {
			issued++;
			const tokenData = { access_token: secret(`ya29.retry-${issued}`), expires_in: 3599, n8n_expires_at: String(NOW + 3_599_000) };
			this.stored = { ...this.stored, oauthTokenData: { ...(this.stored.oauthTokenData as object), ...tokenData } };
			return tokenData;
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });
		return { context, helper, tokens };
	}

	it('logs in with the current token when the server accepts it', async () => {
		const { helper, tokens } = await setup();
		const login = jest.fn(async (token: string) => `session for ${token.length}`);
		expect(await withTokenRetry(tokens, login)).toBe(`session for ${STORED_ACCESS_TOKEN.length}`);
		expect(login).toHaveBeenCalledTimes(1);
		expect(helper).not.toHaveBeenCalled();
	});

	it('refreshes once and retries once after the server refuses the token', async () => {
		const { helper, tokens } = await setup();
		const login = jest.fn(async (token: string) => {
			if (token === STORED_ACCESS_TOKEN) throw new TokenRejectedError('imap', { challenge });
			return 'session';
		});
		expect(await withTokenRetry(tokens, login)).toBe('session');
		expect(login.mock.calls.map(([token]) => token)).toEqual([STORED_ACCESS_TOKEN, 'ya29.retry-1']);
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('turns a second refusal into a clear error with the decoded server reason', async () => {
		const { helper, tokens } = await setup();
		const login = jest.fn(async (token: string) => {
			throw new TokenRejectedError('smtp', {
				challenge,
				// A server (or library) that echoes the SASL exchange must not get the token into our error.
				serverText: `535-5.7.8 Username and Password not accepted; AUTH XOAUTH2 ${Buffer.from(`user=me@gmail.com\x01auth=Bearer ${token}\x01\x01`).toString('base64')}`,
			});
		});
		const error = await caught(() => withTokenRetry(tokens, login));
		expect(error).toBeInstanceOf(AccessTokenRejectedError);
		expect(error.message).toBe(
			'The SMTP server refused a freshly refreshed access token: the server answered status 400 (scope "https://mail.google.com/") ' +
				'(535-5.7.8 Username and Password not accepted; AUTH XOAUTH2 [redacted])',
		);
		expect((error as AccessTokenRejectedError).description).toContain('"me@gmail.com"');
		expect(login).toHaveBeenCalledTimes(2);
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('passes other errors through without refreshing', async () => {
		const { helper, tokens } = await setup();
		const failure = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:993'), { code: 'ECONNREFUSED' });
		await expect(withTokenRetry(tokens, async () => Promise.reject(failure))).rejects.toBe(failure);
		expect(helper).not.toHaveBeenCalled();
	});

	it('passes on a non-token error from the retry as is', async () => {
		const { tokens } = await setup();
		const failure = new Error('mailbox gone');
		let call = 0;
		await expect(
			withTokenRetry(tokens, async () => {
				call++;
				if (call === 1) throw new TokenRejectedError('pop3');
				throw failure;
			}),
		).rejects.toBe(failure);
	});

	it('lets several connections refused at once share one refresh', async () => {
		const { helper, tokens } = await setup();
		const login = async (token: string) => {
			if (token === STORED_ACCESS_TOKEN) throw new TokenRejectedError('imap', { challenge });
			return token;
		};
		const sessions = await Promise.all(Array.from({ length: 5 }, () => withTokenRetry(tokens, login)));
		expect(sessions).toEqual(Array(5).fill('ya29.retry-1'));
		expect(helper).toHaveBeenCalledTimes(1);
	});

	it('surfaces a reconnect error from the forced refresh', async () => {
		const { context, tokens } = await setup();
		context.useRefreshHelper(async function (this: FakeContext) {
			throw new NodeOperationError(this.getNode(), 'The credential "My Gmail" needs to be reconnected.');
		});
		const error = await caught(() =>
			withTokenRetry(tokens, async () => {
				throw new TokenRejectedError('imap', { challenge });
			}),
		);
		expect(error).toBeInstanceOf(CredentialReconnectRequiredError);
	});
});

describe('the token source never exposes secrets', () => {
	it('redacts its own secrets on request', async () => {
		const context = new FakeContext(googleData(validStoredToken()));
		const tokens: TokenSource = await createTokenSource(context, GOOGLE, { now: () => NOW });
		expect(tokens.redact(`a ${STORED_ACCESS_TOKEN} b ${REFRESH_TOKEN} c ${CLIENT_SECRET}`)).toBe(
			'a [redacted] b [redacted] c [redacted]',
		);
	});
});

describe('what the token source remembers for redaction stays bounded', () => {
	/** Opaque values (no JWT, no ya29.): only the remembered list can redact them, the patterns cannot. */
	const access = (n: number) => `opaque-access-${String(n).padStart(4, '0')}-QQQQQQQQ`;
	const refresh = (n: number) => `opaque-refresh-${String(n).padStart(4, '0')}-RRRRRRRR`;
	const remembered = (tokens: TokenSource) => (tokens as unknown as { knownSecrets(): string[] }).knownSecrets();

	it('after 1,000 refreshes through n8n (each rotating the refresh token) keeps a handful of values, the current and previous ones redacted', async () => {
		let issued = 0;
		const context = new FakeContext(
			googleData({ access_token: access(0), refresh_token: refresh(0), expires_in: 3599, n8n_expires_at: String(NOW + 3_600_000) }),
		);
		const failure: { message?: string } = {};
		context.useRefreshHelper(async function (this: FakeContext) {
			if (failure.message) throw new Error(failure.message);
			issued++;
			const tokenData = {
				...(this.stored.oauthTokenData as Record<string, unknown>),
				access_token: access(issued),
				refresh_token: refresh(issued),
				expires_in: 3599,
				n8n_expires_at: String(NOW + 3_600_000),
			};
			this.stored = { ...this.stored, oauthTokenData: tokenData };
			return tokenData;
		});
		const tokens = await createTokenSource(context, GOOGLE, { now: () => NOW });

		for (let n = 1; n <= 1000; n++) {
			// A refusal of the current token forces a real refresh each time (as a long-running trigger sees over months).
			expect(await tokens.refresh(access(n - 1))).toBe(access(n));
		}
		expect(issued).toBe(1000);
		// A token no connection uses any more is forgotten (the old code kept all 1,000 and redacted this one too).
		expect(tokens.redact(`old ${access(500)}`)).toBe(`old ${access(500)}`);

		const known = remembered(tokens);
		expect(known.length).toBeLessThanOrEqual(9);
		expect(known).toEqual(expect.arrayContaining([CLIENT_SECRET, access(1000), access(999), refresh(1000), refresh(999)]));
		// Tokens no connection uses any more are forgotten: nothing old is kept.
		expect(known).not.toContain(access(998));
		expect(known).not.toContain(access(1));

		expect(tokens.redact(`now ${access(1000)} before ${access(999)} refresh ${refresh(1000)} secret ${CLIENT_SECRET}`)).toBe(
			'now [redacted] before [redacted] refresh [redacted] secret [redacted]',
		);
		// An error text that echoes them (an upstream library dumping its request) reaches the user redacted.
		failure.message = `token endpoint said no to ${refresh(1000)} while ${access(1000)} and ${access(999)} were in use`;
		const error = await caught(() => tokens.refresh(access(1000)));
		expect(error).toBeInstanceOf(TokenRefreshFailedError);
		const description = String((error as Error & { description?: unknown }).description);
		for (const value of [refresh(1000), access(1000), access(999)]) {
			expect(error.message).not.toContain(value);
			expect(description).not.toContain(value);
		}
		expect(description).toContain('token endpoint said no to [redacted] while [redacted] and [redacted] were in use');
	});

	it('after 1,000 direct refreshes (n8n without the helper, the rotated refresh token kept in memory) stays bounded too', async () => {
		let issued = 0;
		const server = await startTokenServer(() => {
			issued++;
			return { status: 200, body: { access_token: access(issued), refresh_token: refresh(issued), expires_in: 600 } };
		});
		try {
			// The stored token stays what it was: a direct refresh cannot save, so every read brings back access(0).
			const context = new FakeContext(genericData(server.url, { access_token: access(0), refresh_token: refresh(0) }));
			const tokens = await createTokenSource(context, GENERIC, { now: () => NOW });
			for (let n = 1; n <= 1000; n++) expect(await tokens.refresh(n === 1 ? access(0) : access(n - 1))).toBe(access(n));
			expect(server.requests.at(-1)?.form.get('refresh_token')).toBe(refresh(999));

			const known = remembered(tokens);
			expect(known.length).toBeLessThanOrEqual(9);
			// Current and previous access token, the stored one, the refresh token in use and the one it replaced.
			expect(known).toEqual(expect.arrayContaining([access(1000), access(999), access(0), refresh(1000), refresh(999), refresh(0)]));
			expect(known).not.toContain(access(998));
			expect(tokens.redact(`${access(1000)} ${access(999)}`)).toBe('[redacted] [redacted]');
		} finally {
			await server.close();
		}
	});
});
