import * as tls from 'node:tls';
// The module object itself (a namespace import is a frozen copy): what imapflow, nodemailer and the POP client call.
import tlsModule from 'node:tls';

import {
	GMAIL_ENDPOINTS,
	MailCredentialFieldError,
	isCertificateVerificationCode,
	isIpLiteral,
	isLoopbackHost,
	mailAccountKey,
	readCaCertificates,
	resolveMailConnection,
	securityForPort,
	tlsOptionsFor,
	trustStoreFor,
} from '../../../nodes/mail/connection';
import type { MailProtocol } from '../../../nodes/mail/auth/errors';
import type { TokenSource } from '../../../nodes/mail/auth/tokens';
import { createImapFlowClient } from '../../../nodes/mail/imap/client';
import { DEFAULT_SESSION_TIMING, openImapSession } from '../../../nodes/mail/imap/session';
import { openPop3Mailbox } from '../../../nodes/mail/pop3/mailbox';
import { SmtpSender } from '../../../nodes/mail/smtp/transport';
import { TEST_CA_PEM } from '../../fixtures/testCa';

const generic = (overrides: Record<string, unknown> = {}) => ({
	email: 'user@example.test',
	imapHost: 'imap.example.test',
	imapPort: 993,
	imapSecurity: 'auto',
	smtpHost: 'smtp.example.test',
	smtpPort: 465,
	smtpSecurity: 'auto',
	popHost: 'pop.example.test',
	popPort: 995,
	popSecurity: 'auto',
	allowUnauthorizedCerts: false,
	...overrides,
});

function fieldError(run: () => unknown): MailCredentialFieldError {
	try {
		run();
	} catch (error) {
		expect(error).toBeInstanceOf(MailCredentialFieldError);
		return error as MailCredentialFieldError;
	}
	throw new Error('expected a MailCredentialFieldError');
}

describe('resolveMailConnection: Google Mail credential', () => {
	it("uses Gmail's servers with implicit TLS and verified certificates", () => {
		const connection = resolveMailConnection('googleMailOAuth2Api', { email: ' me@gmail.com ' }, ['imap', 'smtp', 'pop3']);
		expect(connection.email).toBe('me@gmail.com');
		expect(connection.tls).toEqual({ rejectUnauthorized: true });
		expect(connection.imap).toEqual({
			host: 'imap.gmail.com',
			port: 993,
			security: 'tls',
			secure: true,
			requireTLS: false,
			tls: { rejectUnauthorized: true, servername: 'imap.gmail.com', minVersion: 'TLSv1.2' },
		});
		expect(connection.smtp).toMatchObject({ host: 'smtp.gmail.com', port: 465, secure: true, requireTLS: false });
		expect(connection.pop3).toMatchObject({ host: 'pop.gmail.com', port: 995, secure: true, requireTLS: false });
	});

	it('ignores fields that only the generic credential has', () => {
		const connection = resolveMailConnection(
			'googleMailOAuth2Api',
			{ email: 'me@gmail.com', imapHost: 'evil.example', allowUnauthorizedCerts: true },
			['imap'],
		);
		expect(connection.imap.host).toBe(GMAIL_ENDPOINTS.imap.host);
		expect(connection.imap.tls.rejectUnauthorized).toBe(true);
	});

	it('switches Gmail SMTP to STARTTLS when a node asks for port 587', () => {
		const connection = resolveMailConnection('googleMailOAuth2Api', { email: 'me@gmail.com' }, ['smtp'], {
			smtp: { port: 587 },
		});
		expect(connection.smtp).toMatchObject({ host: 'smtp.gmail.com', port: 587, security: 'starttls', secure: false, requireTLS: true });
	});

	it.each([[''], ['not-an-address'], ['me@gmail'], ['me @gmail.com'], [undefined]])('refuses the email %p', (email) => {
		const error = fieldError(() => resolveMailConnection('googleMailOAuth2Api', { email }, ['imap']));
		expect(error.field).toBe('email');
		expect(error.message).toContain('"Email" (email)');
	});
});

