/**
 * A purpose-built OAuth2 authorization server for the test mail stack (node:http + node:crypto only).
 *
 * It behaves like Google's where the package depends on it: RS256 JWT access tokens with a chosen lifetime, the
 * authorization_code grant behind an auto-approving /authorize (so n8n's "Connect" button works headless), the
 * refresh_token grant without rotation (Google keeps the refresh token), revocation, and
 * `400 {"error":"invalid_grant"}` for revoked or unknown refresh tokens. Tests steer it through /admin/* (lifetimes,
 * injected failures, outages) and read what it served, so they can assert "exactly one refresh happened".
 *
 * All state lives in a JSON file in the stack's directory, so restarting the server (same directory) keeps refresh
 * tokens valid and the signing key stable.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { keyIdFor, signJwt } from './jwt';

export interface TokenServerConfig {
	/** Port to listen on (127.0.0.1); 0 picks one. */
	port: number;
	/** The `iss` claim; Dovecot's `issuers` setting must name the same string. */
	issuer: string;
	clientId: string;
	clientSecret: string;
	/** Shared secret for /admin/* (header `x-stack-admin-key`), so only the stack's own helpers steer the server. */
	adminKey: string;
	privateKeyFile: string;
	stateFile: string;
	/** Scope granted when a request names none (Google's mail scope, which the nodes request). */
	defaultScope: string;
}

export interface TokenServerSettings {
	/** Lifetime of access tokens issued for refresh tokens that have no lifetime of their own. */
	accessTokenLifetimeSeconds: number;
	/** Account that /authorize approves when the request has no `login_hint`. */
	defaultUser: string;
	/** Google never rotates refresh tokens; some providers do. */
	rotateRefreshTokens: boolean;
	/** `deny` makes /authorize redirect with `error=access_denied`, as when a user clicks "Cancel". */
	authorizeDecision: 'approve' | 'deny';
	/** Added before every /token response (a slow provider). */
	tokenResponseDelayMs: number;
}

/** The next `remaining` /token requests get this answer instead of being processed. */
export interface InjectedFailure {
	remaining: number;
	status: number;
	body: Record<string, string>;
}

export interface TokenRequestRecord {
	/** Epoch milliseconds. */
	at: number;
	grantType: string;
	/** The account the request was for, when the server could tell (never the token itself). */
	user?: string;
	status: number;
	error?: string;
}

export interface TokenSet {
	access_token: string;
	token_type: 'Bearer';
	expires_in: number;
	scope: string;
	refresh_token?: string;
}

interface RefreshTokenRecord {
	user: string;
	scope: string;
	clientId: string;
	createdAt: number;
	revoked: boolean;
	accessTokenLifetimeSeconds?: number;
}

interface AuthorizationCodeRecord {
	user: string;
	scope: string;
	clientId: string;
	redirectUri: string;
	codeChallenge?: string;
	codeChallengeMethod?: string;
	expiresAt: number;
	used: boolean;
}

interface PersistentState {
	settings: TokenServerSettings;
	/** Keyed by sha256 of the refresh token: the state file never holds a usable token. */
	refreshTokens: Record<string, RefreshTokenRecord>;
	codes: Record<string, AuthorizationCodeRecord>;
	requests: TokenRequestRecord[];
	failure?: InjectedFailure;
}

const DEFAULT_SETTINGS: TokenServerSettings = {
	accessTokenLifetimeSeconds: 3599,
	defaultUser: 'demo@example.test',
	rotateRefreshTokens: false,
	authorizeDecision: 'approve',
	tokenResponseDelayMs: 0,
};

const CODE_LIFETIME_MS = 10 * 60 * 1000;
const MAX_BODY_BYTES = 64 * 1024;

class HttpError extends Error {
	constructor(
		readonly status: number,
		readonly body: Record<string, string>,
	) {
		super(body.error_description ?? body.error ?? `HTTP ${status}`);
	}
}

function sha256(text: string): string {
	return crypto.createHash('sha256').update(text).digest('hex');
}

function randomToken(prefix: string, bytes = 32): string {
	return `${prefix}${crypto.randomBytes(bytes).toString('base64url')}`;
}

function readBody(request: http.IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		request.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (size > MAX_BODY_BYTES) {
				reject(new HttpError(413, { error: 'invalid_request', error_description: 'Request body too large' }));
				request.destroy();
				return;
			}
			chunks.push(chunk);
		});
		request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		request.on('error', reject);
	});
}

