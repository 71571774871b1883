import { TokenRejectedError } from '../../../../nodes/mail/auth/errors';
import { Pop3CommandError, Pop3ConnectionError, Pop3ProtocolError } from '../../../../nodes/mail/pop3/errors';
import { BAD_TOKEN, clientFor, GOOD_TOKEN, readAll, USER } from './clientTestKit';
import {
	FakeMailbox,
	type FakePop3Server,
	type FakeSession,
	GMAIL_LIKE_CAPABILITIES,
	multiLineWire,
	pause,
	type SplitPlan,
	startFakePop3Server,
} from './fakePop3Server';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_value, index) => index));

/** A message that breaks naive readers: binary, a lone dot line, stuffed dots, lone CR/LF, status-like lines. */
const TRICKY_MESSAGE = Buffer.concat([
	latin1('From: a@example.com\r\nSubject: tricky\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
	latin1('-ERR this line is content\r\n+OK so is this\r\n.\r\n..\r\n.leading dot\r\nlone LF\nlone CR\r.\r\n'),
	ALL_BYTES,
	latin1('\r\n'),
	Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x0d, 0x0a]),
	latin1('.\r\n'),
]);

const SHORT_MESSAGE = latin1('Subject: s\r\n\r\n.\r\n..x\r\nbody\r\n');

