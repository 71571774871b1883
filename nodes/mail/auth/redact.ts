/**
 * Removes OAuth secrets from text bound for a log line, an error or an output item: the exact secrets the caller
 * knows (raw and URL-encoded), then patterns for secrets it may not know (a library echoing a request, a SASL line).
 */

export const REDACTED = '[redacted]';

/** Known secrets shorter than this are not replaced literally: they would shred ordinary words. */
const MIN_KNOWN_SECRET_LENGTH = 6;

/** Each pattern keeps group 1 (the label) and replaces the rest of the match. */
const LABELLED_SECRET_PATTERNS: readonly RegExp[] = [
	// HTTP / SASL bearer values: "Authorization: Bearer x", "auth=Bearer x".
	/(\bBearer\s+)[^\s"',;\x01]+/gi,
	// Basic auth header carrying client id and secret.
	/(\bBasic\s+)[A-Za-z0-9+/=]{8,}/g,
	// Form bodies, query strings, "key: value" and key=value dumps.
	/(\b(?:access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password)\b["']?\s*[=:]\s*["']?)[^\s"'&,;}]+/gi,
	// SASL commands whose argument is the base64 initial response (IMAP, POP, SMTP).
	/(\b(?:AUTHENTICATE|AUTH)\s+(?:XOAUTH2|OAUTHBEARER)\s+)[A-Za-z0-9+/=]+/gi,
];

/** Matches that are secrets as a whole. */
const BARE_SECRET_PATTERNS: readonly RegExp[] = [
	// Google access tokens and refresh tokens.
	/\bya29\.[A-Za-z0-9._-]+/g,
	/\b1\/\/[A-Za-z0-9._-]{10,}/g,
	// JWTs (Microsoft and most other providers issue JWT access tokens).
	/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g,
	// Base64 XOAUTH2 initial response ("user=...") and OAUTHBEARER GS2 header ("n,a=..." / "n,,") on their own.
	/\bdXNlcj1[A-Za-z0-9+/=]{12,}/g,
	/\bbi(?:xhP|ws)[A-Za-z0-9+/=]{16,}/g,
];

/**
 * Returns `text` with every known secret and every secret-looking value replaced by `[redacted]`.
 * Accepts anything for `text` (error messages are not always strings) and never throws.
 */
export function redact(text: unknown, knownSecrets: Iterable<string | undefined | null> = []): string {
	let result = typeof text === 'string' ? text : stringify(text);

	const secrets = new Set<string>();
	for (const secret of knownSecrets) {
		if (typeof secret !== 'string' || secret.length < MIN_KNOWN_SECRET_LENGTH) continue;
		secrets.add(secret);
		secrets.add(encodeURIComponent(secret));
		// application/x-www-form-urlencoded writes spaces as "+".
		secrets.add(encodeURIComponent(secret).replace(/%20/g, '+'));
	}
	// Longest first, so a secret that contains another is removed whole.
	for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
		result = result.split(secret).join(REDACTED);
	}

	for (const pattern of LABELLED_SECRET_PATTERNS) {
		result = result.replace(pattern, (_match, label: string) => `${label}${REDACTED}`);
	}
	for (const pattern of BARE_SECRET_PATTERNS) {
		result = result.replace(pattern, REDACTED);
	}
	return result;
}

/** One line describing an error (name, code, message), redacted. Never includes stacks, bodies or request configs. */
export function describeErrorSafely(error: unknown, knownSecrets: Iterable<string | undefined | null> = []): string {
	// Duck-typed rather than `instanceof Error`: errors made by Node in another realm (a vm context, jest's sandbox)
	// fail instanceof and would otherwise be dumped as JSON instead of their message.
	const shape = error as { message?: unknown; code?: unknown } | null;
	if (shape && typeof shape === 'object' && typeof shape.message === 'string') {
		const message = shape.message;
		const code = shape.code;
		const codeText = typeof code === 'string' && code && !message.includes(code) ? ` (${code})` : '';
		return redact(`${message}${codeText}`, knownSecrets);
	}
	return redact(error, knownSecrets);
}

function stringify(value: unknown): string {
	if (value === undefined) return '';
	if (value === null) return 'null';
	if (typeof value === 'object') {
		try {
			return JSON.stringify(value) ?? String(value);
		} catch {
			return Object.prototype.toString.call(value);
		}
	}
	return String(value);
}
