/**
 * SASL XOAUTH2 (Google's mechanism, also used by Microsoft 365 and Dovecot):
 * the client's initial response and the server's error challenge.
 */

/** What a server says in the base64 JSON challenge it sends when it refuses a token. */
export interface XOAuth2Challenge {
	status?: string;
	schemes?: string;
	scope?: string;
}

/**
 * The initial client response, already base64 encoded: `user=<email>^Aauth=Bearer <token>^A^A`.
 * Throws on values that would break the framing, so a bad address can never smuggle in extra SASL fields.
 */
export function buildXOAuth2InitialResponse(user: string, accessToken: string): string {
	if (!user) throw new Error('XOAUTH2 needs the account address (user)');
	if (!accessToken) throw new Error('XOAUTH2 needs an access token');
	if (/[\x00-\x1f\x7f]/.test(user)) {
		throw new Error('The account address contains control characters');
	}
	if (/[\x00-\x20\x7f]/.test(accessToken)) {
		throw new Error('The access token contains whitespace or control characters');
	}
	return Buffer.from(`user=${user}\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8').toString('base64');
}

/**
 * A real challenge is about 100 base64 characters (Google's, Microsoft's, Dovecot's); anything past 16 KiB is not
 * decoded (a hostile server could otherwise make every refusal parse megabytes of JSON).
 */
const MAX_CHALLENGE_LENGTH = 16 * 1024;
/** Each field is short in practice (`400`, `Bearer`, a scope URL); longer values are cut, so messages stay readable. */
const MAX_FIELD_LENGTH = 256;

/**
 * Reads the server's XOAUTH2 error challenge, in either form a caller has it: the base64 JSON text as it arrives
 * (IMAP `+ <b64>`, SMTP `334 <b64>`, POP `+ <b64>`), or the object a library already decoded from it (imapflow's
 * `oauthError`). Returns undefined when the input is neither, so callers can fall back to the raw reply.
 */
export function decodeXOAuth2Challenge(challenge: unknown): XOAuth2Challenge | undefined {
	try {
		const parsed = typeof challenge === 'string' ? parseBase64Json(challenge) : challenge;
		if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
		const record = parsed as Record<string, unknown>;
		const decoded: XOAuth2Challenge = {};
		for (const key of ['status', 'schemes', 'scope'] as const) {
			const value = record[key];
			if (typeof value === 'string' || typeof value === 'number') decoded[key] = cleanField(String(value));
		}
		return decoded;
	} catch {
		// An object a library handed over may be anything (a getter that throws, a revoked Proxy): no challenge then.
		return undefined;
	}
}

/** Server-chosen text ends up in error messages and logs: no control characters (no forged log lines), bounded length. */
function cleanField(value: string): string {
	const cleaned = value.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, ' ');
	return cleaned.length > MAX_FIELD_LENGTH ? `${cleaned.slice(0, MAX_FIELD_LENGTH)}…` : cleaned;
}

function parseBase64Json(base64Text: string): unknown {
	if (base64Text.length > MAX_CHALLENGE_LENGTH) return undefined;
	const trimmed = base64Text.trim();
	if (!trimmed || !/^[A-Za-z0-9+/=_-]+$/.test(trimmed)) return undefined;
	try {
		return JSON.parse(Buffer.from(trimmed, 'base64').toString('utf8'));
	} catch {
		return undefined;
	}
}

/**
 * One phrase for an error message, e.g. `the server answered status 401 (scope "https://mail.google.com/")`;
 * without a challenge (the server refused with plain text only), `the server refused the token`.
 */
export function describeXOAuth2Challenge(challenge: XOAuth2Challenge | undefined): string {
	const parts: string[] = [];
	parts.push(challenge?.status ? `the server answered status ${challenge.status}` : 'the server refused the token');
	if (challenge?.scope) parts.push(`(scope "${challenge.scope}")`);
	return parts.join(' ');
}
