import type { Readable } from 'node:stream';

import { Pop3ProtocolError } from '../../../../nodes/mail/pop3/errors';
import { DotUnstuffer, parseStatusLine, Pop3ResponseReader } from '../../../../nodes/mail/pop3/responseReader';
import { multiLineWire } from './fakePop3Server';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

/** Feeds `wire` to a fresh unstuffer cut at `offsets`; returns the content and the bytes after the terminator. */
function unstuff(wire: Buffer, offsets: number[]): { content: Buffer; rest: Buffer; done: boolean } {
	const unstuffer = new DotUnstuffer();
	const output: Buffer[] = [];
	const rest: Buffer[] = [];
	let start = 0;
	for (const end of [...offsets, wire.length]) {
		const piece = wire.subarray(start, end);
		start = end;
		if (unstuffer.finished) {
			rest.push(piece);
			continue;
		}
		const result = unstuffer.write(piece);
		output.push(...result.output);
		if (result.rest) rest.push(result.rest);
	}
	return { content: Buffer.concat(output), rest: Buffer.concat(rest), done: unstuffer.finished };
}

function allBytes(): Buffer {
	return Buffer.from(Array.from({ length: 256 }, (_value, index) => index));
}

/** Contents that exercise every rule: stuffed dots, a lone dot line, lone CR/LF, binary, the terminator inside content. */
const CONTENTS: Array<[string, Buffer]> = [
	['empty', Buffer.alloc(0)],
	['one line', latin1('Subject: hi\r\n')],
	['line that is just a dot', latin1('a\r\n.\r\nb\r\n')],
	['lines starting with one and two dots', latin1('.hidden\r\n..two\r\n...three\r\n')],
	['dot line first', latin1('.\r\n')],
	['terminator-like text inside a line', latin1('x\r\n.\r\n.\r\nend\r\n')],
	['dot then lone CR', latin1('.\rX\r\n')],
	['lone LF then dot (not a line start)', latin1('a\n.b\r\n')],
	['lone CR then dot (not a line start)', latin1('a\r.b\r\n')],
	['CR CR LF', latin1('a\r\r\n.\r\r\n')],
	['empty lines', latin1('\r\n\r\n\r\n')],
	['all 256 byte values', Buffer.concat([allBytes(), latin1('\r\n'), allBytes().reverse(), latin1('\r\n')])],
	['invalid UTF-8 and 8-bit', Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80, 0x2e]), latin1('\r\n.'), Buffer.from([0xe9, 0x00]), latin1('\r\n')])],
];