describe('resolveMailConnection: generic mail server credential', () => {
	it('reads hosts and ports, decides security from the port, and verifies certificates by default', () => {
		const connection = resolveMailConnection('mailServerOAuth2Api', generic(), ['imap', 'smtp', 'pop3']);
		expect(connection.imap).toMatchObject({ host: 'imap.example.test', port: 993, security: 'tls', secure: true });
		expect(connection.smtp).toMatchObject({ host: 'smtp.example.test', port: 465, security: 'tls', secure: true });
		expect(connection.pop3).toMatchObject({ host: 'pop.example.test', port: 995, security: 'tls', secure: true });
		expect(connection.imap.tls.rejectUnauthorized).toBe(true);
	});

	it('requires STARTTLS on SMTP 587 (Microsoft 365) when security is automatic', () => {
		const connection = resolveMailConnection('mailServerOAuth2Api', generic({ smtpHost: 'smtp.office365.com', smtpPort: 587 }), [
			'smtp',
		]);
		expect(connection.smtp).toMatchObject({ port: 587, security: 'starttls', secure: false, requireTLS: true });
	});

	it('honours an explicit security choice on a non-standard port (the local test stack)', () => {
		const connection = resolveMailConnection(
			'mailServerOAuth2Api',
			generic({
				imapHost: '127.0.0.1',
				imapPort: '31143',
				imapSecurity: 'starttls',
				popHost: '127.0.0.1',
				popPort: 31110,
				popSecurity: 'none',
			}),
			['imap', 'pop3'],
		);
		expect(connection.imap).toMatchObject({ host: '127.0.0.1', port: 31143, security: 'starttls', secure: false, requireTLS: true });
		// SNI must not carry an IP address.
		expect(connection.imap.tls.servername).toBeUndefined();
		expect(connection.pop3).toMatchObject({ port: 31110, security: 'none', secure: false, requireTLS: false });
	});

	it('turns certificate verification off only through allowUnauthorizedCerts', () => {
		const connection = resolveMailConnection('mailServerOAuth2Api', generic({ allowUnauthorizedCerts: true }), ['imap']);
		expect(connection.tls.rejectUnauthorized).toBe(false);
		expect(connection.imap.tls.rejectUnauthorized).toBe(false);
	});

	it('validates only the protocols asked for: an SMTP-only credential needs no IMAP host', () => {
		const data = generic({ imapHost: '', popHost: '' });
		expect(resolveMailConnection('mailServerOAuth2Api', data, ['smtp']).smtp.host).toBe('smtp.example.test');
		const error = fieldError(() => resolveMailConnection('mailServerOAuth2Api', data, ['smtp', 'imap']));
		expect(error.field).toBe('imapHost');
		expect(error.message).toBe(
			'Credential field "IMAP Host" (imapHost) is empty: enter the IMAP server to use IMAP with this credential',
		);
	});

	it.each([
		['popHost', 'imaps://mail.example.test', 'without a scheme'],
		['popHost', 'mail.example.test:995', 'must not contain a port'],
		['popHost', 'mail example', 'not a valid host name'],
		['popPort', 0, 'from 1 to 65535'],
		['popPort', 70000, 'from 1 to 65535'],
		['popPort', '99.5', 'from 1 to 65535'],
		['popPort', 'abc', 'from 1 to 65535'],
		['popSecurity', 'ssl', 'must be one of auto, tls, starttls, none'],
		['email', 'two words', 'spaces or control characters'],
		['email', '', 'is empty'],
	])('names the field when %s is %p', (field, value, problem) => {
		const error = fieldError(() => resolveMailConnection('mailServerOAuth2Api', generic({ [field]: value }), ['pop3']));
		expect(error.field).toBe(field);
		expect(error.message).toContain(`(${field})`);
		expect(error.message).toContain(problem);
	});

	it('accepts a login name that is not an address (servers such as Dovecot allow it)', () => {
		expect(resolveMailConnection('mailServerOAuth2Api', generic({ email: 'vmailuser' }), ['imap']).email).toBe('vmailuser');
	});

	it('uses the default port when the stored port is missing', () => {
		const connection = resolveMailConnection('mailServerOAuth2Api', generic({ popPort: undefined }), ['pop3']);
		expect(connection.pop3.port).toBe(995);
	});

	it('accepts a bracketed IPv6 literal', () => {
		const connection = resolveMailConnection('mailServerOAuth2Api', generic({ imapHost: '[::1]' }), ['imap']);
		expect(connection.imap.host).toBe('::1');
		expect(connection.imap.tls.servername).toBeUndefined();
	});

	it('rejects credential types it does not know', () => {
		expect(() => resolveMailConnection('gmailOAuth2', generic(), ['imap'])).toThrow('Unsupported credential type');
	});
});

