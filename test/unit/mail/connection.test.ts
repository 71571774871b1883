import {
	GMAIL_ENDPOINTS,
	MailCredentialFieldError,
	isCertificateVerificationCode,
	isIpLiteral,
	resolveMailConnection,
	securityForPort,
	tlsOptionsFor,
} from '../../../nodes/mail/connection';

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
			generic({ imapHost: '127.0.0.1', imapPort: '31143', imapSecurity: 'starttls', popPort: 31110, popSecurity: 'none' }),
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
