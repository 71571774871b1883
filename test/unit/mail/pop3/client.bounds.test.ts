/**
 * Hostile servers: multi-line replies that never end (a flood of short lines, or a slow drip) must not grow the
 * client's memory or keep it waiting for ever. Every multi-line reply is bounded in lines, bytes and total time.
 */
import type { FakeSession } from './fakePop3Server';
import { type CommandHandler, type FakePop3Server, multiLineWire, pause, startFakePop3Server } from './fakePop3Server';
import { clientFor, GOOD_TOKEN, readAll, serverSawClose, USER } from './clientTestKit';
import {
	DEFAULT_POP3_LIMITS,
	DEFAULT_POP3_TIMEOUTS,
	MAX_CAPA_BYTES,
	MAX_CAPA_LINES,
	MAX_LISTING_BYTES,
	MAX_LISTING_ENTRIES,
	type Pop3Client,
	type Pop3ClientOptions,
	type Pop3Timeouts,
} from '../../../../nodes/mail/pop3/client';
import { Pop3ResponseTooLargeError, Pop3TimeoutError } from '../../../../nodes/mail/pop3/errors';
import { Pop3ResponseReader } from '../../../../nodes/mail/pop3/responseReader';

const SHORT: Pop3Timeouts = { connect: 3000, greeting: 3000, command: 3000, idle: 3000, listing: 3000, body: 3000 };