/** Form-encoded (what OAuth clients send) or JSON (what the admin helpers send), as string fields. */
function parseParams(body: string, contentType: string | undefined): Record<string, string> {
	if (!body) return {};
	if (contentType?.includes('application/json')) {
		const parsed: unknown = JSON.parse(body);
		if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
			throw new HttpError(400, { error: 'invalid_request', error_description: 'JSON body must be an object' });
		}
		const result: Record<string, string> = {};
		for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
			if (value === undefined || value === null) continue;
			result[key] = typeof value === 'string' ? value : JSON.stringify(value);
		}
		return result;
	}
	return Object.fromEntries(new URLSearchParams(body));
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
	const text = JSON.stringify(body);
	response.writeHead(status, {
		'Content-Type': 'application/json; charset=utf-8',
		'Content-Length': Buffer.byteLength(text),
		'Cache-Control': 'no-store',
		Pragma: 'no-cache',
	});
	response.end(text);
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

export class TokenServer {
	private readonly server: http.Server;
	private readonly privateKeyPem: string;
	private readonly publicKeyPem: string;
	private readonly keyId: string;
	private state: PersistentState;
	private listeningPort = 0;
	private outageTimer?: NodeJS.Timeout;

	constructor(
		private readonly config: TokenServerConfig,
		private readonly log: (line: string) => void = () => undefined,
	) {
		this.privateKeyPem = fs.readFileSync(config.privateKeyFile, 'utf8');
		this.publicKeyPem = crypto.createPublicKey(this.privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
		this.keyId = keyIdFor(this.publicKeyPem);
		this.state = this.loadState();
		this.server = http.createServer((request, response) => {
			this.handle(request, response).catch((error: unknown) => {
				const status = error instanceof HttpError ? error.status : 500;
				const body = error instanceof HttpError ? error.body : { error: 'server_error', error_description: String(error) };
				if (!response.headersSent) sendJson(response, status, body);
				else response.destroy();
			});
		});
		// Keep-alive sockets would survive a simulated outage and make it leak; one request per connection is plenty here.
		this.server.keepAliveTimeout = 1;
	}

	get port(): number {
		return this.listeningPort;
	}

	listen(): Promise<number> {
		return new Promise((resolve, reject) => {
			const onError = (error: Error): void => reject(error);
			this.server.once('error', onError);
			this.server.listen(this.listeningPort || this.config.port, '127.0.0.1', () => {
				this.server.off('error', onError);
				const address = this.server.address();
				if (address && typeof address === 'object') this.listeningPort = address.port;
				resolve(this.listeningPort);
			});
		});
	}

	close(): Promise<void> {
		if (this.outageTimer) clearTimeout(this.outageTimer);
		return new Promise((resolve) => {
			this.server.close(() => resolve());
			this.server.closeAllConnections();
		});
	}

	/** Issues tokens directly (test set-up, not counted as a token request). */
	issue(user: string, options: { lifetimeSeconds?: number; scope?: string } = {}): TokenSet {
		const refreshToken = randomToken('1//rt-');
		const record: RefreshTokenRecord = {
			user,
			scope: options.scope ?? this.config.defaultScope,
			clientId: this.config.clientId,
			createdAt: Date.now(),
			revoked: false,
			accessTokenLifetimeSeconds: options.lifetimeSeconds,
		};
		this.state.refreshTokens[sha256(refreshToken)] = record;
		this.saveState();
		return { ...this.accessTokenFor(record), refresh_token: refreshToken };
	}

	private loadState(): PersistentState {
		if (fs.existsSync(this.config.stateFile)) {
			const saved = JSON.parse(fs.readFileSync(this.config.stateFile, 'utf8')) as PersistentState;
			return { ...saved, settings: { ...DEFAULT_SETTINGS, ...saved.settings } };
		}
		return { settings: { ...DEFAULT_SETTINGS }, refreshTokens: {}, codes: {}, requests: [] };
	}

	private saveState(): void {
		const temporary = `${this.config.stateFile}.${process.pid}.tmp`;
		fs.writeFileSync(temporary, JSON.stringify(this.state), { mode: 0o600 });
		fs.renameSync(temporary, this.config.stateFile);
	}

	private accessTokenFor(record: RefreshTokenRecord): TokenSet {
		const lifetime = record.accessTokenLifetimeSeconds ?? this.state.settings.accessTokenLifetimeSeconds;
		const issuedAt = Math.floor(Date.now() / 1000);
		// Strings and numbers only, eight claims: see JwtClaims for the Dovecot crash this avoids.
		const accessToken = signJwt(
			{
				iss: this.config.issuer,
				sub: record.user,
				aud: record.clientId,
				email: record.user,
				scope: record.scope,
				iat: issuedAt,
				exp: issuedAt + lifetime,
				jti: crypto.randomBytes(9).toString('base64url'),
			},
			this.privateKeyPem,
			this.keyId,
		);
		return { access_token: accessToken, token_type: 'Bearer', expires_in: lifetime, scope: record.scope };
	}

	private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
		const url = new URL(request.url ?? '/', `http://127.0.0.1:${this.listeningPort}`);
		const method = request.method ?? 'GET';
		const route = `${method} ${url.pathname}`;
		// Only the path: query strings can carry codes or tokens (GET /revoke?token=...).
		response.on('finish', () => this.log(`${route} -> ${response.statusCode}`));

		if (url.pathname.startsWith('/admin/')) {
			this.checkAdmin(request);
			const params = parseParams(await readBody(request), request.headers['content-type']);
			sendJson(response, 200, this.admin(url.pathname, params));
			return;
		}
		switch (route) {
			case 'GET /authorize':
				this.authorize(url.searchParams, response);
				return;
			case 'POST /token':
				await this.token(request, response);
				return;
			case 'GET /revoke':
			case 'POST /revoke': {
				const params = { ...Object.fromEntries(url.searchParams), ...parseParams(await readBody(request), request.headers['content-type']) };
				this.revoke(params.token, response);
				return;
			}
			case 'GET /jwks':
				sendJson(response, 200, {
					keys: [{ ...crypto.createPublicKey(this.publicKeyPem).export({ format: 'jwk' }), kid: this.keyId, alg: 'RS256', use: 'sig' }],
				});
				return;
			case 'GET /.well-known/openid-configuration': {
				const base = this.config.issuer;
				sendJson(response, 200, {
					issuer: base,
					authorization_endpoint: `${base}/authorize`,
					token_endpoint: `${base}/token`,
					revocation_endpoint: `${base}/revoke`,
					jwks_uri: `${base}/jwks`,
					grant_types_supported: ['authorization_code', 'refresh_token'],
					code_challenge_methods_supported: ['S256', 'plain'],
				});
				return;
			}
			case 'GET /health':
				sendJson(response, 200, { ok: true });
				return;
			default:
				sendJson(response, 404, { error: 'not_found' });
		}
	}

