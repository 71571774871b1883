/**
 * Server endpoints, TLS options and the account address, from either credential type.
 * The one place that decides how a protocol client reaches its server: protocol modules take a MailEndpoint
 * and never read credential fields themselves.
 */
import { X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

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
	/**
	 * The generic credential's "CA Certificate (PEM)": certificates, one PEM block each, normalised and checked by
	 * readCaCertificates(). Trusted in addition to Node's bundled public roots (see tlsOptionsFor). Absent when the
	 * field is empty and always for the Google credential.
	 */
	caCertificates?: readonly string[];
}

/** What tlsOptionsFor() hands to a protocol client: the fields node:tls `connect` reads. */
export interface TlsConnectOptions {
	rejectUnauthorized: boolean;
	servername?: string;
	minVersion: 'TLSv1.2';
	/** Set only when the credential names a CA: Node's bundled roots plus that CA (a `ca` option replaces the defaults). */
	ca?: string[];
	/**
	 * With `ca`: the same trust store built once (see trustStoreFor). tls.connect uses it instead of building a context
	 * from `ca` and `minVersion` for every connection.
	 */
	secureContext?: SecureContext;
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
	caCertificate: 'CA Certificate (PEM)',
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
	// Read (and validated) only when a protocol is asked for, like every other server field.
	const caCertificates =
		credentialType === MAIL_SERVER_CREDENTIAL_TYPE && protocols.length > 0
			? readCaCertificates('caCertificate', data.caCertificate)
			: undefined;

	const endpoints = {} as { [K in P]: MailEndpoint };
	for (const protocol of protocols) {
		endpoints[protocol] = resolveEndpoint(credentialType, data, protocol, overrides[protocol] ?? {}, {
			rejectUnauthorized,
			caCertificates,
		});
	}
	return { credentialType, email, tls: { rejectUnauthorized }, ...endpoints };
}

/**
 * Which mailbox a stored record belongs to (IMAP checkpoints, POP fetched UIDLs): server, port and account, trimmed
 * and lower-cased (host names and, in practice, mail accounts are case-insensitive). Holds no secret.
 */
