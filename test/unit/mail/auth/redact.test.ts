import { REDACTED, describeErrorSafely, redact } from '../../../../nodes/mail/auth/redact';

describe('redact', () => {
	it('removes known secrets, also URL-encoded and form-encoded', () => {
		const secret = 'se cret/+=value';
		const text = `raw ${secret} url ${encodeURIComponent(secret)} form ${encodeURIComponent(secret).replace(/%20/g, '+')}`;
		expect(redact(text, [secret])).toBe(`raw ${REDACTED} url ${REDACTED} form ${REDACTED}`);
	});

	it('removes the longer of two overlapping secrets whole', () => {
		expect(redact('x abcdefgh-XYZ y', ['abcdefgh', 'abcdefgh-XYZ'])).toBe(`x ${REDACTED} y`);
	});

	it('leaves very short "secrets" alone rather than shredding ordinary words', () => {
		expect(redact('a cat of news', ['a', 'of'])).toBe('a cat of news');
	});

	it.each([
		['Authorization: Bearer abc.def-ghi', `Authorization: Bearer ${REDACTED}`],
		['Authorization: Basic bjhuLWNsaWVudDpzZWNyZXQ=', `Authorization: Basic ${REDACTED}`],
		['grant_type=refresh_token&refresh_token=r1.x&client_secret=s3&client_id=id', `grant_type=refresh_token&refresh_token=${REDACTED}&client_secret=${REDACTED}&client_id=id`],
		['{"access_token":"tok","expires_in":3599}', `{"access_token":"${REDACTED}","expires_in":3599}`],
		["{ refresh_token: 'tok2' }", `{ refresh_token: '${REDACTED}' }`],
		['A1 AUTHENTICATE XOAUTH2 dXNlcj1hQGIBYXV0aD1CZWFyZXIgdG9rAQE=', `A1 AUTHENTICATE XOAUTH2 ${REDACTED}`],
		['AUTH XOAUTH2 dXNlcj1hQGIBYXV0aD1CZWFyZXIgdG9rAQE=', `AUTH XOAUTH2 ${REDACTED}`],
		['sent dXNlcj1hQGIBYXV0aD1CZWFyZXIgdG9rAQE= alone', `sent ${REDACTED} alone`],
		['token ya29.a0AfB_byC-1x was refused', `token ${REDACTED} was refused`],
		['refresh 1//0gAbCdEfGhIjKlMn expired', `refresh ${REDACTED} expired`],
		['jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln end', `jwt ${REDACTED} end`],
	])('removes unknown secrets by pattern: %s', (input, expected) => {
		expect(redact(input)).toBe(expected);
	});

	it('keeps ordinary error text readable', () => {
		const text = 'connect ECONNREFUSED 127.0.0.1:993; NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)';
		expect(redact(text)).toBe(text);
	});

	it('accepts non-strings', () => {
		expect(redact({ access_token: 'abcdefgh' }, ['abcdefgh'])).toBe(`{"access_token":"${REDACTED}"}`);
		expect(redact(undefined)).toBe('');
		expect(redact(42)).toBe('42');
	});
});

describe('describeErrorSafely', () => {
	it('gives message and code, redacted, and nothing of the request config', () => {
		const error = Object.assign(new Error('Request failed with status code 400'), {
			code: 'ERR_BAD_REQUEST',
			config: { data: 'refresh_token=should-not-appear' },
		});
		expect(describeErrorSafely(error)).toBe('Request failed with status code 400 (ERR_BAD_REQUEST)');
	});

	it('does not repeat a code the message already names', () => {
		const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
		expect(describeErrorSafely(error)).toBe('connect ECONNREFUSED 127.0.0.1:1');
	});

	it('redacts known secrets in the message', () => {
		expect(describeErrorSafely(new Error('bad token secret-value-1'), ['secret-value-1'])).toBe(`bad token ${REDACTED}`);
	});
});
