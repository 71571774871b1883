/** Message → Search and Get on the real Dovecot: criteria, dates, limit and order, the formats, attachments as binary. */
import type { IDataObject } from 'n8n-workflow';

import { deliverNumbered, newAccount, runError, runNode, stack } from './nodeKit';

jest.setTimeout(30_000);

const SEARCH = { resource: 'message', operation: 'search', mailbox: 'INBOX' };

function attributes(json: IDataObject): IDataObject {
	return json.attributes as IDataObject;
}

describe('Gmail IMAP node: Search and Get on the real server', () => {
	it('Search: Custom Email Rules, newest first, the limit; headers only leaves the messages unread', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 4);
		await stack.deliver({ from: 'billing@example.test', to: account.user, subject: 'invoice', text: 'pay' });
		const state = await stack.mailboxState(account.user);

		const all = await runNode(account, { ...SEARCH, returnAll: true, format: 'headers' });
		expect(all.items.map((item) => item.json.subject)).toEqual(['invoice', 'message 4', 'message 3', 'message 2', 'message 1']);
		expect(all.items[0].json).toMatchObject({ from: 'billing@example.test', to: account.user, messageId: expect.stringMatching(/^<.+>$/) });
		expect(attributes(all.items[1].json)).toMatchObject({
			uid: state.messages[3].uid,
			mailbox: 'INBOX',
			uidValidity: String(state.uidValidity),
			size: state.messages[3].size,
		});
		// Flags as the server reports them to this session (\Recent included, as in the trigger's items); not read.
		expect(attributes(all.items[1].json).flags).not.toContain('\\Seen');

		const limited = await runNode(account, { ...SEARCH, limit: 2, format: 'headers', options: { newestFirst: false } });
		expect(limited.items.map((item) => item.json.subject)).toEqual(['message 1', 'message 2']);

		const filtered = await runNode(account, { ...SEARCH, returnAll: true, format: 'headers', filters: { customEmailConfig: '["UNSEEN", ["FROM", "billing@example.test"]]' } });
		expect(filtered.items.map((item) => item.json.subject)).toEqual(['invoice']);
		// Nothing was read: the search and the headers leave \Seen alone.
		expect((await stack.mailboxState(account.user)).messages.every((message) => message.flags.length === 0)).toBe(true);
	});

	it('Search: Received After / Before on the exact moment (INTERNALDATE), not only the day', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 1);
		await new Promise((resolve) => setTimeout(resolve, 1200));
		const between = new Date();
		await new Promise((resolve) => setTimeout(resolve, 1200));
		await stack.deliver({ to: account.user, subject: 'later', text: 'x' });
		const after = await runNode(account, { ...SEARCH, returnAll: true, format: 'headers', filters: { receivedAfter: between.toISOString() } });
		expect(after.items.map((item) => item.json.subject)).toEqual(['later']);
		const before = await runNode(account, { ...SEARCH, returnAll: true, format: 'headers', filters: { receivedBefore: between.toISOString() } });
		expect(before.items.map((item) => item.json.subject)).toEqual(['message 1']);
	});

	it('Search: simple format with attachments as binary data, resolved and raw as the trigger makes them', async () => {
		const account = await newAccount();
		await stack.deliver({
			to: account.user,
			subject: 'with file',
			text: 'see attached',
			attachments: [{ filename: 'report.csv', content: 'a,b\n1,2\n', contentType: 'text/csv' }],
		});
		const simple = await runNode(account, { ...SEARCH, returnAll: true, format: 'simple', downloadAttachments: true, dataPropertyAttachmentsPrefixName: 'file_' });
		expect(simple.items).toHaveLength(1);
		expect(simple.items[0].json).toMatchObject({ subject: 'with file', textPlain: expect.stringContaining('see attached') });
		expect(simple.items[0].binary?.file_0).toMatchObject({ fileName: 'report.csv', mimeType: 'text/csv' });
		expect(Buffer.from(simple.items[0].binary?.file_0.data ?? '', 'base64').toString()).toBe('a,b\n1,2\n');

		const raw = await runNode(account, { ...SEARCH, returnAll: true, format: 'raw' });
		const stored = (await stack.mailboxState(account.user, 'INBOX', { includeRaw: true })).messages[0];
		expect(typeof raw.items[0].json.raw).toBe('string');
		expect(stored.raw).toContain(String(raw.items[0].json.raw).slice(0, 40));

		const resolved = await runNode(account, { ...SEARCH, returnAll: true, format: 'resolved' });
		expect(resolved.items[0].binary?.attachment_0).toMatchObject({ fileName: 'report.csv' });
		expect(attributes(resolved.items[0].json).uid).toBe(stored.uid);
		// Downloading the message did not mark it read (BODY.PEEK).
		expect((await stack.mailboxState(account.user)).messages[0].flags).toEqual([]);
	});

	it('Search: Gmail Search is refused on a server without X-GM-EXT-1, saying what to use instead', async () => {
		const account = await newAccount();
		const error = await runError(account, { ...SEARCH, returnAll: true, filters: { gmailSearch: 'has:attachment' } });
		expect(error.message).toContain('need a Gmail server (X-GM-EXT-1)');
		expect(error.description).toContain('Custom Email Rules');
	});

	it('Get: by UID and folder, by the input item of a Search (no mapping), and by Message-ID', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 2);
		const state = await stack.mailboxState(account.user);
		const byUid = await runNode(account, { resource: 'message', operation: 'get', uid: String(state.messages[1].uid), mailbox: 'INBOX', format: 'simple' });
		expect(byUid.items[0].json).toMatchObject({ subject: 'message 2', textPlain: expect.stringContaining('body of message 2') });

		const found = await runNode(account, { ...SEARCH, returnAll: true, format: 'headers' });
		const chained = await runNode(account, { resource: 'message', operation: 'get', format: 'simple' }, { items: found.items });
		expect(chained.items.map((item) => item.json.subject)).toEqual(['message 2', 'message 1']);
		expect(chained.items.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);

		const byMessageId = await runNode(account, { resource: 'message', operation: 'get', identifyBy: 'messageId', messageId: `<m1.${account.user}>`, mailbox: 'INBOX', format: 'headers' });
		expect(byMessageId.items.map((item) => item.json.subject)).toEqual(['message 1']);
		const missing = await runError(account, { resource: 'message', operation: 'get', identifyBy: 'messageId', messageId: '<nowhere@example.test>', format: 'headers' });
		expect(missing.message).toBe('No message with Message-ID <nowhere@example.test> in "INBOX"');
	});

	it('Get: a message larger than Max Message Size is not downloaded; its item says so with headers and attributes', async () => {
		const account = await newAccount();
		await stack.deliver({ to: account.user, subject: 'big', text: 'x'.repeat(1_200_000) });
		const { items } = await runNode(account, { ...SEARCH, returnAll: true, format: 'simple', options: { maxMessageSizeMb: 1 } });
		expect(items[0].json.error).toMatch(/larger than "Max Message Size \(MB\)" allows \(1 MB\)/);
		expect(items[0].json).toMatchObject({ headers: { subject: 'big' }, attributes: { mailbox: 'INBOX' } });
	});
});