let servers: FakePop3Server[] = [];
const clients: Pop3Client[] = [];
afterEach(async () => {
	for (const client of clients.splice(0)) client.destroy();
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

/** Sends `piece` again and again until the client closes the connection (or `maxBytes` went out); returns bytes sent. */
async function flood(session: FakeSession, piece: Buffer, maxBytes = 256 * 1024 * 1024): Promise<number> {
	let sent = 0;
	while (!session.closed && !session.socket.destroyed && sent < maxBytes) {
		const ok = await new Promise<boolean>((resolve) => session.socket.write(piece, (error) => resolve(!error)));
		if (!ok) break;
		sent += piece.length;
	}
	return sent;
}

/** Sends one `line` every `everyMs` until the client closes the connection. */
async function drip(session: FakeSession, line: string, everyMs: number): Promise<void> {
	while (!session.closed && !session.socket.destroyed) {
		session.socket.write(line);
		await pause(everyMs);
	}
}

/** CAPA answered by `capa` (default: none), AUTH accepted, then `onCommand`. */
async function server(onCommand: CommandHandler, capa?: CommandHandler): Promise<FakePop3Server> {
	const started = await startFakePop3Server({
		onCommand: async (command, session) => {
			if (command === 'CAPA') return capa ? capa(command, session) : session.send('-ERR\r\n');
			if (command.startsWith('AUTH ')) return session.send('+OK\r\n');
			return onCommand(command, session);
		},
	});
	servers.push(started);
	return started;
}

function client(fake: FakePop3Server, options: Partial<Pop3ClientOptions> = {}): Pop3Client {
	const created = clientFor(fake, { timeouts: SHORT, ...options });
	clients.push(created);
	return created;
}

async function loggedIn(fake: FakePop3Server, options: Partial<Pop3ClientOptions> = {}): Promise<Pop3Client> {
	const created = client(fake, options);
	await created.connect();
	await created.authenticateXOAuth2(USER, GOOD_TOKEN);
	return created;
}

/** The promise's rejection, or a failure when it takes longer than `ms` (the old client waited for ever). */
async function rejectionWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
	let timer: NodeJS.Timeout | undefined;
	const limit = new Promise<never>((_resolve, reject) => {
		timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
	});
	try {
		await Promise.race([promise, limit]);
	} catch (error) {
		return error;
	} finally {
		clearTimeout(timer);
	}
	throw new Error('expected a rejection');
}

describe('POP3 response bounds: the chosen defaults', () => {
	it('CAPA 200 lines / 64 KiB; LIST and UIDL 500,000 entries / 48 MiB; listings 5 min and bodies 30 min in total', () => {
		expect(DEFAULT_POP3_LIMITS).toEqual({
			capa: { lines: 200, bytes: 64 * 1024 },
			listing: { lines: 500_000, bytes: 48 * 1024 * 1024 },
		});
		expect([MAX_CAPA_LINES, MAX_CAPA_BYTES, MAX_LISTING_ENTRIES, MAX_LISTING_BYTES]).toEqual([200, 65_536, 500_000, 50_331_648]);
		expect(DEFAULT_POP3_TIMEOUTS).toMatchObject({ listing: 300_000, body: 1_800_000 });
		// A maximal UIDL line (7-digit number, 70-character UIDL, CRLF) fits the byte bound at the entry bound.
		expect(MAX_LISTING_ENTRIES * (7 + 1 + 70 + 2)).toBeLessThan(MAX_LISTING_BYTES);
	});
});

describe('Pop3Client: a CAPA listing that never ends (before STLS, where a man in the middle can send it)', () => {
	it('a flood of short CAPA lines fails with POP3_RESPONSE_TOO_LARGE after 200 lines and closes the connection', async () => {
		let sent = 0;
		const fake = await server(
			() => undefined,
			async (_command, session) => {
				await session.send('+OK\r\n');
				sent = await flood(session, Buffer.from('X-JUNK\r\n'.repeat(4096), 'latin1'));
			},
		);
		const error = await rejectionWithin(client(fake, { security: 'starttls' }).connect(), 5000);
		expect(error).toBeInstanceOf(Pop3ResponseTooLargeError);
		expect(error).toMatchObject({ code: 'POP3_RESPONSE_TOO_LARGE', step: 'CAPA', transient: false });
		expect((error as Error).message).toContain("CAPA reply is longer than the client accepts (more than 200 lines)");
		await serverSawClose(fake);
		// The client hung up long before 256 MiB went out (the old client read on for ever).
		expect(sent).toBeLessThan(64 * 1024 * 1024);
		// STLS was never sent: the client did not go on with a poisoned capability list.
		expect(fake.allCommands).not.toContain('STLS');
	});

	it('a few very long CAPA lines fail on the 64 KiB byte bound', async () => {
		const fake = await server(
			() => undefined,
			(_command, session) => session.send(`+OK\r\n${`X-${'y'.repeat(8000)}\r\n`.repeat(20)}.\r\n`),
		);
		const error = await rejectionWithin(client(fake).connect(), 5000);
		expect(error).toMatchObject({ code: 'POP3_RESPONSE_TOO_LARGE', step: 'CAPA' });
		expect((error as Error).message).toContain('more than 65536 bytes');
	});

	it('a CAPA dripped one line at a time ends at the command deadline, however often lines arrive', async () => {
		const fake = await server(
			() => undefined,
			async (_command, session) => {
				await session.send('+OK\r\n');
				await drip(session, 'X\r\n', 20);
			},
		);
		// The idle timeout (3 s) never fires: a line comes every 20 ms. Only the whole-reply deadline ends it,
		// and it ends before the 200-line bound (about 10 s of dripping) is reached.
		const started = Date.now();
		const error = await rejectionWithin(client(fake, { timeouts: { ...SHORT, command: 400 } }).connect(), 5000);
		expect(error).toBeInstanceOf(Pop3TimeoutError);
		expect(error).toMatchObject({ code: 'POP3_TIMEOUT', kind: 'total', step: 'CAPA (listing)', timeoutMs: 400 });
		expect((error as Error).message).toContain('did not finish its reply within 400 ms');
		expect(Date.now() - started).toBeLessThan(2500);
		await serverSawClose(fake);
	});

	it('a normal CAPA of 200 lines is accepted', async () => {
		const lines = ['SASL XOAUTH2', ...Array.from({ length: 199 }, (_value, index) => `X-CAP-${index}`)];
		const fake = await server(
			() => undefined,
			(_command, session) => session.send(Buffer.concat([Buffer.from('+OK\r\n'), multiLineWire(lines.map((line) => `${line}\r\n`).join(''))])),
		);
		const connected = client(fake);
		await connected.connect();
		expect(connected.capabilities.get('SASL')).toEqual(['XOAUTH2']);
		expect(connected.capabilities.size).toBe(200);
	});
});

describe('Pop3Client: LIST and UIDL listings that never end', () => {
	const small = { capa: DEFAULT_POP3_LIMITS.capa, listing: { lines: 1000, bytes: 20_000 } };

	it('a UIDL flood fails with POP3_RESPONSE_TOO_LARGE at the entry bound and the session is closed', async () => {
		let sent = 0;
		const fake = await server(async (command, session) => {
			if (command !== 'UIDL') return;
			await session.send('+OK\r\n');
			let number = 0;
			const piece = () => Buffer.from(Array.from({ length: 500 }, () => `${++number} u${number}\r\n`).join(''), 'latin1');
			while (!session.closed && !session.socket.destroyed && sent < 64 * 1024 * 1024) {
				const chunk = piece();
				if (!(await new Promise<boolean>((resolve) => session.socket.write(chunk, (error) => resolve(!error))))) break;
				sent += chunk.length;
			}
		});
		const session = await loggedIn(fake, { limits: { listing: { lines: 1000, bytes: 10 * 1024 * 1024 } } });
		const error = await rejectionWithin(session.uidl(), 5000);
		expect(error).toBeInstanceOf(Pop3ResponseTooLargeError);
		expect(error).toMatchObject({ code: 'POP3_RESPONSE_TOO_LARGE', step: 'UIDL', limit: { lines: 1000, bytes: 10 * 1024 * 1024 } });
		expect((error as Error).message).toContain('more than 1000 lines');
		expect(session.usable).toBe(false);
		await serverSawClose(fake);
		expect(sent).toBeLessThan(64 * 1024 * 1024);
	});

	it('LIST fails on the byte bound; exactly at the bounds it is accepted', async () => {
		const line = (number: number) => `${`${number} 1`.padEnd(18)}\r\n`;
		let reply = '';
		const fake = await server(async (command, session) => {
			if (command === 'LIST') await session.send(Buffer.concat([Buffer.from('+OK\r\n'), multiLineWire(reply)]));
			if (command === 'NOOP') await session.send('+OK\r\n');
		});
		// 1000 lines of exactly 20 bytes: at both bounds, accepted.
		reply = Array.from({ length: 1000 }, (_value, index) => line(index + 1)).join('');
		expect(Buffer.byteLength(reply)).toBe(20_000);
		const first = await loggedIn(fake, { limits: small });
		expect(await first.list()).toHaveLength(1000);
		await first.noop();

		// One byte more is refused.
		reply = `${reply.slice(0, -2)} \r\n`;
		const second = await loggedIn(fake, { limits: small });
		const error = await rejectionWithin(second.list(), 5000);
		expect(error).toMatchObject({ code: 'POP3_RESPONSE_TOO_LARGE', step: 'LIST' });
		expect((error as Error).message).toContain('more than 20000 bytes');
		expect(second.usable).toBe(false);
	});

	it('a LIST dripped line by line ends at the listing deadline although the idle timeout never fires', async () => {
		const fake = await server(async (command, session) => {
			if (command !== 'LIST') return;
			await session.send('+OK\r\n');
			await drip(session, '1 100\r\n', 20);
		});
		const session = await loggedIn(fake, { timeouts: { ...SHORT, idle: 300, listing: 500 } });
		const started = Date.now();
		const error = await rejectionWithin(session.list(), 5000);
		expect(error).toBeInstanceOf(Pop3TimeoutError);
		expect(error).toMatchObject({ kind: 'total', step: 'LIST (listing)', timeoutMs: 500 });
		expect(Date.now() - started).toBeGreaterThanOrEqual(450);
		expect(Date.now() - started).toBeLessThan(2500);
		await serverSawClose(fake);
	});

	it('a message body dripped byte by byte ends at the body deadline', async () => {
		const fake = await server(async (command, session) => {
			if (command !== 'RETR 1') return;
			await session.send('+OK\r\nSubject: slow\r\n\r\n');
			await drip(session, 'x', 20);
		});
		const session = await loggedIn(fake, { timeouts: { ...SHORT, idle: 300, body: 500 } });
		const error = await rejectionWithin(readAll(await session.retr(1)), 5000);
		expect(error).toBeInstanceOf(Pop3TimeoutError);
		expect(error).toMatchObject({ kind: 'total', step: 'RETR 1 (message body)', timeoutMs: 500 });
		await serverSawClose(fake);
	});

	it('a listing well inside the default bounds (20,000 messages) is read whole', async () => {
		const count = 20_000;
		const uidls = Array.from({ length: count }, (_value, index) => `${index + 1} ${(index + 1).toString(16).padStart(16, '0')}\r\n`).join('');
		const fake = await server(async (command, session) => {
			if (command === 'UIDL') await session.send(Buffer.concat([Buffer.from('+OK\r\n'), multiLineWire(uidls)]));
		});
		const session = await loggedIn(fake);
		const listed = await session.uidl();
		expect(listed).toHaveLength(count);
		expect(listed[count - 1]).toEqual({ messageNumber: count, uid: count.toString(16).padStart(16, '0') });
	});
});

describe('Pop3ResponseReader listing limits', () => {
	function feedAll(reader: Pop3ResponseReader, wire: string): void {
		for (const piece of wire.match(/[\s\S]{1,7}/g) ?? []) reader.feed(Buffer.from(piece, 'latin1'));
	}

	it('rejects on the line after the last allowed one, keeps no lines, and reads no further into memory', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		const listing = reader.readListing({ maxLines: 3, maxBytes: 1000, name: 'UIDL' });
		feedAll(reader, '1 a\r\n2 b\r\n3 c\r\n4 d\r\n');
		await expect(listing).rejects.toMatchObject({ code: 'POP3_RESPONSE_TOO_LARGE', step: 'UIDL' });
		// The rest of the reply is consumed and dropped, never buffered.
		feedAll(reader, 'x\r\n'.repeat(10_000));
		expect(reader.bufferedByteCount).toBe(0);
	});

	it('accepts exactly maxLines lines and maxBytes bytes', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		const listing = reader.readListing({ maxLines: 3, maxBytes: 15 });
		feedAll(reader, '1 a\r\n2 b\r\n3 c\r\n.\r\n');
		expect((await listing).map((line) => line.toString())).toEqual(['1 a', '2 b', '3 c']);
	});

	it('refuses a second line when one is allowed', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		const listing = reader.readListing({ maxLines: 1, maxBytes: 1000 });
		feedAll(reader, '1 a\r\n2 b\r\n.\r\n');
		await expect(listing).rejects.toBeInstanceOf(Pop3ResponseTooLargeError);
	});
});