describe('tlsOptionsFor', () => {
	it('gives verification, TLS 1.2 and the host as SNI name for a named host', () => {
		const { imap } = resolveMailConnection('mailServerOAuth2Api', generic(), ['imap']);
		expect(tlsOptionsFor(imap)).toEqual({ rejectUnauthorized: true, minVersion: 'TLSv1.2', servername: 'imap.example.test' });
	});

	it('leaves servername out (not undefined) for an IP address, so a client keeps its own SNI choice', () => {
		const { pop3 } = resolveMailConnection('mailServerOAuth2Api', generic({ popHost: '127.0.0.1' }), ['pop3']);
		const options = tlsOptionsFor(pop3);
		expect(options).toEqual({ rejectUnauthorized: true, minVersion: 'TLSv1.2' });
		expect(Object.keys(options)).not.toContain('servername');
	});

	it('carries allowUnauthorizedCerts, and returns a new object each time (callers add a CA to it)', () => {
		const { smtp } = resolveMailConnection('mailServerOAuth2Api', generic({ allowUnauthorizedCerts: true }), ['smtp']);
		const first = tlsOptionsFor(smtp);
		expect(first.rejectUnauthorized).toBe(false);
		expect(first).not.toBe(tlsOptionsFor(smtp));
		expect(first).not.toBe(smtp.tls);
	});
});

describe('isCertificateVerificationCode', () => {
	it.each(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'INVALID_CA'])(
		'%s: the certificate was refused',
		(code) => {
			expect(isCertificateVerificationCode(code)).toBe(true);
		},
	);

	it.each([undefined, '', 'ECONNREFUSED', 'ETIMEDOUT', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 42])(
		'%p: some other failure (network, protocol, or the server refusing our side)',
		(code) => {
			expect(isCertificateVerificationCode(code)).toBe(false);
		},
	);
});

describe('securityForPort', () => {
	it.each([
		['imap', 993, 'tls'],
		['imap', 143, 'starttls'],
		['smtp', 465, 'tls'],
		['smtp', 587, 'starttls'],
		['smtp', 25, 'starttls'],
		['pop3', 995, 'tls'],
		['pop3', 110, 'starttls'],
		['pop3', 31995, 'tls'],
	] as const)('%s port %d → %s', (protocol, port, expected) => {
		expect(securityForPort(protocol, port)).toBe(expected);
	});

	it('never overrides an explicit choice', () => {
		expect(securityForPort('smtp', 587, 'tls')).toBe('tls');
	});
});

describe('isIpLiteral', () => {
	it.each([
		['127.0.0.1', true],
		['::1', true],
		['2001:db8::5', true],
		['::ffff:10.0.0.1', true],
		['256.1.1.1', false],
		['imap.gmail.com', false],
		['localhost', false],
	])('%s → %s', (host, expected) => {
		expect(isIpLiteral(host)).toBe(expected);
	});
});

/** Stored field names of the generic credential, per protocol (the loopback rule is checked for each). */
const FIELDS: Record<MailProtocol, { host: string; port: string; security: string; label: string }> = {
	imap: { host: 'imapHost', port: 'imapPort', security: 'imapSecurity', label: 'IMAP' },
	smtp: { host: 'smtpHost', port: 'smtpPort', security: 'smtpSecurity', label: 'SMTP' },
	pop3: { host: 'popHost', port: 'popPort', security: 'popSecurity', label: 'POP3' },
};
const PROTOCOLS: MailProtocol[] = ['imap', 'smtp', 'pop3'];

