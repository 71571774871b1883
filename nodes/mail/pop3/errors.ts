/**
 * Errors the POP3 client throws: plain classes with a stable `code` and `transient` (can trying again later help?).
 * A token refused during AUTH is the shared TokenRejectedError (../auth/errors) instead, so the token source refreshes
 * once and retries as for every protocol. No message or property here holds the access token.
 */

export type Pop3ErrorCode =
	| 'POP3_CONNECTION'
	| 'POP3_CERTIFICATE'
	| 'POP3_STLS_UNAVAILABLE'
	| 'POP3_TIMEOUT'
	| 'POP3_PROTOCOL'
	| 'POP3_RESPONSE_TOO_LARGE'
	| 'POP3_COMMAND_FAILED'
	| 'POP3_ACCESS_DISABLED'
	| 'POP3_SERVER_BUSY'
	| 'POP3_XOAUTH2_UNSUPPORTED';

export interface Pop3ErrorDetails {
	/** The protocol step that failed, e.g. `greeting`, `RETR 4 (message body)`. Never contains the token. */
	step?: string;
	/** The server's reply text (after the status indicator), cleaned of control characters and secrets. */
	serverText?: string;
	/** RFC 2449 / RFC 3206 response code without brackets, e.g. `SYS/PERM`, `IN-USE`, `AUTH`. */
	responseCode?: string;
	cause?: unknown;
}

/** Whether each kind of failure may go away by itself (busy server, network, timeout) or needs someone to act. */
const TRANSIENT: Readonly<Record<Pop3ErrorCode, boolean>> = {
	POP3_CONNECTION: true,
	POP3_CERTIFICATE: false,
	POP3_STLS_UNAVAILABLE: false,
	POP3_TIMEOUT: true,
	POP3_PROTOCOL: false,
	POP3_RESPONSE_TOO_LARGE: false,
	POP3_COMMAND_FAILED: false,
	POP3_ACCESS_DISABLED: false,
	POP3_SERVER_BUSY: true,
	POP3_XOAUTH2_UNSUPPORTED: false,
};

export abstract class Pop3Error extends Error {
	abstract readonly code: Pop3ErrorCode;
	readonly step?: string;
	readonly serverText?: string;
	readonly responseCode?: string;
	/** The last protocol lines before the failure (AUTH shown as `AUTH XOAUTH2 [redacted]`), for debugging. */
	transcript: readonly string[] = [];

	constructor(message: string, details: Pop3ErrorDetails = {}) {
		super(message, details.cause === undefined ? undefined : { cause: details.cause });
		this.name = new.target.name;
		this.step = details.step;
		this.serverText = details.serverText;
		this.responseCode = details.responseCode;
	}

	/** True when the same request may succeed later without anyone changing settings (busy server, network, timeout). */
	get transient(): boolean {
		return TRANSIENT[this.code];
	}
}

/** A fixed explanation, with the server's own words in the middle when it gave any. */
function explained(before: string, details: Pop3ErrorDetails, after: string): string {
	return `${before}${details.serverText ? ` (server said: ${details.serverText})` : ''}. ${after}`;
}

/** Could not connect, the connection broke, or the client was already closed. */
export class Pop3ConnectionError extends Pop3Error {
	readonly code = 'POP3_CONNECTION';
}

/** The server's TLS certificate was not trusted (self-signed, unknown CA, wrong host name, expired). */
export class Pop3CertificateError extends Pop3Error {
	readonly code = 'POP3_CERTIFICATE';
	/** Node's TLS error code, e.g. `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`. */
	readonly tlsCode?: string;

	constructor(message: string, details: Pop3ErrorDetails & { tlsCode?: string } = {}) {
		super(message, details);
		this.tlsCode = details.tlsCode;
	}
}

/** STARTTLS (STLS) was asked for but the server does not offer it; the client never falls back to plain text. */
export class Pop3StlsUnavailableError extends Pop3Error {
	readonly code = 'POP3_STLS_UNAVAILABLE';
}