describe('DotUnstuffer', () => {
	it.each(CONTENTS)('round-trips %s split at every byte boundary (two pieces)', (_label, content) => {
		const wire = Buffer.concat([multiLineWire(content), latin1('+OK next\r\n')]);
		const expectedContent = content.length === 0 || content.subarray(-2).equals(latin1('\r\n')) ? content : Buffer.concat([content, latin1('\r\n')]);
		for (let offset = 0; offset <= wire.length; offset++) {
			const result = unstuff(wire, [offset]);
			expect({ offset, content: result.content.toString('hex') }).toEqual({ offset, content: expectedContent.toString('hex') });
			expect(result.rest.toString('latin1')).toBe('+OK next\r\n');
		}
	});

	it.each(CONTENTS)('round-trips %s split into every pair of pieces and byte by byte', (_label, content) => {
		const wire = multiLineWire(content);
		if (wire.length <= 80) {
			for (let first = 1; first < wire.length; first++) {
				for (let second = first; second < wire.length; second++) {
					expect(unstuff(wire, [first, second]).content.equals(content)).toBe(true);
				}
			}
		}
		const bytewise = unstuff(wire, Array.from({ length: wire.length - 1 }, (_value, index) => index + 1));
		expect(bytewise.content.equals(content)).toBe(true);
		expect(bytewise.done).toBe(true);
	});

	it('survives random chunking of random binary messages', () => {
		let seed = 12345;
		const random = () => {
			seed = (seed * 1103515245 + 12345) & 0x7fffffff;
			return seed / 0x7fffffff;
		};
		// Bias towards the interesting bytes so dots at line starts, CR and LF are frequent.
		const alphabet = [0x2e, 0x2e, 0x0d, 0x0a, 0x0d, 0x0a, 0x41, 0x00, 0xff];
		for (let round = 0; round < 300; round++) {
			const length = Math.floor(random() * 400);
			const content = Buffer.from(Array.from({ length }, () => (random() < 0.8 ? alphabet[Math.floor(random() * alphabet.length)] : Math.floor(random() * 256))));
			const wire = multiLineWire(content);
			const offsets: number[] = [];
			for (let offset = 0; offset < wire.length; offset += 1 + Math.floor(random() * 7)) offsets.push(offset);
			const expected = content.length === 0 || content.subarray(-2).equals(latin1('\r\n')) ? content : Buffer.concat([content, latin1('\r\n')]);
			expect(unstuff(wire, offsets).content.equals(expected)).toBe(true);
		}
	});

	it('strips the dot from a line that was not stuffed, as RFC 1939 tells clients to', () => {
		expect(unstuff(latin1('.X\r\n.\rY\r\n.\r\n'), []).content.toString('latin1')).toBe('X\r\n\rY\r\n');
	});

	it('does not finish before the terminator, and refuses data after it', () => {
		const unstuffer = new DotUnstuffer();
		expect(unstuffer.write(latin1('abc\r\n.')).done).toBe(false);
		expect(unstuffer.write(latin1('\r')).done).toBe(false);
		expect(unstuffer.write(latin1('\n')).done).toBe(true);
		expect(() => unstuffer.write(latin1('x'))).toThrow();
	});

	it('hands out slices of the input instead of copies when no dot needs removing', () => {
		const chunk = latin1('Subject: x\r\nbody line\r\n');
		const { output } = new DotUnstuffer().write(chunk);
		expect(output).toHaveLength(1);
		expect(output[0].buffer).toBe(chunk.buffer);
	});
});

describe('parseStatusLine', () => {
	it.each([
		['+OK', { kind: 'ok', text: '' }],
		['+OK 2 320', { kind: 'ok', text: '2 320' }],
		['-ERR', { kind: 'err', text: '' }],
		['-ERR no such message', { kind: 'err', text: 'no such message' }],
		['-ERR [SYS/PERM] Your account is not enabled for POP access', { kind: 'err', text: '[SYS/PERM] Your account is not enabled for POP access', responseCode: 'SYS/PERM' }],
		['-ERR [in-use] locked', { kind: 'err', text: '[in-use] locked', responseCode: 'IN-USE' }],
		['+ eyJzdGF0dXMiOiI0MDAifQ==', { kind: 'continue', text: 'eyJzdGF0dXMiOiI0MDAifQ==' }],
		['+', { kind: 'continue', text: '' }],
		['+OKAY', { kind: 'invalid', text: '+OKAY' }],
		['-ERROR', { kind: 'invalid', text: '-ERROR' }],
		['HELLO', { kind: 'invalid', text: 'HELLO' }],
		['', { kind: 'invalid', text: '' }],
	])('%j', (line, expected) => {
		expect(parseStatusLine(latin1(line))).toEqual(expected);
	});
});

async function readAll(stream: Readable): Promise<Buffer> {
	const chunks: Buffer[] = [];
	for await (const chunk of stream) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks);
}

/** What a client reads from a whole session, in order; each step says how the reply is framed. */
type Step = { type: 'line'; expect: string } | { type: 'listing'; expect: string[] } | { type: 'body'; expect: Buffer };

const MESSAGE = Buffer.concat([latin1('From: a@b\r\nSubject: dots\r\n\r\n.\r\n..\r\n+OK not a status\r\n-ERR not either\r\n'), allBytes(), latin1('\r\n')]);

