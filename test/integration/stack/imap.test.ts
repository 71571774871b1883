/**
 * IMAP on the stack with tokens from its token server: imapflow (OAUTHBEARER, what it picks when offered) and raw
 * SASL XOAUTH2 (Gmail's mechanism), expired tokens refused, and a server-side kick seen by imapflow.
 */
import { ImapFlow } from 'imapflow';
import { buildXOAuth2InitialResponse, decodeXOAuth2Challenge } from '../../../nodes/mail/auth/xoauth2';
import { getStack, LineClient, waitForTokenExpiry } from '../../stack';

const stack = getStack();

interface ImapFailure {
	authenticationFailed?: boolean;
	serverResponseCode?: string;
	oauthError?: { status?: string; schemes?: string; scope?: string };
}

function imapClient(user: string, accessToken: string, options: { port?: number; secure?: boolean } = {}): ImapFlow {
	const client = new ImapFlow({
		host: stack.host,
		port: options.port ?? stack.ports.imaps,
		secure: options.secure ?? true,
		tls: stack.tlsOptions(),
		auth: { user, accessToken },
		logger: false,
	});
	// imapflow emits 'error' on socket trouble; without a listener the test process would die instead of failing.
	client.on('error', () => undefined);
	return client;
}

async function rawImapsClient(): Promise<LineClient> {
	const client = await LineClient.connect({ host: stack.host, port: stack.ports.imaps, tls: stack.tlsOptions() });
	// Both OAuth mechanisms on offer, as on Gmail: imapflow picks OAUTHBEARER, Gmail's documentation shows XOAUTH2.
	expect(await client.readLine()).toMatch(/^\* OK \[CAPABILITY .*AUTH=XOAUTH2 AUTH=OAUTHBEARER/);
	return client;
}

describe('IMAP with OAuth2 access tokens', () => {
	const user = stack.newMailbox('imap');
	let shortLivedToken: string;

	beforeAll(async () => {
		// Issued first, used last: it expires while the other tests run.
		shortLivedToken = (await stack.issueTokens(user, { lifetimeSeconds: 1 })).access_token;
	});

	it('logs in over implicit TLS with imapflow and reads a delivered message; the session ends on logout', async () => {
		await stack.deliver({ from: 'sender@example.test', to: user, subject: 'IMAP hello', text: 'body' });
		const client = imapClient(user, await stack.accessToken(user));
		await client.connect();
		try {
			expect(client.authenticated).toBeTruthy();
			const mailbox = await client.mailboxOpen('INBOX');
			expect(mailbox.exists).toBe(1);
			const message = await client.fetchOne('1', { envelope: true });
			expect(message && message.envelope?.subject).toBe('IMAP hello');
			expect((await stack.connectedSessions(user)).map((session) => session.protocol)).toEqual(['imap']);
		} finally {
			await client.logout();
		}
		await stack.waitForNoSessions(user);
	});

	it('logs in on the plain port after STARTTLS', async () => {
		const client = imapClient(user, await stack.accessToken(user), { port: stack.ports.imap, secure: false });
		await client.connect();
		try {
			// Connected in clear text; imapflow upgraded with STARTTLS (verifying the stack's CA) before sending the token.
			expect(client.secureConnection).toBe(true);
			expect(client.authenticated).toBeTruthy();
			expect((await stack.connectedSessions(user)).length).toBe(1);
		} finally {
			await client.logout();
		}
	});

	it('accepts SASL XOAUTH2 built by our initial response builder', async () => {
		const client = await rawImapsClient();
		try {
			client.send(`A1 AUTHENTICATE XOAUTH2 ${buildXOAuth2InitialResponse(user, await stack.accessToken(user))}`);
			const lines = await client.readUntil(/^A1 /);
			expect(lines[lines.length - 1]).toMatch(/^A1 OK/);
		} finally {
			client.close();
		}
	});

	it('refuses a token signed by someone else', async () => {
		const token = await stack.accessToken(user);
		const [header, payload] = token.split('.');
		const forged = `${header}.${payload}.${Buffer.alloc(256, 1).toString('base64url')}`;
		const client = imapClient(user, forged);
		await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true });
	});

	it('refuses a token issued for another account', async () => {
		const client = imapClient(user, await stack.accessToken(stack.newMailbox('someone-else')));
		await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true });
	});

	it('refuses an expired token: raw XOAUTH2 gets the 401 JSON challenge, then NO [AUTHENTICATIONFAILED]', async () => {
		await waitForTokenExpiry(shortLivedToken);
		const client = await rawImapsClient();
		try {
			client.send(`A1 AUTHENTICATE XOAUTH2 ${buildXOAuth2InitialResponse(user, shortLivedToken)}`);
			const challenge = await client.readLine();
			expect(challenge).toMatch(/^\+ /);
			expect(decodeXOAuth2Challenge(challenge.slice(2))).toMatchObject({ status: '401', schemes: 'bearer' });
			// The client answers the challenge with an empty line; only then comes the final status.
			client.send('');
			expect(await client.readLine()).toMatch(/^A1 NO \[AUTHENTICATIONFAILED\]/);
		} finally {
			client.close();
		}
	});

	it('refuses an expired token: imapflow reports authenticationFailed with the decoded OAuth error', async () => {
		await waitForTokenExpiry(shortLivedToken);
		const client = imapClient(user, shortLivedToken);
		const failure: ImapFailure = await client.connect().then(
			() => ({}),
			(error: unknown) => error as ImapFailure,
		);
		expect(failure.authenticationFailed).toBe(true);
		expect(failure.serverResponseCode).toBe('AUTHENTICATIONFAILED');
		expect(failure.oauthError).toMatchObject({ status: expect.stringMatching(/^(401|invalid_token)$/) });
		expect(client.usable).toBe(false);
	});

	it('kick closes a live session like a Gmail session expiry: close event, BYE reason, nothing left open', async () => {
		const client = imapClient(user, await stack.accessToken(user));
		await client.connect();
		await client.mailboxOpen('INBOX');
		const errors: unknown[] = [];
		client.on('error', (error: unknown) => errors.push(error));
		const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));

		await stack.kick(user);
		await closed;

		expect(client.usable).toBe(false);
		expect(client.byeReason).toBe('Server shutting down.');
		expect(errors).toEqual([]);
		await stack.waitForNoSessions(user);
	});
});