export function mailAccountKey(endpoint: { host: string; port: number }, email: string): string {
	return `${endpoint.host.trim().toLowerCase()}:${endpoint.port}/${email.trim().toLowerCase()}`;
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
 * address, and the credential's CA if it names one. `servername` is left out rather than set to undefined: imapflow
 * merges this object over its own SNI choice (Object.assign), where an explicit undefined would erase it. A new
 * object on every call, so a caller may add to it.
 *
 * All three clients copy this object into tls.connect (imapflow 2.10 `Object.assign({...}, this.options.tls)` for
 * implicit TLS and STARTTLS alike, nodemailer the same, the POP client its `ca` field), so a `ca` here is what
 * OpenSSL verifies the server against. Node's `ca` option replaces the default trust store rather than adding to it;
 * Node's bundled public roots are put back in front, so the credential's CA is trusted in addition to them (one
 * credential can mix a company server and a public one).
 */
export function tlsOptionsFor(endpoint: Pick<MailEndpoint, 'tls'>): TlsConnectOptions {
	const { rejectUnauthorized, minVersion, servername, caCertificates } = endpoint.tls;
	return {
		rejectUnauthorized,
		minVersion,
		...(servername ? { servername } : {}),
		...(caCertificates && caCertificates.length > 0
			? { ca: [...rootCertificates, ...caCertificates], secureContext: trustStoreFor(minVersion, caCertificates) }
			: {}),
	};
}

/** Contexts kept for the CA sets in use; a few credentials at most, the bound only guards against churn. */
const TRUST_STORES_KEPT = 16;
const trustStores = new Map<string, SecureContext>();

/**
 * A TLS context trusting Node's bundled roots plus `caCertificates`, built once per CA set: parsing the ~140 roots
 * costs ~20 ms of CPU, which 200 triggers (and each of their hourly reconnections) would otherwise pay per connection.
 * The context carries minVersion, because tls.connect ignores its own minVersion when given a context.
 */
export function trustStoreFor(minVersion: TlsConnectOptions['minVersion'], caCertificates: readonly string[]): SecureContext {
	const key = [minVersion, ...caCertificates].join('\n');
	let context = trustStores.get(key);
	if (!context) {
		context = createSecureContext({ minVersion, ca: [...rootCertificates, ...caCertificates] });
		if (trustStores.size >= TRUST_STORES_KEPT) trustStores.delete(trustStores.keys().next().value as string);
		trustStores.set(key, context);
	}
	return context;
}

/** Loopback: 127.0.0.0/8 and ::1, also written as IPv4-mapped IPv6 (::ffff:127.x.y.z, ::ffff:7f00:1). */
const LOOPBACK_ADDRESSES = new BlockList();
LOOPBACK_ADDRESSES.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK_ADDRESSES.addAddress('::1', 'ipv6');

/**
 * Whether a connection to `host` stays on this machine, so that sending the access token unencrypted ("None") is
 * acceptable: an IP literal in 127.0.0.0/8 or ::1, including the IPv4-mapped form ::ffff:127.x.y.z (the kernel
 * delivers it to 127.x.y.z, so it never leaves the machine either), or the name `localhost` (any case).
 * Not loopback: `localhost.` and `*.localhost` (RFC 6761 reserves them, but resolvers do not all honour that and
 * may ask DNS), 0.0.0.0 / ::, the deprecated IPv4-compatible ::127.0.0.1, shorthand IPv4 such as 127.1, and every
 * other name, even one that happens to resolve to 127.0.0.1 today (DNS can change under a saved credential).
 */
export function isLoopbackHost(host: string): boolean {
	const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
	if (bare.toLowerCase() === 'localhost') return true;
	const family = isIP(bare);
	if (family === 0) return false;
	return LOOPBACK_ADDRESSES.check(bare, family === 6 ? 'ipv6' : 'ipv4');
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const CA_FIELD_HELP =
	'paste the CA certificate in PEM form, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE----- (several may follow one another)';

/**
 * The generic credential's CA certificate field: empty → undefined; otherwise every PEM CERTIFICATE block,
 * re-wrapped at 64 characters (n8n's single-line inputs and JSON pastes lose or escape the line breaks) and parsed as
 * X.509. Text outside the blocks (comments, "subject=" lines of openssl's output) is ignored. Error messages never
 * quote the field: a pasted private key must not end up in an execution log.
 * @throws MailCredentialFieldError when the text holds no certificate, an unfinished or non-certificate block
 *   (a private key, a request), or a block that is not a valid X.509 certificate
 */
export function readCaCertificates(field: string, value: unknown): string[] | undefined {
	if (value === undefined || value === null) return undefined;
	if (typeof value !== 'string') throw new MailCredentialFieldError(field, `must be text: ${CA_FIELD_HELP}`);
	// Literal "\n" sequences from a JSON-escaped paste become line breaks.
	const text = value.replace(/\\r\\n|\\n/g, '\n');
	if (text.trim() === '') return undefined;

	const certificates: string[] = [];
	let outside = '';
	let last = 0;
	let position = 0;
	for (const match of text.matchAll(PEM_BLOCK)) {
		position++;
		outside += text.slice(last, match.index);
		last = (match.index ?? 0) + match[0].length;
		const label = match[1];
		if (label !== 'CERTIFICATE') {
			const what = /PRIVATE KEY/.test(label)
				? 'a private key: remove it at once (it is not needed and must not be stored here) and'
				: `a "${label}" block, not a certificate:`;
			throw new MailCredentialFieldError(field, `contains ${what} ${CA_FIELD_HELP}`);
		}
		const body = match[2].replace(/\s+/g, '');
		if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
			throw new MailCredentialFieldError(field, `has a certificate (number ${position}) that is not valid base64: ${CA_FIELD_HELP}`);
		}
		const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`;
		if (!isX509Certificate(pem)) {
			throw new MailCredentialFieldError(
				field,
				`has a certificate (number ${position}) that cannot be read as an X.509 certificate: ${CA_FIELD_HELP}`,
			);
		}
		certificates.push(pem);
	}
	outside += text.slice(last);
	if (/-----(?:BEGIN|END) /.test(outside)) {
		throw new MailCredentialFieldError(field, `has an unfinished PEM block (a BEGIN line without its END line, or the reverse): ${CA_FIELD_HELP}`);
	}
	if (certificates.length === 0) {
		throw new MailCredentialFieldError(field, `is not a PEM certificate: ${CA_FIELD_HELP}`);
	}
	return certificates;
}

function isX509Certificate(pem: string): boolean {
	try {
		new X509Certificate(pem);
		return true;
	} catch {
		return false;
	}
}

/** What every node suggests when a mail server's certificate is refused: the CA field first, switching checks off last. */
export const UNTRUSTED_CERTIFICATE_HINT =
	'For a server you trust whose certificate comes from a private (company) certificate authority or is self-signed, ' +
	'paste that CA certificate into "CA Certificate (PEM)" in the Mail Server (XOAUTH2) credential; turn on "Ignore Mail ' +
	'Server Certificate Errors (Insecure)" only if that is not possible.';

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
	trust: { rejectUnauthorized: boolean; caCertificates?: string[] },
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
	if (security === 'none' && !isLoopbackHost(host)) {
		throw new MailCredentialFieldError(
			fields.security,
			`is "None (Insecure)" but ${PROTOCOL_NAMES[protocol]} host "${host}" is not this machine: the OAuth2 access ` +
				'token would cross the network unencrypted, readable by anyone on the way. Choose SSL/TLS or STARTTLS ' +
				'(None is only allowed for localhost, 127.0.0.0/8 or ::1).',
		);
	}
	return {
		host,
		port,
		security,
		secure: security === 'tls',
		requireTLS: security === 'starttls',
		tls: {
			rejectUnauthorized: trust.rejectUnauthorized,
			servername: isIpLiteral(host) ? undefined : host,
			minVersion: 'TLSv1.2',
			...(trust.caCertificates ? { caCertificates: trust.caCertificates } : {}),
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
