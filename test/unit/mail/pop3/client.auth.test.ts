import { TokenRejectedError } from '../../../../nodes/mail/auth/errors';
import type { Pop3Client } from '../../../../nodes/mail/pop3/client';
import {
	Pop3AccessDisabledError,
	Pop3ConnectionError,
	Pop3Error,
	Pop3MechanismUnsupportedError,
	Pop3ProtocolError,
	Pop3ServerBusyError,
	Pop3TimeoutError,
} from '../../../../nodes/mail/pop3/errors';
import { BAD_TOKEN, clientFor, everythingIn, GOOD_TOKEN, secretForms, USER } from './clientTestKit';
import { type CommandHandler, FakeMailbox, type FakePop3Server, GMAIL_CHALLENGE_JSON, startFakePop3Server } from './fakePop3Server';

const CHALLENGE_LINE = `+ ${Buffer.from(GMAIL_CHALLENGE_JSON).toString('base64')}\r\n`;

let servers: FakePop3Server[] = [];
const clients: Pop3Client[] = [];
afterEach(async () => {
	for (const client of clients.splice(0)) client.destroy();
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

/** A server with Gmail's CAPA whose AUTH reply is scripted; other commands get +OK. */
async function authServer(onAuth: CommandHandler, capabilities?: string[]): Promise<FakePop3Server> {
	const mailbox = new FakeMailbox({ messages: [], capabilities, validToken: GOOD_TOKEN });
	const standard = mailbox.handler();
	const inAuth = new WeakSet<object>();
	const server = await startFakePop3Server({
		onCommand: async (command, session) => {
			if (command.startsWith('AUTH ')) {
				inAuth.add(session);
				return onAuth(command, session);
			}
			// The client's answer to a challenge is an empty line.
			if (command === '' && inAuth.has(session)) return onAuth(command, session);
			inAuth.delete(session);
			return standard(command, session);
		},
	});
	servers.push(server);
	return server;
}

async function loginError(server: FakePop3Server, token = BAD_TOKEN, log: string[] = []): Promise<unknown> {
	const client = clientFor(server, { logger: (line) => log.push(line) });
	clients.push(client);
	await client.connect();
	return client.authenticateXOAuth2(USER, token).then(
		() => {
			throw new Error('login unexpectedly succeeded');
		},
		(error: unknown) => error,
	);
}

describe('Pop3Client XOAUTH2 login', () => {
	it('answers the challenge with an empty line and throws TokenRejectedError with the decoded status', async () => {
		const server = await authServer(async (command, session) => {
			if (command.startsWith('AUTH')) await session.send(CHALLENGE_LINE);
			else await session.send('-ERR [AUTH] Invalid credentials.\r\n');
		});
		const error = await loginError(server);
		expect(error).toBeInstanceOf(TokenRejectedError);
		expect(error).toMatchObject({
			protocol: 'pop3',
			challenge: { status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' },
			serverText: '[AUTH] Invalid credentials.',
		});
		expect((error as Error).message).toContain('status 400');
		// The client sent exactly the AUTH line and then an empty line, nothing else.
		expect(server.sessions[0].received.slice(1)).toEqual([`AUTH XOAUTH2 ${secretForms(USER, BAD_TOKEN)[1]}`, '']);
	});

	it('lets the caller retry with a refreshed token on the same connection', async () => {
		const mailbox = new FakeMailbox({ messages: ['Subject: x\r\n\r\nhi\r\n'], validToken: GOOD_TOKEN });
		const server = await startFakePop3Server({ onCommand: mailbox.handler() });
		servers.push(server);
		const client = clientFor(server);
		clients.push(client);
		await client.connect();
		await expect(client.authenticateXOAuth2(USER, BAD_TOKEN)).rejects.toBeInstanceOf(TokenRejectedError);
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect(await client.stat()).toEqual({ count: 1, size: 18 });
		await client.quit();
	});

	it.each([
		['-ERR [AUTH] Invalid credentials.', '[AUTH] Invalid credentials.'],
		['-ERR authentication failed', 'authentication failed'],
		['-ERR', ''],
	])('treats %j straight after AUTH as a refused token', async (reply, serverText) => {
		const server = await authServer(async (_command, session) => session.send(`${reply}\r\n`));
		const error = await loginError(server);
		expect(error).toBeInstanceOf(TokenRejectedError);
		expect((error as TokenRejectedError).challenge).toBeUndefined();
		expect((error as TokenRejectedError).serverText).toBe(serverText);
	});

	it('reports Gmail\'s [SYS/PERM] as "POP is disabled" with how to enable it, not as a token problem', async () => {
		const server = await authServer(async (_command, session) =>
			session.send('-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.\r\n'),
		);
		const error = await loginError(server);
		expect(error).toBeInstanceOf(Pop3AccessDisabledError);
		expect(error).not.toBeInstanceOf(TokenRejectedError);
		expect(error).toMatchObject({ code: 'POP3_ACCESS_DISABLED', responseCode: 'SYS/PERM', transient: false, step: 'AUTH XOAUTH2' });
		expect((error as Error).message).toContain('Forwarding and POP/IMAP');
		expect((error as Error).message).toContain('Enable POP');
		expect((error as Error).message).toContain('Your account is not enabled for POP access');
	});

	it.each([
		['-ERR [SYS/TEMP] Web login required, too many connections', 'SYS/TEMP'],
		['-ERR [IN-USE] Mailbox locked by another session', 'IN-USE'],
		['-ERR [LOGIN-DELAY] Minimum time between logins is 300 seconds', 'LOGIN-DELAY'],
	])('reports %j as a transient busy error', async (reply, responseCode) => {
		const server = await authServer(async (_command, session) => session.send(`${reply}\r\n`));
		const error = await loginError(server);
		expect(error).toBeInstanceOf(Pop3ServerBusyError);
		expect(error).toMatchObject({ code: 'POP3_SERVER_BUSY', responseCode, transient: true });
	});

	it('classifies by the response code after a challenge as well', async () => {
		const server = await authServer(async (command, session) => {
			if (command.startsWith('AUTH')) await session.send(CHALLENGE_LINE);
			else await session.send('-ERR [SYS/PERM] Your account is not enabled for POP access\r\n');
		});
		expect(await loginError(server)).toBeInstanceOf(Pop3AccessDisabledError);
	});

	it('does not send the token when CAPA lists SASL mechanisms without XOAUTH2', async () => {
		const server = await authServer(async (_command, session) => session.send('+OK\r\n'), ['USER', 'SASL PLAIN LOGIN']);
		const error = await loginError(server);
		expect(error).toBeInstanceOf(Pop3MechanismUnsupportedError);
		expect(error).toMatchObject({ code: 'POP3_XOAUTH2_UNSUPPORTED' });
		expect(server.allCommands.some((command) => command.startsWith('AUTH'))).toBe(false);
	});

	it('refuses a second continuation after the empty line as a protocol error', async () => {
		const server = await authServer(async (_command, session) => session.send(CHALLENGE_LINE));
		const error = await loginError(server);
		expect(error).toBeInstanceOf(Pop3ProtocolError);
	});

	it('checks user and token before anything is sent', async () => {
		const server = await authServer(async (_command, session) => session.send('+OK\r\n'));
		const client = clientFor(server);
		clients.push(client);
		await client.connect();
		await expect(client.authenticateXOAuth2('a@b\r\nQUIT', GOOD_TOKEN)).rejects.toThrow('control characters');
		await expect(client.authenticateXOAuth2(USER, 'to ken')).rejects.toThrow('whitespace');
		expect(server.allCommands).toEqual(['CAPA']);
	});
});

describe('Pop3Client redaction', () => {
	const secrets = secretForms(USER, BAD_TOKEN);
	const expectClean = (text: string) => {
		for (const secret of secrets) expect(text).not.toContain(secret);
	};

	it.each<[string, CommandHandler, abstract new (...args: never[]) => Error]>([
		[
			'challenge then -ERR',
			async (command, session) => session.send(command.startsWith('AUTH') ? CHALLENGE_LINE : '-ERR [AUTH] Invalid credentials.\r\n'),
			TokenRejectedError,
		],
		[
			'a server that echoes the AUTH line in its -ERR',
			async (command, session) => session.send(`-ERR [AUTH] rejected: ${command} (token ${BAD_TOKEN})\r\n`),
			TokenRejectedError,
		],
		[
			'a server that echoes the AUTH line as garbage',
			async (command, session) => session.send(`${command}\r\n`),
			Pop3ProtocolError,
		],
		[
			'a server that echoes the token in [SYS/PERM]',
			async (_command, session) => session.send(`-ERR [SYS/PERM] no POP for auth=Bearer ${BAD_TOKEN}\r\n`),
			Pop3AccessDisabledError,
		],
		['a server that never answers AUTH', async () => undefined, Pop3TimeoutError],
		['a server that hangs up on AUTH', async (_command, session) => session.destroy(), Pop3ConnectionError],
	])('keeps the token out of errors and logs: %s', async (_label, onAuth, expectedClass) => {
		const server = await authServer(onAuth);
		const log: string[] = [];
		const client = clientFor(server, {
			logger: (line) => log.push(line),
			timeouts: { connect: 3000, greeting: 3000, command: expectedClass === Pop3TimeoutError ? 300 : 3000, idle: 3000 },
		});
		clients.push(client);
		await client.connect();
		const error = await client.authenticateXOAuth2(USER, BAD_TOKEN).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(expectedClass);
		expectClean(everythingIn(error));
		expectClean(log.join('\n'));
		expect(log).toContain('C: AUTH XOAUTH2 [redacted]');
		if (error instanceof Pop3Error) expect(error.transcript).toContain('C: AUTH XOAUTH2 [redacted]');
		// Later failures on the same client must not leak it either.
		const later = await client.noop().catch((caught: unknown) => caught);
		expectClean(everythingIn(later));
		client.destroy();
		expectClean(log.join('\n'));
	});
});