const SESSION: Array<[Buffer, Step]> = [
	[latin1('+OK ready\r\n'), { type: 'line', expect: '+OK ready' }],
	[Buffer.concat([latin1('+OK caps\r\n'), multiLineWire('TOP\r\nUIDL\r\nSASL XOAUTH2\r\n')]), { type: 'line', expect: '+OK caps' }],
	[Buffer.alloc(0), { type: 'listing', expect: ['TOP', 'UIDL', 'SASL XOAUTH2'] }],
	[latin1('+ eyJzdGF0dXMiOiI0MDAifQ==\r\n'), { type: 'line', expect: '+ eyJzdGF0dXMiOiI0MDAifQ==' }],
	[latin1('-ERR [AUTH] Invalid credentials.\r\n'), { type: 'line', expect: '-ERR [AUTH] Invalid credentials.' }],
	[latin1('+OK Welcome.\r\n'), { type: 'line', expect: '+OK Welcome.' }],
	[latin1('+OK 2 320\r\n'), { type: 'line', expect: '+OK 2 320' }],
	[Buffer.concat([latin1('+OK 2 messages\r\n'), multiLineWire('1 120\r\n2 200\r\n')]), { type: 'line', expect: '+OK 2 messages' }],
	[Buffer.alloc(0), { type: 'listing', expect: ['1 120', '2 200'] }],
	[Buffer.concat([latin1('+OK\r\n'), multiLineWire('')]), { type: 'line', expect: '+OK' }],
	[Buffer.alloc(0), { type: 'listing', expect: [] }],
	[Buffer.concat([latin1('+OK message follows\r\n'), multiLineWire(MESSAGE)]), { type: 'line', expect: '+OK message follows' }],
	[Buffer.alloc(0), { type: 'body', expect: MESSAGE }],
	[Buffer.concat([latin1('+OK\r\n'), multiLineWire('')]), { type: 'line', expect: '+OK' }],
	[Buffer.alloc(0), { type: 'body', expect: Buffer.alloc(0) }],
	[latin1('-ERR no such message\r\n'), { type: 'line', expect: '-ERR no such message' }],
	[latin1('+OK Farewell.\r\n'), { type: 'line', expect: '+OK Farewell.' }],
];

async function runSession(offsets: number[] | 'bytewise'): Promise<string[]> {
	const wire = Buffer.concat(SESSION.map(([bytes]) => bytes));
	const reader = new Pop3ResponseReader({ maxLineLength: 512 });
	const cuts = offsets === 'bytewise' ? Array.from({ length: wire.length }, (_value, index) => index + 1) : [...offsets, wire.length];
	// Deliver the pieces while the steps are being read, one macrotask apart, as a socket would.
	const feeding = (async () => {
		let start = 0;
		for (const end of cuts) {
			reader.feed(wire.subarray(start, end));
			start = end;
			await new Promise((resolve) => setImmediate(resolve));
		}
	})();
	const mismatches: string[] = [];
	for (const [index, [, step]] of SESSION.entries()) {
		let same: boolean;
		if (step.type === 'line') same = (await reader.readLine()).toString('latin1') === step.expect;
		else if (step.type === 'listing') same = (await reader.readListing()).map((line) => line.toString('latin1')).join('|') === step.expect.join('|');
		else same = (await readAll(reader.readBody().stream)).equals(step.expect);
		if (!same) mismatches.push(`step ${index} (${step.type})`);
	}
	await feeding;
	if (reader.bufferedByteCount !== 0) mismatches.push('bytes left over');
	return mismatches;
}

