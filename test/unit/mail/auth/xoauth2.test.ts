import {
	buildXOAuth2InitialResponse,
	decodeXOAuth2Challenge,
	describeXOAuth2Challenge,
} from '../../../../nodes/mail/auth/xoauth2';

describe('buildXOAuth2InitialResponse', () => {
	it('encodes user and bearer token with ^A separators as Google documents', () => {
		const encoded = buildXOAuth2InitialResponse('someuser@example.com', 'ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg');
		// The exact example string from Google's XOAUTH2 protocol documentation.
		expect(encoded).toBe(
			'dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==',
		);
	});

	it('round-trips non-ASCII addresses as UTF-8', () => {
		const decoded = Buffer.from(buildXOAuth2InitialResponse('jösé@exämple.test', 'tok'), 'base64').toString('utf8');
		expect(decoded).toBe('user=jösé@exämple.test\x01auth=Bearer tok\x01\x01');
	});

	it.each([
		['user with ^A', 'a\x01auth=Bearer evil@x', 'tok'],
		['user with CRLF', 'a@b\r\nA1 LOGOUT', 'tok'],
		['token with space', 'a@b', 'to k'],
		['token with ^A', 'a@b', 'tok\x01'],
		['empty user', '', 'tok'],
		['empty token', 'a@b', ''],
	])('refuses %s', (_label, user, token) => {
		expect(() => buildXOAuth2InitialResponse(user, token)).toThrow();
	});

	it('never echoes the token in its error', () => {
		try {
			buildXOAuth2InitialResponse('a@b', 'secret-token value');
			throw new Error('expected a throw');
		} catch (error) {
			expect((error as Error).message).not.toContain('secret-token');
		}
	});
});

describe('decodeXOAuth2Challenge', () => {
	const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

	it("decodes Gmail's challenge", () => {
		expect(
			decodeXOAuth2Challenge(b64('{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}')),
		).toEqual({ status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' });
	});

	it("decodes Dovecot's challenge, surrounding whitespace included", () => {
		expect(decodeXOAuth2Challenge(` ${b64('{"status":"401","schemes":"bearer","scope":"mail"}')}\r\n`)).toEqual({
			status: '401',
			schemes: 'bearer',
			scope: 'mail',
		});
	});

	it('accepts a numeric status', () => {
		expect(decodeXOAuth2Challenge(b64('{"status":401}'))).toEqual({ status: '401' });
	});

	it.each([
		['empty', ''],
		['not base64', 'NO [AUTHENTICATIONFAILED] Invalid credentials'],
		['base64 of non-JSON', b64('hello')],
		['base64 of a JSON array', b64('[1,2]')],
		['base64 of JSON null', b64('null')],
	])('returns undefined for %s', (_label, input) => {
		expect(decodeXOAuth2Challenge(input)).toBeUndefined();
	});

	it('ignores fields it does not know and values of the wrong type', () => {
		expect(decodeXOAuth2Challenge(b64('{"status":{"x":1},"scope":"s","extra":"y"}'))).toEqual({ scope: 's' });
	});

	it("reads the object imapflow already decoded (its error's oauthError) with the same rules", () => {
		expect(decodeXOAuth2Challenge({ status: 401, schemes: 'bearer', scope: ['x'], extra: 'y' })).toEqual({
			status: '401',
			schemes: 'bearer',
		});
		expect(decodeXOAuth2Challenge({})).toEqual({});
	});

	it.each([
		['undefined', undefined],
		['null', null],
		['a number', 401],
		['an array', [{ status: '401' }]],
	])('returns undefined for %s', (_label, input) => {
		expect(decodeXOAuth2Challenge(input)).toBeUndefined();
	});
});

describe('describeXOAuth2Challenge', () => {
	it('names status and scope', () => {
		expect(describeXOAuth2Challenge({ status: '401', scope: 'https://mail.google.com/' })).toBe(
			'the server answered status 401 (scope "https://mail.google.com/")',
		);
	});
	it('still says something without a status', () => {
		expect(describeXOAuth2Challenge({})).toBe('the server refused the token');
	});
	it('says the same without any challenge (a refusal in plain text)', () => {
		expect(describeXOAuth2Challenge(undefined)).toBe('the server refused the token');
	});
});
