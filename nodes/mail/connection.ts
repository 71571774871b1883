/**
 * Server endpoints, TLS options and the account address, from either credential type.
 * The one place that decides how a protocol client reaches its server: protocol modules take a MailEndpoint
 * and never read credential fields themselves.
 */
import type { MailProtocol } from './auth/errors';

export const GOOGLE_MAIL_CREDENTIAL_TYPE = 'googleMailOAuth2Api';
export const MAIL_SERVER_CREDENTIAL_TYPE = 'mailServerOAuth2Api';
export const MAIL_CREDENTIAL_TYPES = [GOOGLE_MAIL_CREDENTIAL_TYPE, MAIL_SERVER_CREDENTIAL_TYPE] as const;
export type MailCredentialType = (typeof MAIL_CREDENTIAL_TYPES)[number];

export function isMailCredentialType(value: unknown): value is MailCredentialType {
	return typeof value === 'string' && (MAIL_CREDENTIAL_TYPES as readonly string[]).includes(value);
}

/** How a connection is protected: implicit TLS, plain text upgraded with STARTTLS (required), or none at all. */
export type TlsSecurity = 'tls' | 'starttls' | 'none';
/** What the generic credential stores: one of the above, or 'auto' (decided from the port). */
export type TlsSecuritySetting = TlsSecurity | 'auto';

export interface TlsSettings {
	/** False only when the generic credential's "Ignore Mail Server Certificate Errors" is on. */
	rejectUnauthorized: boolean;
	/** SNI name: the host, unless the host is an IP address (SNI forbids IP literals, RFC 6066). */
	servername?: string;
	minVersion: 'TLSv1.2';
}

export interface MailEndpoint {
	host: string;
	port: number;
	security: TlsSecurity;
	/** Implicit TLS from the first byte (imapflow / nodemailer `secure`). */
	secure: boolean;
	/** STARTTLS must succeed before login (nodemailer `requireTLS`, imapflow `doSTARTTLS: true`, POP `STLS`). */
	requireTLS: boolean;
	/** What the credential decided about TLS; protocol clients get it through tlsOptionsFor(). */
	tls: TlsSettings;
}

export type MailConnection<P extends MailProtocol = MailProtocol> = {
	credentialType: MailCredentialType;
	/** The account to authenticate as (XOAUTH2 `user=`). */
	email: string;
	tls: { rejectUnauthorized: boolean };
} & { [K in P]: MailEndpoint };

/** A node-level choice that wins over the credential, e.g. the SMTP node's "port 587 with STARTTLS" for Gmail. */
export interface EndpointOverride {
	host?: string;
	port?: number;
	security?: TlsSecuritySetting;
}

/** A credential field holds a value no connection can be built from. `field` is the stored field name. */
export class MailCredentialFieldError extends Error {
	readonly field: string;

	constructor(field: string, problem: string) {
		const label = FIELD_LABELS[field] ?? field;
		super(`Credential field "${label}" (${field}) ${problem}`);
		this.name = 'MailCredentialFieldError';
		this.field = field;
	}
}

/** Gmail's servers, all implicit TLS (SMTP 587 + STARTTLS is available as a node-level override). */
export const GMAIL_ENDPOINTS: Readonly<Record<MailProtocol, { host: string; port: number; security: TlsSecurity }>> = {
	imap: { host: 'imap.gmail.com', port: 993, security: 'tls' },
	smtp: { host: 'smtp.gmail.com', port: 465, security: 'tls' },
	pop3: { host: 'pop.gmail.com', port: 995, security: 'tls' },
};

/** Stored field names of the generic credential, per protocol. */
const SERVER_FIELDS: Readonly<Record<MailProtocol, { host: string; port: string; security: string }>> = {
	imap: { host: 'imapHost', port: 'imapPort', security: 'imapSecurity' },
	smtp: { host: 'smtpHost', port: 'smtpPort', security: 'smtpSecurity' },
	pop3: { host: 'popHost', port: 'popPort', security: 'popSecurity' },
};

const DEFAULT_PORTS: Readonly<Record<MailProtocol, number>> = { imap: 993, smtp: 465, pop3: 995 };

/** Well-known ports that speak plain text first and must be upgraded with STARTTLS; every other port gets implicit TLS. */
const STARTTLS_PORTS: Readonly<Record<MailProtocol, readonly number[]>> = {
	imap: [143],
	smtp: [587, 25],
	pop3: [110],
};