let servers: FakePop3Server[] = [];
afterEach(async () => {
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

/** A server answering from `mailbox`; `split` cuts every reply, the greeting included. */
async function mailboxServer(mailbox: FakeMailbox, split?: (reply: Buffer) => SplitPlan) {
	const server = await startFakePop3Server({
		greeting: '+OK Gpop ready for requests from 127.0.0.1\r\n',
		onCommand: mailbox.handler(),
		defaultSplit: split,
	});
	servers.push(server);
	return server;
}

describe('Pop3Client session', () => {
	it('runs every command against a correct server and returns exact results', async () => {
		const mailbox = new FakeMailbox({ messages: [TRICKY_MESSAGE, SHORT_MESSAGE], uids: ['GmailId1a2b', 'GmailId3c4d'], validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox);
		const log: string[] = [];
		const client = clientFor(server, { logger: (line) => log.push(line) });

		await client.connect();
		expect(client.greeting).toBe('Gpop ready for requests from 127.0.0.1');
		expect(client.capabilities.get('SASL')).toEqual(['PLAIN', 'XOAUTH2', 'OAUTHBEARER']);
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect(client.authenticated).toBe(true);
		expect(await client.stat()).toEqual({ count: 2, size: TRICKY_MESSAGE.length + SHORT_MESSAGE.length });
		expect(await client.list()).toEqual([
			{ messageNumber: 1, size: TRICKY_MESSAGE.length },
			{ messageNumber: 2, size: SHORT_MESSAGE.length },
		]);
		expect(await client.list(2)).toEqual({ messageNumber: 2, size: SHORT_MESSAGE.length });
		expect(await client.uidl()).toEqual([
			{ messageNumber: 1, uid: 'GmailId1a2b' },
			{ messageNumber: 2, uid: 'GmailId3c4d' },
		]);
		expect(await client.uidl(1)).toEqual({ messageNumber: 1, uid: 'GmailId1a2b' });
		expect((await readAll(await client.retr(1))).equals(TRICKY_MESSAGE)).toBe(true);
		expect((await readAll(await client.top(2, 1))).toString('latin1')).toBe('Subject: s\r\n\r\n.\r\n');
		await client.dele(1);
		expect(await client.stat()).toEqual({ count: 1, size: SHORT_MESSAGE.length });
		await client.rset();
		await client.noop();
		await client.dele(2);
		await client.quit();

		expect(client.usable).toBe(false);
		expect(mailbox.removed).toEqual([2]);
		expect(server.allCommands.slice(-2)).toEqual(['DELE 2', 'QUIT']);
		expect(log).toContain('C: AUTH XOAUTH2 [redacted]');
		expect(log).toContain(`S: [RETR 1: ${TRICKY_MESSAGE.length} bytes]`);
		await expect(client.noop()).rejects.toBeInstanceOf(Pop3ConnectionError);
	});

	it('reads every reply type split at every byte boundary', async () => {
		const mailbox = new FakeMailbox({ messages: [SHORT_MESSAGE, latin1('.\r\n')], validToken: GOOD_TOKEN });
		// One session per offset; in it every reply (greeting included) is cut at that offset.
		const longestReply = Math.max(
			...['CAPA', 'LIST', 'UIDL', 'RETR 1', 'TOP 1 1', 'STAT'].map((command) => mailbox.reply(command, {} as never)?.length ?? 0),
			latin1(`+ ${Buffer.from('{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}').toString('base64')}\r\n`).length,
		);
		mailbox.deleted.clear();
		const failures: string[] = [];
		for (let offset = 1; offset < longestReply; offset++) {
			const server = await mailboxServer(mailbox, () => [offset]);
			const client = clientFor(server);
			try {
				await client.connect();
				if (client.capabilities.get('SASL')?.join(' ') !== 'PLAIN XOAUTH2 OAUTHBEARER') failures.push(`${offset}: CAPA`);
				const refused = await client.authenticateXOAuth2(USER, BAD_TOKEN).then(
					() => undefined,
					(error: unknown) => error,
				);
				if (!(refused instanceof TokenRejectedError) || refused.challenge?.status !== '400') failures.push(`${offset}: challenge`);
				await client.authenticateXOAuth2(USER, GOOD_TOKEN);
				const stat = await client.stat();
				if (stat.count !== 2 || stat.size !== SHORT_MESSAGE.length + 3) failures.push(`${offset}: STAT`);
				if ((await client.list()).map((entry) => entry.size).join() !== `${SHORT_MESSAGE.length},3`) failures.push(`${offset}: LIST`);
				if ((await client.list(2)).size !== 3) failures.push(`${offset}: LIST 2`);
				if ((await client.uidl()).map((entry) => entry.uid).join() !== 'uid-1,uid-2') failures.push(`${offset}: UIDL`);
				if ((await client.uidl(1)).uid !== 'uid-1') failures.push(`${offset}: UIDL 1`);
				if (!(await readAll(await client.retr(1))).equals(SHORT_MESSAGE)) failures.push(`${offset}: RETR 1`);
				if ((await readAll(await client.retr(2))).toString('latin1') !== '.\r\n') failures.push(`${offset}: RETR 2`);
				if ((await readAll(await client.top(1, 0))).toString('latin1') !== 'Subject: s\r\n\r\n') failures.push(`${offset}: TOP`);
				const missing = await client.retr(9).then(
					() => undefined,
					(error: unknown) => error,
				);
				if (!(missing instanceof Pop3CommandError)) failures.push(`${offset}: RETR -ERR`);
				await client.dele(1);
				await client.rset();
				await client.noop();
				await client.quit();
			} catch (error) {
				failures.push(`${offset}: ${(error as Error).message}`);
				client.destroy();
			}
			if (server.allCommands.at(-1) !== 'QUIT') failures.push(`${offset}: QUIT not last`);
			await server.close();
			servers = servers.filter((candidate) => candidate !== server);
		}
		expect(failures).toEqual([]);
	}, 120_000);

	it('reads a whole session delivered one byte per write, binary message included', async () => {
		const mailbox = new FakeMailbox({ messages: [TRICKY_MESSAGE], validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox, () => 'bytewise');
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect(await client.uidl()).toEqual([{ messageNumber: 1, uid: 'uid-1' }]);
		expect((await readAll(await client.retr(1))).equals(TRICKY_MESSAGE)).toBe(true);
		await client.quit();
	}, 30_000);

	it('keeps every byte of binary content: all 256 values, lone CR, lone LF, invalid UTF-8', async () => {
		const messages = [
			Buffer.concat([ALL_BYTES, latin1('\r\n')]),
			Buffer.concat([latin1('a\rb\nc\r\r\n\n\r\n'), ALL_BYTES.subarray(128), latin1('\r\n')]),
			Buffer.concat(Array.from({ length: 256 }, (_value, index) => Buffer.concat([ALL_BYTES.subarray(index, index + 9), latin1('\r\n.\r\n')]))),
		];
		const mailbox = new FakeMailbox({ messages, validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox, (reply) => Array.from({ length: Math.floor(reply.length / 7) }, (_value, index) => 7 * (index + 1) + (index % 3)));
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		for (const [index, message] of messages.entries()) {
			const received = await readAll(await client.retr(index + 1));
			expect(received.toString('hex')).toBe(message.toString('hex'));
		}
		await client.quit();
	}, 30_000);

	it('starts the next command only after the RETR stream has been consumed', async () => {
		const mailbox = new FakeMailbox({ messages: [SHORT_MESSAGE], validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox);
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		const stream = await client.retr(1);
		const deleted = client.dele(1);
		await pause(50);
		expect(server.allCommands).not.toContain('DELE 1');
		expect((await readAll(stream)).equals(SHORT_MESSAGE)).toBe(true);
		await deleted;
		expect(server.allCommands.at(-1)).toBe('DELE 1');
		await client.quit();
		expect(mailbox.removed).toEqual([1]);
	});

	it('skips the rest of a message whose stream the consumer destroys, and the session stays usable', async () => {
		const big = Buffer.concat(Array.from({ length: 20_000 }, (_value, index) => latin1(`${index % 2 ? '.' : ''}line ${index} of a long message\r\n`)));
		const mailbox = new FakeMailbox({ messages: [big, SHORT_MESSAGE], validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox);
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		const stream = await client.retr(1);
		await new Promise<void>((resolve) => stream.once('data', () => resolve()));
		stream.destroy();
		expect((await readAll(await client.retr(2))).equals(SHORT_MESSAGE)).toBe(true);
		expect(await client.uidl(2)).toEqual({ messageNumber: 2, uid: 'uid-2' });
		await client.quit();
	});

	it('respects backpressure: a slow consumer holds the server back without tripping the idle timeout', async () => {
		const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
		for (let offset = 998; offset < big.length; offset += 1000) {
			big[offset] = 0x0d;
			big[offset + 1] = 0x0a;
		}
		big[big.length - 2] = 0x0d;
		big[big.length - 1] = 0x0a;
		const mailbox = new FakeMailbox({ messages: [big], validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox);
		const client = clientFor(server, { timeouts: { connect: 5000, greeting: 5000, command: 5000, idle: 300 } });
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		const stream = await client.retr(1);
		stream.pause();
		await pause(900);
		// The client stopped reading from the socket: far less than the message sits in memory on its side.
		expect(stream.readableLength).toBeLessThan(512 * 1024);
		const serverSocket = server.sessions[0].socket;
		expect(serverSocket.writableLength).toBeGreaterThan(0);
		const received = await readAll(stream);
		expect(received.length).toBe(big.length);
		expect(received.equals(big)).toBe(true);
		await client.quit();
	}, 30_000);

	it('decides single- or multi-line per command, whatever the content looks like', async () => {
		const body = latin1('+OK looks like a status\r\n-ERR also content\r\n.\r\n');
		const server = await startFakePop3Server({
			onCommand: async (command, session) => {
				if (command.startsWith('AUTH')) await session.send('+OK\r\n');
				else if (command === 'CAPA') await session.send('-ERR no CAPA here\r\n');
				// A single-line LIST reply immediately followed by the next reply in the same write.
				else if (command === 'LIST 1') await session.send(`+OK 1 ${body.length}\r\n`);
				else if (command === 'RETR 1') await session.send(Buffer.concat([latin1('+OK\r\n'), multiLineWire(body)]));
				else if (command === 'QUIT') await session.send('+OK\r\n');
			},
		});
		servers.push(server);
		const client = clientFor(server);
		await client.connect();
		expect(client.capabilities.size).toBe(0);
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect(await client.list(1)).toEqual({ messageNumber: 1, size: body.length });
		expect((await readAll(await client.retr(1))).equals(body)).toBe(true);
		await client.quit();
	});

	it('turns -ERR to a command into Pop3CommandError and carries on', async () => {
		const mailbox = new FakeMailbox({ messages: [SHORT_MESSAGE], validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox);
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		const error = await client.retr(5).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3CommandError);
		expect(error).toMatchObject({ code: 'POP3_COMMAND_FAILED', step: 'RETR 5', serverText: 'no such message', transient: false });
		await expect(client.dele(5)).rejects.toThrow('The POP3 server refused DELE 5: no such message');
		expect(await client.stat()).toEqual({ count: 1, size: SHORT_MESSAGE.length });
		await client.quit();
	});

	it('sends QUIT on quit() and reports a refused QUIT (deletions not applied)', async () => {
		const server = await startFakePop3Server({
			onCommand: async (command, session) => {
				if (command === 'CAPA') await session.send('-ERR\r\n');
				else if (command.startsWith('AUTH')) await session.send('+OK\r\n');
				else if (command === 'DELE 1') await session.send('+OK\r\n');
				else if (command === 'QUIT') {
					await session.send('-ERR [SYS/TEMP] some deleted messages not removed\r\n');
					session.end();
				}
			},
		});
		servers.push(server);
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		await client.dele(1);
		const error = await client.quit().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3CommandError);
		expect((error as Error).message).toContain('were not deleted');
		expect(server.allCommands.at(-1)).toBe('QUIT');
		expect(client.usable).toBe(false);
	});

	it('treats a server that closes right after +OK to QUIT as a clean end', async () => {
		const server = await startFakePop3Server({
			onCommand: async (command, session) => {
				if (command === 'CAPA') await session.send('-ERR\r\n');
				else if (command === 'QUIT') {
					session.socket.end('+OK bye\r\n');
				}
			},
		});
		servers.push(server);
		const client = clientFor(server);
		await client.connect();
		await client.quit();
		await expect(client.stat()).rejects.toThrow('no longer usable');
	});

	it('refuses transaction commands before login and bad message numbers without sending anything', async () => {
		const mailbox = new FakeMailbox({ messages: [SHORT_MESSAGE], validToken: GOOD_TOKEN });
		const server = await mailboxServer(mailbox);
		const client = clientFor(server);
		await client.connect();
		await expect(client.stat()).rejects.toThrow('only possible after authenticateXOAuth2()');
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		const before = server.allCommands.length;
		await expect(client.retr(0)).rejects.toBeInstanceOf(RangeError);
		await expect(client.dele(1.5)).rejects.toBeInstanceOf(RangeError);
		await expect(client.top(1, -1)).rejects.toBeInstanceOf(RangeError);
		expect(server.allCommands.length).toBe(before);
		await client.quit();
		await expect(client.connect()).rejects.toThrow('only once');
	});

	it('reports a malformed STAT reply as a protocol error but keeps the session', async () => {
		const server = await startFakePop3Server({
			onCommand: async (command, session) => {
				if (command === 'CAPA') await session.send('-ERR\r\n');
				else if (command.startsWith('AUTH')) await session.send('+OK\r\n');
				else if (command === 'STAT') await session.send('+OK lots\r\n');
				else if (command === 'NOOP') await session.send('+OK\r\n');
				else if (command === 'QUIT') await session.send('+OK\r\n');
			},
		});
		servers.push(server);
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		await expect(client.stat()).rejects.toBeInstanceOf(Pop3ProtocolError);
		await client.noop();
		await client.quit();
	});
});

describe('Pop3Client pipelined RETR (RFC 2449 PIPELINING)', () => {
	const THIRD_MESSAGE = latin1('Subject: third\r\n\r\n.dot\r\n');
	const retrsIn = (session: FakeSession) => session.received.filter((command) => command.startsWith('RETR')).length;

	/** Answers from `mailbox`; each RETR only once the client has written `retrsBeforeAnswering` RETRs (or 1 s passed). */
	async function serverHolding(mailbox: FakeMailbox, retrsBeforeAnswering: number) {
		const answer = mailbox.handler();
		const retrsSeenWhenAnswering: number[] = [];
		const server = await startFakePop3Server({
			onCommand: async (command, session) => {
				if (command.startsWith('RETR')) {
					const deadline = Date.now() + 1000;
					while (retrsIn(session) < retrsBeforeAnswering && Date.now() < deadline) await pause(5);
					retrsSeenWhenAnswering.push(retrsIn(session));
				}
				await answer(command, session);
			},
		});
		servers.push(server);
		return { server, retrsSeenWhenAnswering };
	}

	const connected = async (server: FakePop3Server) => {
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		return client;
	};

	it('writes every RETR at once when the server advertises PIPELINING; replies, an -ERR among them, are matched in order', async () => {
		const mailbox = new FakeMailbox({
			messages: [SHORT_MESSAGE, TRICKY_MESSAGE, THIRD_MESSAGE],
			capabilities: [...GMAIL_LIKE_CAPABILITIES, 'PIPELINING'],
			validToken: GOOD_TOKEN,
		});
		const { server, retrsSeenWhenAnswering } = await serverHolding(mailbox, 4);
		const client = await connected(server);
		expect(client.pipelining).toBe(true);
		const replies = [1, 9, 2, 3].map((number) => client.retr(number, { pipelined: true }));
		replies[1].catch(() => undefined);
		expect((await readAll(await replies[0])).equals(SHORT_MESSAGE)).toBe(true);
		await expect(replies[1]).rejects.toBeInstanceOf(Pop3CommandError);
		expect((await readAll(await replies[2])).equals(TRICKY_MESSAGE)).toBe(true);
		expect((await readAll(await replies[3])).equals(THIRD_MESSAGE)).toBe(true);
		expect(retrsSeenWhenAnswering).toEqual([4, 4, 4, 4]);
		await client.quit();
	});

	it('without PIPELINING (Gmail) a pipelined RETR still waits for the previous reply to be read', async () => {
		const mailbox = new FakeMailbox({ messages: [SHORT_MESSAGE, TRICKY_MESSAGE], validToken: GOOD_TOKEN });
		const { server, retrsSeenWhenAnswering } = await serverHolding(mailbox, 1);
		const client = await connected(server);
		expect(client.pipelining).toBe(false);
		const replies = [1, 2].map((number) => client.retr(number, { pipelined: true }));
		await pause(50);
		expect(retrsIn(server.sessions[0])).toBe(1);
		expect((await readAll(await replies[0])).equals(SHORT_MESSAGE)).toBe(true);
		expect((await readAll(await replies[1])).equals(TRICKY_MESSAGE)).toBe(true);
		expect(retrsSeenWhenAnswering).toEqual([1, 2]);
		await client.quit();
	});

	it('a pipelined RETR never overtakes a command queued before it and not written yet', async () => {
		const mailbox = new FakeMailbox({
			messages: [SHORT_MESSAGE, TRICKY_MESSAGE],
			capabilities: [...GMAIL_LIKE_CAPABILITIES, 'PIPELINING'],
			validToken: GOOD_TOKEN,
		});
		const { server } = await serverHolding(mailbox, 1);
		const client = await connected(server);
		const first = await client.retr(1);
		const deletion = client.dele(1); // waits for the RETR 1 stream, unwritten
		const second = client.retr(2, { pipelined: true });
		await pause(30);
		expect(server.allCommands.filter((command) => /^(RETR|DELE)/.test(command))).toEqual(['RETR 1']);
		expect((await readAll(first)).equals(SHORT_MESSAGE)).toBe(true);
		await deletion;
		expect((await readAll(await second)).equals(TRICKY_MESSAGE)).toBe(true);
		expect(server.allCommands.filter((command) => /^(RETR|DELE)/.test(command))).toEqual(['RETR 1', 'DELE 1', 'RETR 2']);
		await client.quit();
	});
});
