import * as net from 'node:net';

import { Pop3Client, type Pop3Timeouts } from '../../../../nodes/mail/pop3/client';
import {
	Pop3CommandError,
	Pop3ConnectionError,
	Pop3ProtocolError,
	Pop3ServerBusyError,
	Pop3TimeoutError,
} from '../../../../nodes/mail/pop3/errors';
import { clientFor, GOOD_TOKEN, readAll, serverSawClose, USER } from './clientTestKit';
import { type CommandHandler, type FakePop3Server, multiLineWire, pause, startFakePop3Server } from './fakePop3Server';

/** Generous for replies that do come (the machine may be loaded); each timeout test shortens only the step it tests. */
const SHORT: Pop3Timeouts = { connect: 3000, greeting: 3000, command: 3000, idle: 3000, listing: 3000, body: 3000 };

let servers: FakePop3Server[] = [];
const clients: Pop3Client[] = [];
afterEach(async () => {
	for (const client of clients.splice(0)) client.destroy();
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

/** No CAPA, AUTH always accepted, then `onCommand` for the rest. */
async function server(onCommand: CommandHandler, greeting?: string | null): Promise<FakePop3Server> {
	const started = await startFakePop3Server({
		greeting,
		onCommand: async (command, session) => {
			if (command === 'CAPA') return session.send('-ERR\r\n');
			if (command.startsWith('AUTH ')) return session.send('+OK\r\n');
			return onCommand(command, session);
		},
	});
	servers.push(started);
	return started;
}

async function loggedIn(fake: FakePop3Server, timeouts: Partial<Pop3Timeouts> = SHORT): Promise<Pop3Client> {
	const client = clientFor(fake, { timeouts });
	clients.push(client);
	await client.connect();
	await client.authenticateXOAuth2(USER, GOOD_TOKEN);
	return client;
}

describe('Pop3Client timeouts', () => {
	it('names the greeting step when the server never greets, and closes the socket', async () => {
		const fake = await server(() => undefined, null);
		const client = clientFor(fake, { timeouts: { ...SHORT, greeting: 250 } });
		clients.push(client);
		const started = Date.now();
		const error = await client.connect().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3TimeoutError);
		expect(error).toMatchObject({ code: 'POP3_TIMEOUT', step: 'greeting', timeoutMs: 250, transient: true });
		expect((error as Error).message).toContain('(step: greeting)');
		expect(Date.now() - started).toBeGreaterThanOrEqual(240);
		await serverSawClose(fake);
	});

	it('names the connect step when the TLS handshake never completes', async () => {
		// A TCP server that accepts and then stays silent: the client's ClientHello gets no answer.
		const accepted: net.Socket[] = [];
		const silent = net.createServer((socket) => accepted.push(socket));
		await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
		const port = (silent.address() as net.AddressInfo).port;
		const client = new Pop3Client({ host: '127.0.0.1', port, security: 'tls', timeouts: { ...SHORT, connect: 200 } });
		clients.push(client);
		const error = await client.connect().catch((caught: unknown) => caught);
		expect(error).toMatchObject({ code: 'POP3_TIMEOUT', step: 'connect' });
		for (const socket of accepted) socket.destroy();
		await new Promise<void>((resolve) => silent.close(() => resolve()));
	});

	it('names the command when its reply never comes', async () => {
		const fake = await server(() => undefined);
		const client = await loggedIn(fake, { ...SHORT, command: 250 });
		const error = await client.stat().catch((caught: unknown) => caught);
		expect(error).toMatchObject({ code: 'POP3_TIMEOUT', step: 'STAT' });
		await expect(client.noop()).rejects.toBeInstanceOf(Pop3ConnectionError);
		await serverSawClose(fake);
	});

	it('fails the RETR stream when the server goes quiet in the middle of a message', async () => {
		const fake = await server(async (command, session) => {
			if (command === 'RETR 1') await session.send('+OK\r\nSubject: cut off\r\n\r\nfirst half of the bo');
		});
		const client = await loggedIn(fake, { ...SHORT, idle: 250 });
		const stream = await client.retr(1);
		const error = await readAll(stream).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3TimeoutError);
		expect(error).toMatchObject({ step: 'RETR 1 (message body)' });
		await expect(client.noop()).rejects.toThrow('no longer usable');
		await serverSawClose(fake);
	});

	it('counts idle time between chunks, not the whole transfer', async () => {
		const lines = Array.from({ length: 10 }, (_value, index) => `line ${index}\r\n`).join('');
		const fake = await server(async (command, session) => {
			if (command !== 'RETR 1') return;
			await session.send('+OK\r\n');
			for (const line of lines.split(/(?<=\r\n)/)) {
				await session.send(line);
				await pause(80);
			}
			await session.send('.\r\n');
		});
		const client = await loggedIn(fake, { ...SHORT, idle: 400 });
		// 10 × 80 ms is well over the 400 ms idle limit in total, but no single gap is.
		expect((await readAll(await client.retr(1))).toString('latin1')).toBe(lines);
	});
});