const FIELD_LABELS: Readonly<Record<string, string>> = {
	email: 'Email',
	imapHost: 'IMAP Host',
	imapPort: 'IMAP Port',
	imapSecurity: 'IMAP Security',
	smtpHost: 'SMTP Host',
	smtpPort: 'SMTP Port',
	smtpSecurity: 'SMTP Security',
	popHost: 'POP3 Host',
	popPort: 'POP3 Port',
	popSecurity: 'POP3 Security',
};

const PROTOCOL_NAMES: Readonly<Record<MailProtocol, string>> = { imap: 'IMAP', smtp: 'SMTP', pop3: 'POP3' };

/**
 * Resolves the account and the endpoints of the requested protocols. Only those protocols are validated, so a
 * generic credential used only for SMTP needs no IMAP host.
 * @throws MailCredentialFieldError naming the field at fault
 */
export function resolveMailConnection<P extends MailProtocol>(
	credentialType: string,
	data: Readonly<Record<string, unknown>>,
	protocols: readonly P[],
	overrides: Partial<Record<MailProtocol, EndpointOverride>> = {},
): MailConnection<P> {
	if (!isMailCredentialType(credentialType)) {
		throw new Error(`Unsupported credential type "${credentialType}" for a mail connection`);
	}
	const email = readAccountEmail(credentialType, data);
	const rejectUnauthorized =
		credentialType === MAIL_SERVER_CREDENTIAL_TYPE ? data.allowUnauthorizedCerts !== true : true;

	const endpoints = {} as { [K in P]: MailEndpoint };
	for (const protocol of protocols) {
		endpoints[protocol] = resolveEndpoint(credentialType, data, protocol, overrides[protocol] ?? {}, rejectUnauthorized);
	}
	return { credentialType, email, tls: { rejectUnauthorized }, ...endpoints };
}

/**
 * The XOAUTH2 `user=` value. Gmail needs a full address; a generic server may use any login name without
 * whitespace or control characters (they would break the SASL framing).
 * @throws MailCredentialFieldError
 */
export function readAccountEmail(credentialType: MailCredentialType, data: Readonly<Record<string, unknown>>): string {
	const raw = data.email;
	const email = typeof raw === 'string' ? raw.trim() : '';
	if (!email) {
		throw new MailCredentialFieldError('email', 'is empty: enter the address of the account you connected');
	}
	if (/[\s\x00-\x1f\x7f]/.test(email)) {
		throw new MailCredentialFieldError('email', 'must not contain spaces or control characters');
	}
	if (credentialType === GOOGLE_MAIL_CREDENTIAL_TYPE && !/^[^@]+@[^@]+\.[^@]+$/.test(email)) {
		throw new MailCredentialFieldError('email', `must be a full Gmail or Google Workspace address, got "${email}"`);
	}
	return email;
}

/**
 * The TLS options for connecting to an endpoint, in the shape node:tls `connect`, imapflow's `tls` and nodemailer's
 * `tls` all take: certificate verification as the credential says, TLS 1.2 or newer, SNI unless the host is an IP
 * address. `servername` is left out rather than set to undefined: imapflow merges this object over its own SNI
 * choice (Object.assign), where an explicit undefined would erase it. A new object on every call, so a caller may
 * add to it (a private CA in tests).
 */
export function tlsOptionsFor(endpoint: Pick<MailEndpoint, 'tls'>): TlsSettings {
	const { rejectUnauthorized, minVersion, servername } = endpoint.tls;
	return { rejectUnauthorized, minVersion, ...(servername ? { servername } : {}) };
}

/**
 * Node's codes for a server certificate that failed verification: OpenSSL's X509 verify results as tls.connect
 * reports them, and Node's own host name check. Errors with these codes mean "the certificate was refused", which
 * no retry fixes; every protocol client classifies with this one list so the nodes say the same for the same cause.
 */
