/**
 * The stack's mailbox helpers, checked against each other and against what Postfix and Dovecot do: delivery on
 * every route lands in mailbox state, nothing leaves the machine, folders and direct saves, sessions.
 */
import { getStack } from '../../stack';

const stack = getStack();

function rawMessage(to: string, subject: string, body: string): string {
	return [
		'From: Sender <sender@example.test>',
		`To: ${to}`,
		`Subject: ${subject}`,
		`Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@example.test>`,
		'Date: Thu, 01 Jan 2026 00:00:00 +0000',
		'MIME-Version: 1.0',
		'Content-Type: text/plain; charset=utf-8',
		'',
		body,
		'',
	].join('\r\n');
}

describe('mail stack mailboxes', () => {
	it('gives every test its own empty mailbox', async () => {
		const first = stack.newMailbox();
		const second = stack.newMailbox('other');
		expect(first).not.toBe(second);
		expect(first).toMatch(/^user-[0-9a-f]+@example\.test$/);
		expect(second).toMatch(/^other-[0-9a-f]+@example\.test$/);
		expect((await stack.mailboxState(first)).messages).toEqual([]);
	});

	it.each(['smtp', 'submission', 'smtps', 'lmtp'] as const)('delivers a raw message via %s; it is stored byte for byte', async (via) => {
		const user = stack.newMailbox(via);
		const body = `Line one\r\n.leading dot survives\r\nLast line ${via}`;
		const raw = rawMessage(user, `raw via ${via}`, body);
		const delivery = await stack.deliver(raw, { via });
		expect(delivery.recipients).toEqual([user]);
		if (via !== 'lmtp') expect(delivery.queueId).toMatch(/^[0-9A-F]+$/);

		const state = await stack.mailboxState(user, 'INBOX', { includeRaw: true });
		expect(state.messages).toHaveLength(1);
		const [stored] = state.messages;
		expect(stored.uid).toBe(1);
		expect(stored.raw).toContain(`Subject: raw via ${via}\r\n`);
		// Postfix and Dovecot only prepend trace headers; the original message follows unchanged.
		expect(stored.raw?.endsWith(raw)).toBe(true);
		expect(Buffer.byteLength(stored.raw ?? '')).toBe(stored.size);
		expect(state.uidNext).toBe(2);
		expect(state.uidValidity).toBeGreaterThan(0);
	});

	it('delivers a structured message to several recipients at once', async () => {
		const [first, second] = [stack.newMailbox('multi'), stack.newMailbox('multi')];
		await stack.deliver({ to: [first, second], subject: 'to both', text: 'hello', attachments: [{ filename: 'a.txt', content: 'attached' }] });
		for (const user of [first, second]) {
			const state = await stack.mailboxState(user, 'INBOX', { includeRaw: true });
			expect(state.messages).toHaveLength(1);
			expect(state.messages[0].raw).toContain('filename=a.txt');
		}
	});

	it('lets nothing leave the machine: other domains are refused on the plain port', async () => {
		await expect(stack.deliver(rawMessage('someone@gmail.com', 'escape', 'x'))).rejects.toThrow(/Relay access denied|554/);
	});

	it('bounces mail for other domains even from authenticated senders (error transport)', async () => {
		await expect(stack.deliver(rawMessage('someone@example.com', 'escape', 'x'), { via: 'smtps' })).rejects.toThrow(/could not deliver|no external delivery/);
	});

	it('reports flags, folders and direct saves as the server sees them', async () => {
		const user = stack.newMailbox('folders');
		await stack.createFolder(user, 'Archive/2026');
		await stack.saveMessage(user, rawMessage(user, 'saved', 'directly'), 'Archive/2026');
		expect(await stack.folders(user)).toEqual(expect.arrayContaining(['INBOX', 'Sent', 'Trash', 'Archive/2026']));
		const state = await stack.mailboxState(user, 'Archive/2026');
		expect(state.messages).toHaveLength(1);
		expect(state.messages[0].flags).toEqual([]);
		expect((await stack.mailboxState(user)).messages).toEqual([]);
	});

	it('waitForMessages fails clearly instead of hanging when mail never arrives', async () => {
		await expect(stack.waitForMessages(stack.newMailbox('nothing'), 1, { timeoutMs: 200 })).rejects.toThrow(/0 message\(s\) after 200 ms, expected 1/);
	});

	it('has no crashes in the server logs so far', () => {
		expect(stack.crashes()).toEqual([]);
	});
});
