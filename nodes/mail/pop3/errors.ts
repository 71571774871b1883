/**
 * Errors the POP3 client throws. Each has a stable `code` so the node can turn it into a clear n8n error without
 * matching message text; `transient` says whether trying again later can help.
 * A token refused during AUTH is reported with the shared TokenRejectedError (../auth/errors), not with these classes,
 * so the token source can refresh once and retry for every protocol in the same way.
 * No message or property here ever holds the access token: the client builds them from redacted server text.
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

export abstract class Pop3Error extends Error {
	abstract readonly code: Pop3ErrorCode;
	/** True when the same request may succeed later without anyone changing settings (busy server, network, timeout). */
	abstract readonly transient: boolean;
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
}

/** Could not connect, the connection broke, or the client was already closed. */
export class Pop3ConnectionError extends Pop3Error {
	readonly code = 'POP3_CONNECTION';
	readonly transient = true;
}

/** The server's TLS certificate was not trusted (self-signed, unknown CA, wrong host name, expired). */
export class Pop3CertificateError extends Pop3Error {
	readonly code = 'POP3_CERTIFICATE';
	readonly transient = false;
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
	readonly transient = false;
}

/**
 * A step took longer than its timeout. `step` names it. `kind`: `silence` when nothing came for that long,
 * `total` when a reply was still unfinished at its overall deadline although bytes kept coming (a slow drip).
 */
export class Pop3TimeoutError extends Pop3Error {
	readonly code = 'POP3_TIMEOUT';
	readonly transient = true;
	readonly timeoutMs: number;
	readonly kind: 'silence' | 'total';

	constructor(step: string, timeoutMs: number, kind: 'silence' | 'total' = 'silence') {
		super(
			kind === 'total'
				? `The POP3 server did not finish its reply within ${formatDuration(timeoutMs)} (step: ${step})`
				: `The POP3 server did not respond within ${formatDuration(timeoutMs)} (step: ${step})`,
			{ step },
		);
		this.timeoutMs = timeoutMs;
		this.kind = kind;
	}
}

/** The server sent something that is not valid POP3 (unknown status, over-long line, bad listing, data injected after STLS). */
export class Pop3ProtocolError extends Pop3Error {
	readonly code = 'POP3_PROTOCOL';
	readonly transient = false;
}

/**
 * A multi-line reply (CAPA, LIST, UIDL) went on past the number of lines or bytes the client accepts for it: a broken
 * or hostile server (or a man in the middle before STLS) could otherwise grow the client's memory without end.
 * The connection is closed; nothing was deleted.
 */
export class Pop3ResponseTooLargeError extends Pop3Error {
	readonly code = 'POP3_RESPONSE_TOO_LARGE';
	readonly transient = false;
	/** The bound that was exceeded. */
	readonly limit: { lines: number; bytes: number };

	constructor(message: string, details: Pop3ErrorDetails & { limit: { lines: number; bytes: number } }) {
		super(message, details);
		this.limit = details.limit;
	}
}

/** The server answered -ERR to a command (for example RETR of a message that no longer exists). The connection stays usable. */
export class Pop3CommandError extends Pop3Error {
	readonly code = 'POP3_COMMAND_FAILED';
	readonly transient = false;
}

/**
 * The server refused POP access for the account (`-ERR [SYS/PERM]`). Gmail answers this way when POP is switched off in
 * the account's settings; a new token cannot fix it, so the message says how to switch it on.
 */
export class Pop3AccessDisabledError extends Pop3Error {
	readonly code = 'POP3_ACCESS_DISABLED';
	readonly transient = false;

	constructor(details: Pop3ErrorDetails) {
		super(
			'POP3 access is not enabled for this account' +
				(details.serverText ? ` (server said: ${details.serverText})` : '') +
				'. In Gmail open Settings → See all settings → Forwarding and POP/IMAP, choose "Enable POP for all mail" ' +
				'or "Enable POP for mail that arrives from now on", and click Save Changes. In Google Workspace an ' +
				'administrator may also have to allow POP for the user in the Admin console.',
			details,
		);
	}
}

/** The server is temporarily unable to serve the mailbox (`[SYS/TEMP]`, `[IN-USE]`, `[LOGIN-DELAY]`, too many connections). */
export class Pop3ServerBusyError extends Pop3Error {
	readonly code = 'POP3_SERVER_BUSY';
	readonly transient = true;

	constructor(details: Pop3ErrorDetails) {
		super(
			'The POP3 server is temporarily unavailable for this mailbox' +
				(details.serverText ? ` (server said: ${details.serverText})` : '') +
				'. Another POP session may be open for the account (Gmail allows only a few at a time) or the server ' +
				'asks to wait between logins; try again later.',
			details,
		);
	}
}

/** The server lists its SASL mechanisms (CAPA) and XOAUTH2 is not among them. */
export class Pop3MechanismUnsupportedError extends Pop3Error {
	readonly code = 'POP3_XOAUTH2_UNSUPPORTED';
	readonly transient = false;
}

function formatDuration(ms: number): string {
	return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
