/**
 * POP3 on the stack over a raw TLS socket: AUTH XOAUTH2 with a token from the token server, STAT against the
 * mailbox as Dovecot stores it, an expired token refused with the JSON challenge, and the fixed PLAIN password.
 */
import { buildXOAuth2InitialResponse, decodeXOAuth2Challenge } from '../../../nodes/mail/auth/xoauth2';
import { getStack, LineClient, waitForTokenExpiry } from '../../stack';

const stack = getStack();

async function pop3Client(secure = true): Promise<LineClient> {
	const client = await LineClient.connect({
		host: stack.host,
		port: secure ? stack.ports.pop3s : stack.ports.pop3,
		tls: secure ? stack.tlsOptions() : undefined,
	});
	expect(await client.readLine()).toMatch(/^\+OK/);
	return client;
}

describe('POP3 with OAuth2 access tokens', () => {
	const user = stack.newMailbox('pop');
	let shortLivedToken: string;

	beforeAll(async () => {
		shortLivedToken = (await stack.issueTokens(user, { lifetimeSeconds: 1 })).access_token;
		await stack.deliver({ from: 'sender@example.test', to: user, subject: 'first', text: 'one' });
		await stack.deliver({ from: 'sender@example.test', to: user, subject: 'second', text: 'two'.repeat(100) });
	});

	it('logs in with AUTH XOAUTH2 over implicit TLS; STAT matches what the server stores', async () => {
		const stored = await stack.mailboxState(user);
		const client = await pop3Client();
		try {
			expect(await client.command(`AUTH XOAUTH2 ${buildXOAuth2InitialResponse(user, await stack.accessToken(user))}`)).toMatch(/^\+OK/);
			const totalSize = stored.messages.reduce((sum, message) => sum + message.size, 0);
			expect(await client.command('STAT')).toBe(`+OK 2 ${totalSize}`);
			expect((await stack.connectedSessions(user)).map((session) => session.protocol)).toEqual(['pop3']);
			expect(await client.command('QUIT')).toMatch(/^\+OK/);
		} finally {
			client.close();
		}
		await stack.waitForNoSessions(user);
	});

	it('refuses an expired token: "+ <base64 JSON>" with status 401, then -ERR after the empty answer', async () => {
		await waitForTokenExpiry(shortLivedToken);
		const client = await pop3Client();
		try {
			const challenge = await client.command(`AUTH XOAUTH2 ${buildXOAuth2InitialResponse(user, shortLivedToken)}`);
			expect(challenge).toMatch(/^\+ \S+$/);
			expect(decodeXOAuth2Challenge(challenge.slice(2))).toMatchObject({ status: '401', schemes: 'bearer' });
			expect(await client.command('')).toMatch(/^-ERR/);
			// Still in the authorization state: no mailbox access after a refused token.
			expect(await client.command('STAT')).toMatch(/^-ERR/);
		} finally {
			client.close();
		}
	});

	it('accepts the fixed PLAIN password on the plain port (for comparisons with password-only clients)', async () => {
		const client = await pop3Client(false);
		try {
			expect(await client.command(`USER ${user}`)).toMatch(/^\+OK/);
			expect(await client.command('PASS not-the-password')).toMatch(/^-ERR/);
			expect(await client.command(`USER ${user}`)).toMatch(/^\+OK/);
			expect(await client.command(`PASS ${stack.info.plainPassword}`)).toMatch(/^\+OK/);
			expect(await client.command('STAT')).toMatch(/^\+OK 2 /);
		} finally {
			client.close();
		}
	});
});
