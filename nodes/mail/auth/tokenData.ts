/**
 * Token data as n8n stores it (expiry from `n8n_expires_at`, the JWT `exp` or `expires_in`), the small bounded list of
 * recent values the token source redacts, and the helpers it reads credential fields with. Pure: no I/O.
 */
/** Network failures worth retrying: the endpoint was not reached or did not answer. */
export const TRANSIENT_NETWORK_CODES = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'ECONNABORTED',
	'ETIMEDOUT',
	'ESOCKETTIMEDOUT',
	'EHOSTUNREACH',
	'EHOSTDOWN',
	'ENETUNREACH',
	'ENETDOWN',
	'ENOTFOUND',
	'EAI_AGAIN',
	'EPIPE',
	'ERR_NETWORK',
	'ERR_SOCKET_CONNECTION_TIMEOUT',
	'UND_ERR_CONNECT_TIMEOUT',
	'UND_ERR_SOCKET',
]);

export interface TokenState {
	accessToken: string;
	expiresAt?: number;
	lifetimeMs?: number;
	obtainedAt: number;
	/** 'stored' = read from the credential as found; 'refreshed' = obtained by a refresh in this process. */
	origin: 'stored' | 'refreshed';
}

/** The last `limit` distinct values, newest last; adding one already present makes it the newest. */
export class RecentValues {
	private readonly items: string[] = [];

	constructor(private readonly limit: number) {}

	add(value: string): void {
		const index = this.items.indexOf(value);
		if (index !== -1) this.items.splice(index, 1);
		this.items.push(value);
		if (this.items.length > this.limit) this.items.splice(0, this.items.length - this.limit);
	}

	/** Makes a value the newest if present; does nothing otherwise. */
	touch(value: string): void {
		if (this.items.includes(value)) this.add(value);
	}

	has(value: string): boolean {
		return this.items.includes(value);
	}

	values(): readonly string[] {
		return this.items;
	}
}

/**
 * Reads n8n's token data. Expiry: `n8n_expires_at` (epoch ms, a string in n8n's data), else the JWT `exp`, else —
 * only for a token just obtained by a refresh — now + `expires_in`.
 */
export function parseTokenData(
	raw: unknown,
	now: number,
	origin: TokenState['origin'],
): TokenState | undefined {
	const data = asRecord(raw);
	const accessToken = stringField(data, 'access_token');
	if (!data || !accessToken) return undefined;

	const expiresInSeconds = positiveNumber(data.expires_in);
	const jwt = readJwtTimes(accessToken);
	let expiresAt = positiveNumber(data.n8n_expires_at) ?? jwt.expiresAt;
	if (expiresAt === undefined && origin === 'refreshed' && expiresInSeconds !== undefined) {
		expiresAt = now + expiresInSeconds * 1000;
	}
	const lifetimeMs =
		expiresInSeconds !== undefined
			? expiresInSeconds * 1000
			: jwt.expiresAt !== undefined && jwt.issuedAt !== undefined
				? jwt.expiresAt - jwt.issuedAt
				: undefined;
	return { accessToken, expiresAt, lifetimeMs: lifetimeMs && lifetimeMs > 0 ? lifetimeMs : undefined, obtainedAt: now, origin };
}

/** `exp` and `iat` of a JWT access token, in epoch ms; empty for opaque tokens (e.g. Google's ya29.*). */
export function readJwtTimes(token: string): { expiresAt?: number; issuedAt?: number } {
	const parts = token.split('.');
	if (parts.length !== 3 || !parts[1]) return {};
	try {
		const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
		const claims = asRecord(payload);
		if (!claims) return {};
		const exp = positiveNumber(claims.exp);
		const iat = positiveNumber(claims.iat);
		return { expiresAt: exp !== undefined ? exp * 1000 : undefined, issuedAt: iat !== undefined ? iat * 1000 : undefined };
	} catch {
		return {};
	}
}

export function isTransientStatus(status: number): boolean {
	return status >= 500 || status === 429 || status === 408;
}

export function endpointLabel(tokenUrl: string | undefined): string {
	if (!tokenUrl) return 'token URL';
	try {
		return new URL(tokenUrl).host || 'token URL';
	} catch {
		return 'token URL';
	}
}

export function expiryNote(token: TokenState, now: number): string {
	return token.expiresAt === undefined ? ' (expiry unknown)' : ` (valid for ${Math.round((token.expiresAt - now) / 1000)} s)`;
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
	return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function stringField(record: Readonly<Record<string, unknown>> | undefined, key: string): string | undefined {
	const value = record?.[key];
	return typeof value === 'string' && value !== '' ? value : undefined;
}

export function positiveNumber(value: unknown): number | undefined {
	const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
	return typeof number === 'number' && Number.isFinite(number) && number > 0 ? number : undefined;
}