const CERTIFICATE_VERIFICATION_CODES: ReadonlySet<string> = new Set([
	'UNABLE_TO_GET_ISSUER_CERT',
	'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
	'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
	'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
	'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
	'UNABLE_TO_GET_CRL',
	'CERT_SIGNATURE_FAILURE',
	'CERT_NOT_YET_VALID',
	'CERT_HAS_EXPIRED',
	'ERROR_IN_CERT_NOT_BEFORE_FIELD',
	'ERROR_IN_CERT_NOT_AFTER_FIELD',
	'DEPTH_ZERO_SELF_SIGNED_CERT',
	'SELF_SIGNED_CERT_IN_CHAIN',
	'CERT_CHAIN_TOO_LONG',
	'CERT_REVOKED',
	'INVALID_CA',
	'PATH_LENGTH_EXCEEDED',
	'INVALID_PURPOSE',
	'CERT_UNTRUSTED',
	'CERT_REJECTED',
	'HOSTNAME_MISMATCH',
	'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether a socket error code says the server's TLS certificate was refused (see CERTIFICATE_VERIFICATION_CODES). */
export function isCertificateVerificationCode(code: unknown): code is string {
	return typeof code === 'string' && CERTIFICATE_VERIFICATION_CODES.has(code);
}

/** 'auto' → implicit TLS, except on the well-known STARTTLS ports of the protocol. */
export function securityForPort(protocol: MailProtocol, port: number, setting: TlsSecuritySetting = 'auto'): TlsSecurity {
	if (setting !== 'auto') return setting;
	return STARTTLS_PORTS[protocol].includes(port) ? 'starttls' : 'tls';
}

function resolveEndpoint(
	credentialType: MailCredentialType,
	data: Readonly<Record<string, unknown>>,
	protocol: MailProtocol,
	override: EndpointOverride,
	rejectUnauthorized: boolean,
): MailEndpoint {
	const fields = SERVER_FIELDS[protocol];
	let host: string;
	let port: number;
	let setting: TlsSecuritySetting;

	if (credentialType === GOOGLE_MAIL_CREDENTIAL_TYPE) {
		const gmail = GMAIL_ENDPOINTS[protocol];
		host = override.host !== undefined ? validateHost(fields.host, override.host) : gmail.host;
		port = override.port !== undefined ? validatePort(fields.port, override.port) : gmail.port;
		// A changed port without a security choice gets the port's usual mode (Gmail SMTP 587 = STARTTLS).
		setting = override.security ?? (override.port !== undefined ? 'auto' : gmail.security);
	} else {
		const storedHost = override.host ?? data[fields.host];
		if (typeof storedHost !== 'string' || storedHost.trim() === '') {
			throw new MailCredentialFieldError(
				fields.host,
				`is empty: enter the ${PROTOCOL_NAMES[protocol]} server to use ${PROTOCOL_NAMES[protocol]} with this credential`,
			);
		}
		host = validateHost(fields.host, storedHost);
		const storedPort = override.port ?? data[fields.port];
		port = storedPort === undefined || storedPort === '' ? DEFAULT_PORTS[protocol] : validatePort(fields.port, storedPort);
		setting = override.security ?? readSecuritySetting(fields.security, data[fields.security]);
	}

	const security = securityForPort(protocol, port, setting);
	return {
		host,
		port,
		security,
		secure: security === 'tls',
		requireTLS: security === 'starttls',
		tls: {
			rejectUnauthorized,
			servername: isIpLiteral(host) ? undefined : host,
			minVersion: 'TLSv1.2',
		},
	};
}

function readSecuritySetting(field: string, value: unknown): TlsSecuritySetting {
	if (value === undefined || value === null || value === '') return 'auto';
	if (value === 'auto' || value === 'tls' || value === 'starttls' || value === 'none') return value;
	throw new MailCredentialFieldError(field, `must be one of auto, tls, starttls, none; got "${String(value)}"`);
}

function validateHost(field: string, value: string): string {
	let host = value.trim();
	if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) {
		throw new MailCredentialFieldError(field, `must be a host name without a scheme (like "imap.example.com"), got "${host}"`);
	}
	// An IPv6 literal may come in brackets, as in URLs.
	if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
	if (isIpLiteral(host)) return host;
	if (host.includes(':')) {
		throw new MailCredentialFieldError(field, `must not contain a port ("${host}"): enter the port in its own field`);
	}
	if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(host) || host.includes('..') || host.length > 253) {
		throw new MailCredentialFieldError(field, `is not a valid host name: "${host}"`);
	}
	return host;
}

/** IPv4 dotted quad or IPv6 literal (what SNI must not carry). */
export function isIpLiteral(host: string): boolean {
	if (/^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(host)) return true;
	// IPv6: hex groups and colons, at least two colons, optionally an embedded IPv4 tail.
	return /^[0-9A-Fa-f:.]+$/.test(host) && (host.match(/:/g) ?? []).length >= 2;
}

function validatePort(field: string, value: unknown): number {
	const port = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
	if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
		throw new MailCredentialFieldError(field, `must be a whole number from 1 to 65535, got "${String(value)}"`);
	}
	return port;
}
