/**
 * RS256 JSON Web Tokens with node:crypto, just enough for access tokens that Dovecot validates locally.
 */
import * as crypto from 'node:crypto';

/**
 * Claim values are strings or numbers only. Dovecot 2.3.19's local JWT validation crashes (SIGSEGV in the auth
 * process) on some tokens with array claims such as `amr: ["pwd"]`, so the type system keeps arrays out.
 */
export type JwtClaims = Record<string, string | number>;

function base64url(data: Buffer | string): string {
	return Buffer.from(data).toString('base64url');
}

/** A key id that changes whenever the key changes: Dovecot caches public keys per kid for the auth process's life. */
export function keyIdFor(publicKeyPem: string): string {
	const der = crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
	return crypto.createHash('sha256').update(der).digest('hex').slice(0, 16);
}

export function signJwt(claims: JwtClaims, privateKeyPem: string, keyId: string): string {
	const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: keyId }));
	const payload = base64url(JSON.stringify(claims));
	const signature = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), privateKeyPem);
	return `${header}.${payload}.${base64url(signature)}`;
}

/** Payload of a JWT without verifying it (tests read `exp` and `email` from tokens they were handed). */
export function decodeJwtPayload(token: string): Record<string, unknown> {
	const parts = token.split('.');
	if (parts.length !== 3) throw new Error('not a JWT: expected three dot-separated parts');
	const parsed: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
	if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('JWT payload is not an object');
	return parsed as Record<string, unknown>;
}

/** Verifies signature and expiry; used by the token server's own tests of what it issues. */
export function verifyJwt(token: string, publicKeyPem: string, nowSeconds = Math.floor(Date.now() / 1000)): Record<string, unknown> {
	const [header, payload, signature] = token.split('.');
	if (!header || !payload || !signature) throw new Error('not a JWT');
	const valid = crypto.verify('sha256', Buffer.from(`${header}.${payload}`), publicKeyPem, Buffer.from(signature, 'base64url'));
	if (!valid) throw new Error('JWT signature does not verify');
	const claims = decodeJwtPayload(token);
	if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) throw new Error('JWT expired');
	return claims;
}