	private checkAdmin(request: http.IncomingMessage): void {
		const given = Buffer.from(String(request.headers['x-stack-admin-key'] ?? ''));
		const expected = Buffer.from(this.config.adminKey);
		if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
			throw new HttpError(403, { error: 'forbidden', error_description: 'admin key missing or wrong' });
		}
	}

	private admin(pathname: string, params: Record<string, string>): unknown {
		switch (pathname) {
			case '/admin/state':
				return { settings: this.state.settings, requests: this.state.requests, failure: this.state.failure ?? null };
			case '/admin/settings': {
				const settings = { ...this.state.settings };
				if (params.accessTokenLifetimeSeconds !== undefined) {
					settings.accessTokenLifetimeSeconds = this.positiveInteger(params.accessTokenLifetimeSeconds, 'accessTokenLifetimeSeconds');
				}
				if (params.defaultUser !== undefined) settings.defaultUser = params.defaultUser;
				if (params.rotateRefreshTokens !== undefined) settings.rotateRefreshTokens = params.rotateRefreshTokens === 'true';
				if (params.authorizeDecision === 'approve' || params.authorizeDecision === 'deny') settings.authorizeDecision = params.authorizeDecision;
				if (params.tokenResponseDelayMs !== undefined) settings.tokenResponseDelayMs = Math.max(0, Number(params.tokenResponseDelayMs) || 0);
				this.state.settings = settings;
				this.saveState();
				return { settings };
			}
			case '/admin/issue': {
				if (!params.user) throw new HttpError(400, { error: 'invalid_request', error_description: 'user is required' });
				const lifetimeSeconds = params.lifetimeSeconds === undefined ? undefined : this.positiveInteger(params.lifetimeSeconds, 'lifetimeSeconds');
				return this.issue(params.user, { lifetimeSeconds, scope: params.scope });
			}
			case '/admin/refresh-token-lifetime': {
				const record = this.refreshRecord(params.refreshToken);
				if (!record) throw new HttpError(404, { error: 'not_found', error_description: 'unknown refresh token' });
				record.accessTokenLifetimeSeconds = this.positiveInteger(params.lifetimeSeconds, 'lifetimeSeconds');
				this.saveState();
				return { ok: true };
			}
			case '/admin/revoke': {
				const record = this.refreshRecord(params.refreshToken);
				if (!record) throw new HttpError(404, { error: 'not_found', error_description: 'unknown refresh token' });
				record.revoked = true;
				this.saveState();
				return { ok: true };
			}
			case '/admin/fail': {
				const remaining = this.positiveInteger(params.count ?? '1', 'count');
				const status = this.positiveInteger(params.status ?? '503', 'status');
				const body = params.body ? (JSON.parse(params.body) as Record<string, string>) : { error: 'temporarily_unavailable' };
				this.state.failure = { remaining, status, body };
				this.saveState();
				return { failure: this.state.failure };
			}
			case '/admin/outage': {
				const milliseconds = this.positiveInteger(params.milliseconds, 'milliseconds');
				// Answer first, then stop listening: clients see ECONNREFUSED until the server listens again.
				setImmediate(() => this.simulateOutage(milliseconds));
				return { ok: true, until: Date.now() + milliseconds };
			}
			default:
				throw new HttpError(404, { error: 'not_found' });
		}
	}

	private simulateOutage(milliseconds: number): void {
		this.server.close();
		this.server.closeAllConnections();
		this.log(`outage for ${milliseconds} ms`);
		this.outageTimer = setTimeout(() => {
			this.outageTimer = undefined;
			this.listen().catch((error: unknown) => this.log(`could not listen again after the outage: ${String(error)}`));
		}, milliseconds);
	}

	private positiveInteger(value: string | undefined, name: string): number {
		const number = Number(value);
		if (!Number.isInteger(number) || number <= 0) {
			throw new HttpError(400, { error: 'invalid_request', error_description: `${name} must be a positive integer` });
		}
		return number;
	}

	private refreshRecord(refreshToken: string | undefined): RefreshTokenRecord | undefined {
		return refreshToken ? this.state.refreshTokens[sha256(refreshToken)] : undefined;
	}

	private authorize(query: URLSearchParams, response: http.ServerResponse): void {
		const clientId = query.get('client_id');
		const redirectUri = query.get('redirect_uri');
		// Never redirect for an unknown client or a missing redirect_uri: that is how real servers avoid open redirects.
		if (clientId !== this.config.clientId) throw new HttpError(400, { error: 'invalid_client', error_description: 'unknown client_id' });
		if (!redirectUri) throw new HttpError(400, { error: 'invalid_request', error_description: 'redirect_uri is required' });
		let target: URL;
		try {
			target = new URL(redirectUri);
		} catch {
			throw new HttpError(400, { error: 'invalid_request', error_description: 'redirect_uri is not a URL' });
		}
		const state = query.get('state');
		if (state !== null) target.searchParams.set('state', state);
		if (query.get('response_type') !== 'code') {
			target.searchParams.set('error', 'unsupported_response_type');
		} else if (this.state.settings.authorizeDecision === 'deny') {
			target.searchParams.set('error', 'access_denied');
		} else {
			const code = randomToken('4/code-', 24);
			this.state.codes[sha256(code)] = {
				user: query.get('login_hint') || this.state.settings.defaultUser,
				scope: query.get('scope') || this.config.defaultScope,
				clientId,
				redirectUri,
				codeChallenge: query.get('code_challenge') ?? undefined,
				codeChallengeMethod: query.get('code_challenge_method') ?? undefined,
				expiresAt: Date.now() + CODE_LIFETIME_MS,
				used: false,
			};
			this.saveState();
			target.searchParams.set('code', code);
		}
		response.writeHead(302, { Location: target.toString(), 'Cache-Control': 'no-store' });
		response.end();
	}

	/** Client credentials from HTTP Basic (RFC 6749 says form-encode each part first; some clients do not) or the body. */
	private clientFrom(request: http.IncomingMessage, params: Record<string, string>): { id?: string; secret?: string } {
		const header = request.headers.authorization;
		if (header?.startsWith('Basic ')) {
			const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
			const separator = decoded.indexOf(':');
			if (separator >= 0) {
				const unescape = (text: string): string => {
					try {
						return decodeURIComponent(text.replace(/\+/g, ' '));
					} catch {
						return text;
					}
				};
				return { id: unescape(decoded.slice(0, separator)), secret: unescape(decoded.slice(separator + 1)) };
			}
		}
		return { id: params.client_id, secret: params.client_secret };
	}

	private async token(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
		const params = parseParams(await readBody(request), request.headers['content-type']);
		const record: TokenRequestRecord = { at: Date.now(), grantType: params.grant_type ?? '(none)', status: 0 };
		this.state.requests.push(record);
		const finish = (status: number, body: unknown): void => {
			record.status = status;
			if (status >= 400 && body && typeof body === 'object' && 'error' in body) record.error = String(body.error);
			this.saveState();
			sendJson(response, status, body);
		};
		if (this.state.settings.tokenResponseDelayMs > 0) await sleep(this.state.settings.tokenResponseDelayMs);
		try {
			const failure = this.state.failure;
			if (failure && failure.remaining > 0) {
				failure.remaining -= 1;
				if (failure.remaining === 0) this.state.failure = undefined;
				finish(failure.status, failure.body);
				return;
			}
			const client = this.clientFrom(request, params);
			if (client.id !== this.config.clientId || client.secret !== this.config.clientSecret) {
				throw new HttpError(401, { error: 'invalid_client', error_description: 'Unauthorized' });
			}
			if (params.grant_type === 'authorization_code') {
				const code = params.code ? this.state.codes[sha256(params.code)] : undefined;
				if (code) record.user = code.user;
				if (!code || code.used || code.expiresAt < Date.now() || code.clientId !== client.id) {
					throw new HttpError(400, { error: 'invalid_grant', error_description: 'Malformed auth code.' });
				}
				if (params.redirect_uri !== code.redirectUri) {
					throw new HttpError(400, { error: 'redirect_uri_mismatch', error_description: 'Bad Request' });
				}
				if (code.codeChallenge) this.checkPkce(code, params.code_verifier);
				code.used = true;
				const refreshToken = randomToken('1//rt-');
				const refreshRecord: RefreshTokenRecord = { user: code.user, scope: code.scope, clientId: code.clientId, createdAt: Date.now(), revoked: false };
				this.state.refreshTokens[sha256(refreshToken)] = refreshRecord;
				finish(200, { ...this.accessTokenFor(refreshRecord), refresh_token: refreshToken });
				return;
			}
			if (params.grant_type === 'refresh_token') {
				const refreshRecord = this.refreshRecord(params.refresh_token);
				if (refreshRecord) record.user = refreshRecord.user;
				if (!refreshRecord || refreshRecord.revoked || refreshRecord.clientId !== client.id) {
					// Google's exact wording for revoked and expired refresh tokens.
					throw new HttpError(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
				}
				const tokens: TokenSet = this.accessTokenFor(refreshRecord);
				if (this.state.settings.rotateRefreshTokens) {
					refreshRecord.revoked = true;
					const rotated = randomToken('1//rt-');
					this.state.refreshTokens[sha256(rotated)] = { ...refreshRecord, revoked: false, createdAt: Date.now() };
					tokens.refresh_token = rotated;
				}
				finish(200, tokens);
				return;
			}
			throw new HttpError(400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${params.grant_type ?? ''}` });
		} catch (error) {
			if (error instanceof HttpError) finish(error.status, error.body);
			else throw error;
		}
	}

	private checkPkce(code: AuthorizationCodeRecord, verifier: string | undefined): void {
		if (!verifier) throw new HttpError(400, { error: 'invalid_grant', error_description: 'Missing code verifier.' });
		const computed = code.codeChallengeMethod === 'S256' ? crypto.createHash('sha256').update(verifier).digest('base64url') : verifier;
		if (computed !== code.codeChallenge) throw new HttpError(400, { error: 'invalid_grant', error_description: 'Invalid code verifier.' });
	}

	private revoke(token: string | undefined, response: http.ServerResponse): void {
		const record = this.refreshRecord(token);
		if (!record) {
			sendJson(response, 400, { error: 'invalid_token', error_description: 'Token expired or revoked' });
			return;
		}
		record.revoked = true;
		this.saveState();
		sendJson(response, 200, {});
	}
}

/** Paths inside the stack directory that belong to the token server. */
export function tokenServerPaths(stackDir: string): { configFile: string; stateFile: string; privateKeyFile: string; keysDir: string } {
	const oauthDir = path.join(stackDir, 'oauth');
	return {
		configFile: path.join(oauthDir, 'config.json'),
		stateFile: path.join(oauthDir, 'state.json'),
		privateKeyFile: path.join(oauthDir, 'signing-key.pem'),
		// Dovecot looks public keys up as <prefix>/<azp or "default">/<alg>/<kid>.
		keysDir: path.join(oauthDir, 'keys'),
	};
}
