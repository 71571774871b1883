/**
 * Gmail POP Get Many against Dovecot, which advertises PIPELINING (RFC 2449): RETRs for small messages go out ahead
 * of their replies, and every message still comes back once, in order, byte for byte as stored, with and without
 * Delete After Download. The mailbox mixes small messages, ones big enough for the byte bound to cut the window,
 * one above the whole-read bound (streamed, nothing asked for behind it) and dot-stuffed lines.
 */
import * as crypto from 'node:crypto';

import type { INodeExecutionData } from 'n8n-workflow';

import { READ_AHEAD_MAX_BYTES } from '../../../nodes/mail/pop3/mailbox';
import { attributes, GET_MANY, newAccount, popSessionEnds, stack } from './popTestKit';

jest.setTimeout(120_000);

/** A plain ASCII message of about `bodyBytes`, with lines a POP3 server must dot-stuff. */
function source(index: number, bodyBytes: number): string {
	const filler = crypto.randomBytes(Math.ceil((bodyBytes * 3) / 4)).toString('base64').slice(0, bodyBytes);
	const lines = filler.match(/.{1,76}/g) ?? [];
	return (
		`From: sender@example.test\r\nTo: someone@example.test\r\nSubject: pipelined ${index}\r\n` +
		`Message-ID: <pipelined-${index}@example.test>\r\n\r\n` +
		`.leading dot ${index}\r\n.\r\n..\r\n${lines.join('\r\n')}\r\n`
	);
}

/** 40 messages: mostly small, a run of 300 KB ones (13 fill the 4 MiB bound), one above 1 MiB. */
function sources(): string[] {
	return Array.from({ length: 40 }, (_value, index) => {
		if (index === 25) return source(index, READ_AHEAD_MAX_BYTES + 200_000);
		if (index >= 5 && index < 20) return source(index, 300_000);
		return source(index, 200 + index * 37);
	});
}

async function stored(user: string, messages: string[]): Promise<string[]> {
	for (const message of messages) await stack.saveMessage(user, message);
	return (await stack.mailboxState(user, 'INBOX', { includeRaw: true })).messages.map((message) => message.raw ?? '');
}

const sourceOf = (item: INodeExecutionData) => `${String(item.json.rawHeaders)}\r\n${String(item.json.raw)}`;

/** Transcript lines of the run: RETR n went out before the reply to RETR m had been read. */
function sentBeforeReplyRead(logs: Array<{ message: string }>, sent: number, replied: number): boolean {
	const lines = logs.map((entry) => entry.message);
	const sentAt = lines.indexOf(`POP3 C: RETR ${sent}`);
	const repliedAt = lines.findIndex((line) => line.startsWith(`POP3 S: [RETR ${replied}: `));
	return sentAt >= 0 && repliedAt >= 0 && sentAt < repliedAt;
}

describe('Gmail POP Get Many over a PIPELINING server (Dovecot POP3S)', () => {
	it('returns every message once, in order, byte for byte, with RETRs written ahead of their replies', async () => {
		const account = await newAccount();
		const expected = await stored(account.user, sources());
		const run = await account.harness.run({ parameters: { ...GET_MANY, format: 'raw' } });
		expect(run.items.map((item) => attributes(item).messageNumber)).toEqual(expected.map((_raw, index) => index + 1));
		const mismatched = run.items.map(sourceOf).flatMap((raw, index) => (raw === expected[index] ? [] : [index + 1]));
		expect(mismatched).toEqual([]);
		// After message 1 arrived, RETR 2..5 went out at once; the byte bound and the large message 26 cut the window.
		expect(sentBeforeReplyRead(run.logs, 5, 2)).toBe(true);
		expect(sentBeforeReplyRead(run.logs, 27, 26)).toBe(false);
		expect(await popSessionEnds(account.user, 1)).toEqual([{ how: 'quit', retrieved: 40, deleted: 0 }]);

		const again = await account.harness.run({ parameters: { ...GET_MANY, format: 'raw' } });
		expect(again.items).toEqual([]);
	});

	it('with Delete After Download: every message once, in order, intact, and all of them deleted at QUIT', async () => {
		const account = await newAccount();
		const expected = await stored(account.user, sources());
		const run = await account.harness.run({ parameters: { ...GET_MANY, format: 'raw', options: { deleteAfterDownload: true } } });
		expect(run.items.map(sourceOf)).toEqual(expected);
		const commands = run.logs.map((entry) => entry.message).filter((line) => /^POP3 C: (RETR|DELE) /.test(line));
		// Each DELE comes after its own RETR and after the item was made, in message order.
		const deleted = commands.filter((line) => line.startsWith('POP3 C: DELE ')).map((line) => Number(line.split(' ').pop()));
		expect(deleted).toEqual(expected.map((_raw, index) => index + 1));
		for (const number of deleted) {
			expect(commands.indexOf(`POP3 C: RETR ${number}`)).toBeLessThan(commands.indexOf(`POP3 C: DELE ${number}`));
		}
		expect(await popSessionEnds(account.user, 1)).toEqual([{ how: 'quit', retrieved: 40, deleted: 40 }]);
		expect((await stack.mailboxState(account.user)).messages).toEqual([]);
	});
});