/**
 * A step took longer than its timeout. `step` names it. `kind`: `silence` when nothing came for that long,
 * `total` when a reply was still unfinished at its overall deadline although bytes kept coming (a slow drip).
 */
export class Pop3TimeoutError extends Pop3Error {
	readonly code = 'POP3_TIMEOUT';
	readonly timeoutMs: number;
	readonly kind: 'silence' | 'total';

	constructor(step: string, timeoutMs: number, kind: 'silence' | 'total' = 'silence') {
		const what = kind === 'total' ? 'did not finish its reply' : 'did not respond';
		super(`The POP3 server ${what} within ${formatDuration(timeoutMs)} (step: ${step})`, { step });
		this.timeoutMs = timeoutMs;
		this.kind = kind;
	}
}

/** The server sent something that is not valid POP3 (unknown status, over-long line, bad listing, data injected after STLS). */
export class Pop3ProtocolError extends Pop3Error {
	readonly code = 'POP3_PROTOCOL';
}

/**
 * A multi-line reply (CAPA, LIST, UIDL) went on past the number of lines or bytes the client accepts for it: a broken
 * or hostile server (or a man in the middle before STLS) could otherwise grow the client's memory without end.
 * The connection is closed; nothing was deleted. `limit` is the bound that was exceeded.
 */
export class Pop3ResponseTooLargeError extends Pop3Error {
	readonly code = 'POP3_RESPONSE_TOO_LARGE';

	/** `reply`: the command whose reply it was (also the step); `exceeded`: which bound, in words. */
	constructor(reply: string | undefined, exceeded: string, readonly limit: { lines: number; bytes: number }) {
		const name = reply ? `${reply} reply` : 'multi-line reply';
		super(`The POP3 server's ${name} is longer than the client accepts (${exceeded}); the connection was closed`, { step: reply });
	}
}

/** The server answered -ERR to a command (for example RETR of a message that no longer exists). The connection stays usable. */
export class Pop3CommandError extends Pop3Error {
	readonly code = 'POP3_COMMAND_FAILED';
}

/**
 * The server refused POP access for the account (`-ERR [SYS/PERM]`). Gmail answers this way when POP is switched off in
 * the account's settings; a new token cannot fix it, so the message says how to switch it on.
 */
export class Pop3AccessDisabledError extends Pop3Error {
	readonly code = 'POP3_ACCESS_DISABLED';

	constructor(details: Pop3ErrorDetails) {
		super(explained('POP3 access is not enabled for this account', details, GMAIL_ENABLE_POP), details);
	}
}

/** How to switch POP on in Gmail (Gmail refuses with `[SYS/PERM]` while it is off, at login or mid-session). */
export const GMAIL_ENABLE_POP =
	'In Gmail open Settings → See all settings → Forwarding and POP/IMAP, choose "Enable POP for all mail" or ' +
	'"Enable POP for mail that arrives from now on", and click Save Changes. In Google Workspace an administrator ' +
	'may also have to allow POP for the user in the Admin console.';

/** The server is temporarily unable to serve the mailbox (`[SYS/TEMP]`, `[IN-USE]`, `[LOGIN-DELAY]`, too many connections). */
export class Pop3ServerBusyError extends Pop3Error {
	readonly code = 'POP3_SERVER_BUSY';

	constructor(details: Pop3ErrorDetails) {
		const why =
			'Another POP session may be open for the account (Gmail allows only a few at a time) or the server asks to ' +
			'wait between logins; try again later.';
		super(explained('The POP3 server is temporarily unavailable for this mailbox', details, why), details);
	}
}

/** The server lists its SASL mechanisms (CAPA) and XOAUTH2 is not among them. */
export class Pop3MechanismUnsupportedError extends Pop3Error {
	readonly code = 'POP3_XOAUTH2_UNSUPPORTED';
}

function formatDuration(ms: number): string {
	return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