describe('Security "None (Insecure)" is allowed only for a server on this machine', () => {
	const loopback = ['127.0.0.1', '127.45.6.7', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', 'localhost', 'LocalHost', '::ffff:127.0.0.1', '::ffff:7f00:1'];
	const remote = [
		'mail.example.com',
		'10.0.0.5',
		'192.168.1.10',
		'128.0.0.1',
		'0.0.0.0',
		'::',
		'::ffff:10.0.0.1',
		// IPv4-compatible (deprecated), not mapped: not routed to 127.0.0.1.
		'::127.0.0.1',
		'fe80::1',
		'127.1',
		'foo.localhost',
		'localhost.example.com',
		'mylocalhost',
	];

	describe.each(PROTOCOLS)('%s', (protocol) => {
		const fields = FIELDS[protocol];

		it.each(loopback)('accepts plain text to %s', (host) => {
			const connection = resolveMailConnection(
				'mailServerOAuth2Api',
				generic({ [fields.host]: host, [fields.port]: 3100, [fields.security]: 'none' }),
				[protocol],
			);
			expect(connection[protocol]).toMatchObject({ security: 'none', secure: false, requireTLS: false });
		});

		it.each(remote)('refuses plain text to %s, naming the risk and the fix', (host) => {
			const error = fieldError(() =>
				resolveMailConnection('mailServerOAuth2Api', generic({ [fields.host]: host, [fields.port]: 3100, [fields.security]: 'none' }), [
					protocol,
				]),
			);
			expect(error.field).toBe(fields.security);
			expect(error.message).toContain(`(${fields.security}) is "None (Insecure)"`);
			expect(error.message).toContain(`${fields.label} host "${host.replace(/^\[|\]$/g, '')}" is not this machine`);
			expect(error.message).toContain('the OAuth2 access token would cross the network unencrypted');
			expect(error.message).toContain('Choose SSL/TLS or STARTTLS');
		});

		it('still allows TLS and STARTTLS to a remote host', () => {
			for (const security of ['tls', 'starttls', 'auto']) {
				const connection = resolveMailConnection(
					'mailServerOAuth2Api',
					generic({ [fields.host]: 'mail.example.com', [fields.security]: security }),
					[protocol],
				);
				expect(connection[protocol].security).not.toBe('none');
			}
		});
	});

	it('checks only the protocols asked for: a plain-text POP3 setting does not break IMAP use', () => {
		const data = generic({ popHost: 'pop.example.com', popSecurity: 'none' });
		expect(resolveMailConnection('mailServerOAuth2Api', data, ['imap']).imap.security).toBe('tls');
		expect(fieldError(() => resolveMailConnection('mailServerOAuth2Api', data, ['imap', 'pop3'])).field).toBe('popSecurity');
	});

	it('also applies to a node-level override (the rule is about where the token goes, whatever chose "none")', () => {
		const error = fieldError(() =>
			resolveMailConnection('googleMailOAuth2Api', { email: 'me@gmail.com' }, ['smtp'], { smtp: { port: 25, security: 'none' } }),
		);
		expect(error.field).toBe('smtpSecurity');
		expect(error.message).toContain('smtp.gmail.com');
	});

	it('isLoopbackHost agrees with the lists above', () => {
		for (const host of loopback) expect([host, isLoopbackHost(host)]).toEqual([host, true]);
		for (const host of remote) expect([host, isLoopbackHost(host)]).toEqual([host, false]);
		// "localhost." is not a valid host for the credential at all (trailing dot), and not loopback here either.
		expect(isLoopbackHost('localhost.')).toBe(false);
	});
});

describe('CA Certificate (PEM)', () => {
	it('reaches the TLS options of every protocol, on top of Node\'s public roots', () => {
		const connection = resolveMailConnection('mailServerOAuth2Api', generic({ caCertificate: TEST_CA_PEM }), PROTOCOLS);
		for (const protocol of PROTOCOLS) {
			const options = tlsOptionsFor(connection[protocol]);
			expect(options.rejectUnauthorized).toBe(true);
			expect(options.ca).toContain(TEST_CA_PEM);
			// Node's `ca` replaces its default store: the public roots are put back, so public servers still verify.
			expect(options.ca).toEqual(expect.arrayContaining([...tls.rootCertificates]));
			expect(options.ca).toHaveLength(tls.rootCertificates.length + 1);
		}
	});

	it('builds the trust store once per CA set (parsing Node\'s roots is ~20 ms per connection otherwise)', () => {
		const withCa = resolveMailConnection('mailServerOAuth2Api', generic({ caCertificate: TEST_CA_PEM }), PROTOCOLS);
		const contexts = PROTOCOLS.map((protocol) => tlsOptionsFor(withCa[protocol]).secureContext);
		expect(contexts[0]).toBeDefined();
		for (const context of contexts) expect(context).toBe(contexts[0]);
		expect(tlsOptionsFor(withCa.imap).secureContext).toBe(contexts[0]);
		const otherCa = tls.rootCertificates[0];
		expect(trustStoreFor('TLSv1.2', [otherCa])).not.toBe(contexts[0]);
		expect(trustStoreFor('TLSv1.2', [otherCa])).toBe(trustStoreFor('TLSv1.2', [otherCa]));
	});

	it('leaves `ca` out when the field is empty, so Node uses its default trust store', () => {
		for (const caCertificate of [undefined, '', '  \n ']) {
			const { imap } = resolveMailConnection('mailServerOAuth2Api', generic({ caCertificate }), ['imap']);
			expect(Object.keys(tlsOptionsFor(imap))).not.toContain('ca');
			expect(Object.keys(tlsOptionsFor(imap))).not.toContain('secureContext');
		}
	});

	it('is ignored for the Google credential (Gmail has public certificates and no such field)', () => {
		const { imap } = resolveMailConnection('googleMailOAuth2Api', { email: 'me@gmail.com', caCertificate: TEST_CA_PEM }, ['imap']);
		expect(Object.keys(tlsOptionsFor(imap))).not.toContain('ca');
	});

	it.each([
		['with CRLF line breaks', TEST_CA_PEM.replace(/\n/g, '\r\n')],
		['with its line breaks stripped (a single-line input)', TEST_CA_PEM.replace(/\n/g, '')],
		['with spaces for line breaks', TEST_CA_PEM.replace(/\n/g, ' ')],
		['JSON-escaped (literal \\n)', TEST_CA_PEM.replace(/\n/g, '\\n')],
		['surrounded by openssl output and comments', `subject=CN = Unit Test Company CA\n# our CA\n${TEST_CA_PEM}\n`],
	])('accepts the PEM %s and hands clients the same normalised certificate', (_label, pasted) => {
		expect(readCaCertificates('caCertificate', pasted)).toEqual([TEST_CA_PEM]);
	});

	it('accepts several certificates (a bundle)', () => {
		expect(readCaCertificates('caCertificate', `${TEST_CA_PEM}\n${TEST_CA_PEM}`)).toEqual([TEST_CA_PEM, TEST_CA_PEM]);
	});

	const body = TEST_CA_PEM.replace(/-----[A-Z ]+-----|\n/g, '');
	it.each([
		['plain text', 'my company CA', 'is not a PEM certificate'],
		['base64 without the BEGIN/END lines', body, 'is not a PEM certificate'],
		['a BEGIN line without END', TEST_CA_PEM.replace('-----END CERTIFICATE-----', ''), 'unfinished PEM block'],
		['a private key', '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----', 'contains a private key'],
		['a certificate request', '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----', '"CERTIFICATE REQUEST" block'],
		['broken base64', TEST_CA_PEM.replace('MIIBlj', 'MI*Blj'), 'not valid base64'],
		['valid base64 that is no certificate', '-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----', 'cannot be read as an X.509 certificate'],
		['a certificate cut short', TEST_CA_PEM.replace(/DrtU9WQf.*\n/, ''), 'cannot be read as an X.509 certificate'],
		['a number', 42, 'must be text'],
	])('refuses %s at resolve time with a clear error that does not quote the field', (_label, value, problem) => {
		const error = fieldError(() =>
			resolveMailConnection('mailServerOAuth2Api', generic({ caCertificate: value }), ['smtp']),
		);
		expect(error.field).toBe('caCertificate');
		expect(error.message).toContain('Credential field "CA Certificate (PEM)" (caCertificate)');
		expect(error.message).toContain(problem);
		expect(error.message).toContain('-----BEGIN CERTIFICATE-----');
		expect(error.message).not.toContain('MIGHAgEAMBMGByqGSM49');
		expect(error.message).not.toContain('MIIBlj');
	});

	it('is validated only when a protocol is resolved', () => {
		expect(resolveMailConnection('mailServerOAuth2Api', generic({ caCertificate: 'junk' }), []).email).toBe('user@example.test');
	});
});

describe("the credential's CA reaches tls.connect of every protocol client", () => {
	/** Stops each client at its first tls.connect, keeping the options it passed. No traffic leaves the process. */
	let captured: tls.ConnectionOptions[];
	let connectSpy: jest.SpyInstance;
	beforeEach(() => {
		captured = [];
		connectSpy = jest.spyOn(tlsModule, 'connect').mockImplementation(((options: tls.ConnectionOptions) => {
			captured.push(options);
			throw Object.assign(new Error('stopped at tls.connect by the test'), { code: 'TEST_STOP' });
		}) as unknown as typeof tls.connect);
	});
	afterEach(() => connectSpy.mockRestore());

	const tokens = {
		credentialType: 'mailServerOAuth2Api',
		email: 'user@example.test',
		node: { id: 'n', name: 'n', type: 't', typeVersion: 1, position: [0, 0], parameters: {} },
		getAccessToken: async () => 'test-access-token',
		refresh: async () => 'test-access-token',
		expiresAt: () => undefined,
		redact: (text: unknown) => String(text),
		rejectedAfterRefreshError: () => {
			throw new Error('not expected');
		},
	} as unknown as TokenSource;
	const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
	// An IP literal on loopback: no DNS lookup, and tls.connect never really runs anyway.
	const connection = () =>
		resolveMailConnection(
			'mailServerOAuth2Api',
			generic({
				imapHost: '127.0.0.1',
				imapPort: 1,
				imapSecurity: 'tls',
				smtpHost: '127.0.0.1',
				smtpPort: 1,
				smtpSecurity: 'tls',
				popHost: '127.0.0.1',
				popPort: 1,
				popSecurity: 'tls',
				caCertificate: TEST_CA_PEM,
			}),
			PROTOCOLS,
		);

	function expectCaPassed(): void {
		expect(captured).toHaveLength(1);
		const [options] = captured;
		expect(options.rejectUnauthorized).toBe(true);
		expect(options.ca).toContain(TEST_CA_PEM);
		expect(options.ca).toEqual(expect.arrayContaining([...tls.rootCertificates]));
		// the trust store is built once and shared by every connection of this CA set
		expect(options.secureContext).toBe(trustStoreFor('TLSv1.2', [TEST_CA_PEM]));
	}

	it('IMAP (imapflow, as the trigger opens a session)', async () => {
		await expect(
			openImapSession({
				endpoint: connection().imap,
				tokens,
				createClient: createImapFlowClient,
				logger: quiet,
				timing: DEFAULT_SESSION_TIMING,
				track: () => undefined,
				label: 'ca-test',
			}),
		).rejects.toBeDefined();
		expectCaPassed();
	});

	it('SMTP (nodemailer, as the SMTP node sends)', async () => {
		const sender = new SmtpSender({ endpoint: connection().smtp, tokens, connectionTimeoutMs: 2000 });
		try {
			await expect(sender.send({ from: 'user@example.test', to: 'someone@example.test', text: 'x' })).rejects.toBeDefined();
		} finally {
			sender.close();
		}
		expectCaPassed();
	});

	it('POP3 (the package client, as the POP node opens the mailbox)', async () => {
		await expect(openPop3Mailbox({ endpoint: connection().pop3, tokens, user: 'user@example.test' })).rejects.toBeDefined();
		expectCaPassed();
	});
});

describe('mailAccountKey', () => {
	it('is host, port and account, trimmed and lower-cased: one key for one mailbox however it is spelt', () => {
		expect(mailAccountKey({ host: 'POP.Gmail.com ', port: 995 }, ' User@Example.com')).toBe('pop.gmail.com:995/user@example.com');
		expect(mailAccountKey({ host: 'h', port: 993 }, 'a@x')).not.toBe(mailAccountKey({ host: 'h', port: 143 }, 'a@x'));
	});
});
