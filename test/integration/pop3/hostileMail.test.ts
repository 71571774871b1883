/**
 * Hostile mail on the real stack (Dovecot POP3S): a message the parser refuses and a message above Max Message Size
 * each become one error item; the run goes on with the next message, and neither is reported again or deleted.
 */
import { deliverNumbered, GET_MANY, newAccount, stack, storedRecord, subjects } from './popTestKit';

jest.setTimeout(120_000);

/** A multipart/mixed message with `parts` tiny text parts (the parser's limit is 1,000). */
function manyParts(parts: number): string {
	const boundary = 'b-many-parts';
	const lines = [
		'From: sender@example.test',
		'To: someone@example.test',
		'Subject: 3000 parts',
		'Message-ID: <many-parts@example.test>',
		'MIME-Version: 1.0',
		`Content-Type: multipart/mixed; boundary="${boundary}"`,
		'',
	];
	for (let part = 0; part < parts; part++) lines.push(`--${boundary}`, 'Content-Type: text/plain', '', `part ${part}`);
	lines.push(`--${boundary}--`, '');
	return lines.join('\r\n');
}

describe('Gmail POP Get Many: hostile mail on Dovecot POP3S', () => {
	it('a message with 3,000 MIME parts becomes an error item; the next message is output; neither comes back', async () => {
		const account = await newAccount();
		await stack.saveMessage(account.user, manyParts(3000));
		await deliverNumbered(account.user, 1, 2);
		const parameters = { ...GET_MANY, options: { deleteAfterDownload: true } };

		const run = await account.harness.run({ parameters });
		expect(run.items).toHaveLength(2);
		expect(run.items[0].json).toEqual({
			error: expect.stringMatching(/^The message could not be parsed: .*\S/),
			uidl: expect.any(String),
			size: expect.any(Number),
		});
		expect(run.items[0].pairedItem).toEqual({ item: 0 });
		expect(run.items[1].json.subject).toBe('message 2');
		// Handled, not deleted: the refused message stays on the server and in the record.
		const left = await stack.mailboxState(account.user);
		expect(left.messages).toHaveLength(1);
		expect(storedRecord(account)?.uidls).toEqual([run.items[0].json.uidl]);

		const next = await account.harness.run({ parameters });
		expect(next.items).toEqual([]);
	});

	it('a message above Max Message Size is not downloaded: error item with uidl and size, then the next message', async () => {
		const account = await newAccount();
		await stack.deliver({ from: 'sender@example.test', to: account.user, subject: 'big', text: 'x'.repeat(1_500_000) });
		await deliverNumbered(account.user, 1, 2);
		const run = await account.harness.run({ parameters: { ...GET_MANY, options: { maxMessageSizeMb: 1 } } });
		expect(subjects(run.items)).toEqual([undefined, 'message 2']);
		expect(run.items[0].json).toEqual({ error: expect.stringContaining('"Max Message Size (MB)"'), uidl: expect.any(String), size: expect.any(Number) });
		expect(run.items[0].json.size as number).toBeGreaterThan(1024 * 1024);
		const transcript = account.harness.lastLogs.map((entry) => entry.message);
		expect(transcript).not.toContain('POP3 C: RETR 1');
		expect(transcript).toContain('POP3 C: RETR 2');
		expect((await account.harness.run({ parameters: { ...GET_MANY, options: { maxMessageSizeMb: 1 } } })).items).toEqual([]);
	});
});