describe('Pop3ResponseReader', () => {
	it('reads a whole session (greeting, CAPA, challenge, STAT, LIST, UIDL, RETR, TOP, -ERR, QUIT) split at every byte boundary', async () => {
		const length = SESSION.reduce((sum, [bytes]) => sum + bytes.length, 0);
		const failures: string[] = [];
		for (let offset = 1; offset < length; offset++) {
			for (const mismatch of await runSession([offset])) failures.push(`split at ${offset}: ${mismatch}`);
		}
		expect(failures).toEqual([]);
	}, 60_000);

	it('reads the same session delivered one byte at a time, and all at once', async () => {
		expect(await runSession('bytewise')).toEqual([]);
		expect(await runSession([])).toEqual([]);
	});

	it('accepts a bare LF after a status line but keeps CR inside it', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		reader.feed(latin1('+OK a\n+OK b\r\r\n'));
		expect((await reader.readLine()).toString('latin1')).toBe('+OK a');
		expect((await reader.readLine()).toString('latin1')).toBe('+OK b\r');
	});

	it('rejects a status line longer than the limit, also when it never ends', async () => {
		const ended = new Pop3ResponseReader({ maxLineLength: 10 });
		ended.feed(latin1('+OK 12345678901\r\n'));
		await expect(ended.readLine()).rejects.toBeInstanceOf(Pop3ProtocolError);

		const endless = new Pop3ResponseReader({ maxLineLength: 10 });
		const line = endless.readLine();
		endless.feed(latin1('+OK 1234'));
		endless.feed(latin1('56789'));
		await expect(line).rejects.toThrow('longer than 10 bytes');
	});

	it('accepts a line of exactly the limit even when its CR and LF arrive separately', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 10 });
		const line = reader.readLine();
		reader.feed(latin1('+OK 123456\r'));
		reader.feed(latin1('\n'));
		expect((await line).toString('latin1')).toBe('+OK 123456');
	});

	it('rejects an over-long listing line', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 10 });
		const listing = reader.readListing();
		reader.feed(latin1('1 2\r\n1 2345678901234\r\n.\r\n'));
		await expect(listing).rejects.toThrow('listing line longer than 10 bytes');
	});

	it('delivers a reply that arrived before the server closed, then reports the close', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		reader.feed(latin1('-ERR [SYS/PERM] nope\r\n'));
		reader.fail(new Error('closed'), { immediate: false });
		expect((await reader.readLine()).toString('latin1')).toBe('-ERR [SYS/PERM] nope');
		await expect(reader.readLine()).rejects.toThrow('closed');
	});

	it('fails a body that the connection cuts off, and drops buffered bytes on an immediate failure', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		const body = reader.readBody();
		reader.feed(latin1('partial\r\n'));
		reader.fail(new Error('gone'), { immediate: false });
		await expect(readAll(body.stream)).rejects.toThrow('gone');
		await body.wireDone;

		const other = new Pop3ResponseReader({ maxLineLength: 100 });
		other.feed(latin1('+OK buffered\r\n'));
		other.fail(new Error('timeout'), { immediate: true });
		await expect(other.readLine()).rejects.toThrow('timeout');
	});

	it('applies backpressure: stops the flow while the body consumer is full and resumes when it reads', async () => {
		const flow: boolean[] = [];
		const reader = new Pop3ResponseReader({ maxLineLength: 100, onFlowChange: (flowing) => flow.push(flowing) });
		const body = reader.readBody();
		const line = Buffer.alloc(1000, 0x61);
		line[998] = 0x0d;
		line[999] = 0x0a;
		for (let index = 0; index < 100; index++) reader.feed(line);
		expect(flow).toEqual([false]);
		// The reader holds on to what the consumer could not take instead of pushing everything into the stream.
		expect(body.stream.readableLength).toBeLessThanOrEqual(64 * 1024 + 1000);
		expect(reader.bufferedByteCount).toBeGreaterThan(0);
		const reading = readAll(body.stream);
		reader.feed(latin1('.\r\n'));
		const content = await reading;
		expect(content.length).toBe(100_000);
		expect(flow[1]).toBe(true);
		await body.wireDone;
	});

	it('stops taking bytes nobody asked for beyond a small limit', () => {
		const flow: boolean[] = [];
		const reader = new Pop3ResponseReader({ maxLineLength: 100, onFlowChange: (flowing) => flow.push(flowing) });
		reader.feed(Buffer.alloc(150, 0x61));
		expect(flow).toEqual([]);
		reader.feed(Buffer.alloc(100, 0x61));
		expect(flow).toEqual([false]);
	});

	it('keeps reading to the terminator after the consumer destroys a body, so the next reply is found', async () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		const body = reader.readBody();
		reader.feed(latin1('first line\r\n'));
		body.stream.destroy();
		reader.feed(latin1('more\r\n..dots\r\n.\r\n+OK after\r\n'));
		await body.wireDone;
		expect((await reader.readLine()).toString('latin1')).toBe('+OK after');
	});

	it('refuses a second request while one is active', () => {
		const reader = new Pop3ResponseReader({ maxLineLength: 100 });
		void reader.readLine();
		expect(() => reader.readBody()).toThrow('still being read');
	});
});