describe('Pop3Client broken servers', () => {
	it('fails the RETR stream when the server hangs up mid-message', async () => {
		const fake = await server(async (command, session) => {
			if (command === 'RETR 1') {
				await session.send('+OK\r\nSubject: x\r\n\r\npartial');
				session.destroy();
			}
		});
		const client = await loggedIn(fake);
		const error = await readAll(await client.retr(1)).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect((error as Error).message).toContain('closed the connection');
	});

	it('reports a server that closed while idle on the next command', async () => {
		const fake = await server(() => undefined);
		const client = await loggedIn(fake);
		fake.sessions[0].destroy();
		await pause(50);
		const error = await client.noop().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect(client.usable).toBe(false);
	});

	it('delivers a final -ERR sent just before the server closes', async () => {
		const fake = await server(async (command, session) => {
			if (command === 'RETR 1') session.socket.end('-ERR [SYS/TEMP] shutting down\r\n');
		});
		const client = await loggedIn(fake);
		const error = await client.retr(1).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3CommandError);
		expect(error).toMatchObject({ responseCode: 'SYS/TEMP' });
	});

	it('stops reading a status line that never ends (hostile server) and closes', async () => {
		const fake = await server(async (command, session) => {
			if (command === 'STAT') await session.send(`+OK ${'9'.repeat(100_000)}`);
		});
		const client = await loggedIn(fake);
		const error = await client.stat().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3ProtocolError);
		expect((error as Error).message).toContain('longer than 8192 bytes');
		await serverSawClose(fake);
	});

	it('refuses a listing line that never ends', async () => {
		const fake = await server(async (command, session) => {
			if (command === 'UIDL') await session.send(`+OK\r\n1 ${'x'.repeat(50_000)}`);
		});
		const client = await loggedIn(fake);
		await expect(client.uidl()).rejects.toBeInstanceOf(Pop3ProtocolError);
	});

	it.each([
		['an unknown status', 'HELLO there\r\n'],
		['a SASL continuation outside AUTH', '+ c29tZXRoaW5n\r\n'],
		['lower-case +ok', '+ok\r\n'],
	])('treats %s as a protocol error and closes', async (_label, reply) => {
		const fake = await server(async (command, session) => {
			if (command === 'NOOP') await session.send(reply);
		});
		const client = await loggedIn(fake);
		const error = await client.noop().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3ProtocolError);
		expect(error).toMatchObject({ code: 'POP3_PROTOCOL', step: 'NOOP' });
		await serverSawClose(fake);
	});

	it('refuses an invalid UIDL entry', async () => {
		const fake = await server(async (command, session) => {
			if (command === 'UIDL') await session.send(Buffer.concat([Buffer.from('+OK\r\n'), multiLineWire('1 good\r\n2\r\n')]));
		});
		const client = await loggedIn(fake);
		await expect(client.uidl()).rejects.toThrow('unexpected reply to UIDL');
	});

	it('reports a busy greeting as a transient error', async () => {
		const fake = await server(() => undefined, '-ERR [IN-USE] too many connections\r\n');
		const client = clientFor(fake, { timeouts: SHORT });
		clients.push(client);
		const error = await client.connect().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3ServerBusyError);
	});

	it('reports a refused connection with host and port', async () => {
		const probe = net.createServer();
		await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
		const port = (probe.address() as net.AddressInfo).port;
		await new Promise<void>((resolve) => probe.close(() => resolve()));
		const client = new Pop3Client({ host: '127.0.0.1', port, security: 'none', timeouts: SHORT });
		const error = await client.connect().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect((error as Error).message).toContain(`127.0.0.1:${port}`);
		expect((error as Error).message).toContain('ECONNREFUSED');
	});

	it('rejects pending commands when destroyed, without sending QUIT', async () => {
		const fake = await server(() => undefined);
		const client = await loggedIn(fake, { ...SHORT, command: 5000 });
		const pending = client.stat();
		const queued = client.noop();
		await pause(20);
		client.destroy();
		await expect(pending).rejects.toThrow('closed by the client');
		await expect(queued).rejects.toThrow('no longer usable');
		await serverSawClose(fake);
		expect(fake.allCommands).not.toContain('QUIT');
	});
});
