/**
 * The operations that change messages, on the real Dovecot: flags, move, copy, delete (to Trash, permanently), the
 * input items of a Search used as they are, the UIDVALIDITY check, Continue On Fail per item, one session for all
 * items, and the refusals on a server without UIDPLUS / MOVE (a second Dovecot over the same mail announcing less).
 */
import { ImapFlow } from 'imapflow';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import type { DovecotVariant } from '../../../stack/stack';
import { type Account, deliverNumbered, imapLogins, newAccount, runError, runNode, stack, waitForLogins } from './nodeKit';

jest.setTimeout(40_000);

async function searchItems(account: Account, folder = 'INBOX'): Promise<INodeExecutionData[]> {
	return (await runNode(account, { resource: 'message', operation: 'search', mailbox: folder, returnAll: true, format: 'headers', options: { newestFirst: false } })).items;
}

async function flagsOf(user: string, folder = 'INBOX'): Promise<string[][]> {
	return (await stack.mailboxState(user, folder)).messages.map((message) => message.flags.sort());
}

describe('Gmail IMAP node: changing messages on the real server', () => {
	it('Mark as Read / Unread and Flag / Unflag (with a keyword) store exactly those flags, for every input item over one session', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const items = await searchItems(account);
		const logins = imapLogins(account.user);

		const read = await runNode(account, { resource: 'message', operation: 'markAsRead' }, { items });
		expect(read.items.map((item) => item.json)).toEqual(
			items.map((item) => ({
				mailbox: 'INBOX',
				uid: (item.json.attributes as IDataObject).uid,
				uids: [(item.json.attributes as IDataObject).uid],
				uidValidity: (item.json.attributes as IDataObject).uidValidity,
				attributes: { uid: (item.json.attributes as IDataObject).uid, mailbox: 'INBOX', uidValidity: (item.json.attributes as IDataObject).uidValidity },
				flagsAdded: ['\\Seen'],
			})),
		);
		expect(await waitForLogins(account.user, logins + 1)).toBe(logins + 1);
		expect(await flagsOf(account.user)).toEqual([['\\Seen'], ['\\Seen'], ['\\Seen']]);

		await runNode(account, { resource: 'message', operation: 'markAsUnread' }, { items: items.slice(1, 2) });
		await runNode(account, { resource: 'message', operation: 'flag', flags: '\\Flagged, $Processed' }, { items: items.slice(0, 1) });
		expect(await flagsOf(account.user)).toEqual([['$Processed', '\\Flagged', '\\Seen'], [], ['\\Seen']]);
		await runNode(account, { resource: 'message', operation: 'unflag', flags: '$Processed' }, { items: items.slice(0, 1) });
		expect(await flagsOf(account.user)).toEqual([['\\Flagged', '\\Seen'], [], ['\\Seen']]);
	});

	it('Move and Copy: the server holds the message in the new folder, the output names its new UID', async () => {
		const account = await newAccount();
		await stack.createFolder(account.user, 'Processed');
		await stack.createFolder(account.user, 'Copies');
		await deliverNumbered(account.user, 2);
		const [first, second] = await searchItems(account);

		const moved = await runNode(account, { resource: 'message', operation: 'move', destinationFolder: 'Processed' }, { items: [first] });
		const processed = await stack.mailboxState(account.user, 'Processed');
		expect(processed.messages).toHaveLength(1);
		expect(moved.items[0].json).toMatchObject({ destination: 'Processed', newUid: processed.messages[0].uid, destinationUidValidity: String(processed.uidValidity) });
		expect((await stack.mailboxState(account.user)).messages.map((message) => message.uid)).toEqual([(second.json.attributes as IDataObject).uid]);

		const copied = await runNode(account, { resource: 'message', operation: 'copy', destinationFolder: 'Copies' }, { items: [second] });
		expect(copied.items[0].json).toMatchObject({ destination: 'Copies', newUid: expect.any(Number) });
		expect((await stack.mailboxState(account.user, 'Copies')).messages).toHaveLength(1);
		expect((await stack.mailboxState(account.user)).messages).toHaveLength(1);

		// The moved message's old item names nothing any more: the error says so and what to do.
		const gone = await runError(account, { resource: 'message', operation: 'markAsRead' }, { items: [first] });
		expect(gone.message).toBe(`No message with UID ${(first.json.attributes as IDataObject).uid} in "INBOX"`);
		expect(gone.description).toContain('Search for it again');
	});

	it('Delete: to Trash by default; permanently when chosen; a message in Trash is deleted for good', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 2);
		const [first, second] = await searchItems(account);
		const toTrash = await runNode(account, { resource: 'message', operation: 'delete' }, { items: [first] });
		expect(toTrash.items[0].json).toMatchObject({ deleted: true, permanent: false, movedTo: 'Trash' });
		expect((await stack.mailboxState(account.user, 'Trash')).messages).toHaveLength(1);

		const [inTrash] = await searchItems(account, 'Trash');
		const purged = await runNode(account, { resource: 'message', operation: 'delete' }, { items: [inTrash] });
		expect(purged.items[0].json).toMatchObject({ mailbox: 'Trash', deleted: true, permanent: true });
		expect((await stack.mailboxState(account.user, 'Trash')).messages).toHaveLength(0);

		// Another client's \Deleted message in the same folder survives a permanent delete (UID EXPUNGE of ours only).
		await stack.deliver({ to: account.user, subject: 'other client', text: 'x' });
		const other = (await searchItems(account))[1];
		await runNode(account, { resource: 'message', operation: 'flag', flags: '\\Deleted' }, { items: [other] });
		await runNode(account, { resource: 'message', operation: 'delete', permanent: true }, { items: [second] });
		const inbox = await stack.mailboxState(account.user);
		expect(inbox.messages.map((message) => message.uid)).toEqual([(other.json.attributes as IDataObject).uid]);
		expect((await stack.mailboxState(account.user, 'Trash')).messages).toHaveLength(0);
	});

	it('chains without mapping: Flag → Move → Get, each taking the previous output\'s attributes (after Move: the new place)', async () => {
		const account = await newAccount();
		await stack.createFolder(account.user, 'Processed');
		await deliverNumbered(account.user, 1);
		const found = await searchItems(account);
		const flagged = await runNode(account, { resource: 'message', operation: 'flag', flags: '$Seen-By-Bot' }, { items: found });
		const moved = await runNode(account, { resource: 'message', operation: 'move', destinationFolder: 'Processed' }, { items: flagged.items });
		const processed = await stack.mailboxState(account.user, 'Processed');
		expect(moved.items[0].json.attributes).toEqual({ uid: processed.messages[0].uid, mailbox: 'Processed', uidValidity: String(processed.uidValidity) });
		const got = await runNode(account, { resource: 'message', operation: 'get', format: 'headers' }, { items: moved.items });
		expect(got.items[0].json).toMatchObject({ subject: 'message 1', attributes: { mailbox: 'Processed', flags: expect.arrayContaining(['$Seen-By-Bot']) } });
	});

	it('refuses to act on an item whose folder changed UIDVALIDITY since; with Continue On Fail the next item still runs', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 2);
		const [first, second] = await searchItems(account);
		const stale = { json: { ...first.json, attributes: { ...(first.json.attributes as IDataObject), uidValidity: '12345' } } };
		const { items } = await runNode(account, { resource: 'message', operation: 'markAsRead' }, { items: [stale, second], continueOnFail: true });
		expect(items[0].json.error).toBe(
			`The folder "INBOX" changed its UIDVALIDITY since the item was made (12345 → ${(first.json.attributes as IDataObject).uidValidity}): its UIDs may now name other messages, so nothing was done`,
		);
		expect(items[1].json).toMatchObject({ flagsAdded: ['\\Seen'] });
		expect(await flagsOf(account.user)).toEqual([[], ['\\Seen']]);
	});

	it('refuses Gmail labels on a server without X-GM-EXT-1, for every item without another attempt', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 2);
		const found = await searchItems(account);
		const { items } = await runNode(account, { resource: 'message', operation: 'addLabels', labels: 'Processed' }, { items: found, continueOnFail: true });
		expect(items.map((item) => item.json.error)).toEqual([
			'Gmail labels need a Gmail server (X-GM-EXT-1); this server does not offer it',
			'Gmail labels need a Gmail server (X-GM-EXT-1); this server does not offer it',
		]);
	});

	describe('on a server without UIDPLUS (and without MOVE)', () => {
		let withoutUidplus: DovecotVariant;
		let withoutMoveAndUidplus: DovecotVariant;

		beforeAll(async () => {
			const user = stack.newMailbox('caps');
			const probe = new ImapFlow({ host: stack.host, port: stack.ports.imaps, secure: true, tls: stack.tlsOptions(), auth: { user, accessToken: await stack.accessToken(user) }, logger: false });
			await probe.connect();
			const announced = [...probe.capabilities.entries()].map(([name, value]) => (value === true ? name : `${name}=${String(value)}`));
			await probe.logout();
			const without = (...names: string[]) => announced.filter((name) => !names.includes(name.toUpperCase())).join(' ');
			[withoutUidplus, withoutMoveAndUidplus] = await Promise.all([
				stack.startDovecotVariant({ imapCapability: without('UIDPLUS') }),
				stack.startDovecotVariant({ imapCapability: without('UIDPLUS', 'MOVE') }),
			]);
		});

		afterAll(async () => {
			await Promise.all([withoutUidplus?.stop(), withoutMoveAndUidplus?.stop()]);
		});

		it('a permanent Delete is refused without UIDPLUS and another client\'s \\Deleted mail stays; Move still works with MOVE', async () => {
			const account = await newAccount();
			await stack.createFolder(account.user, 'Processed');
			await deliverNumbered(account.user, 3);
			const found = await searchItems(account);
			await runNode(account, { resource: 'message', operation: 'flag', flags: '\\Deleted' }, { items: [found[2]] });
			const variant = { ...account, credential: account.credential };
			variant.credential.data.imapPort = withoutUidplus.imapsPort;
			const refused = await runError(variant, { resource: 'message', operation: 'delete', permanent: true }, { items: [found[0]] });
			expect(refused.message).toContain('Deleting permanently needs the IMAP extension UIDPLUS');
			expect((await stack.mailboxState(account.user)).messages).toHaveLength(3);

			const moved = await runNode(variant, { resource: 'message', operation: 'move', destinationFolder: 'Processed' }, { items: [found[0]] });
			expect(moved.items[0].json).toMatchObject({ destination: 'Processed' });
			expect((await stack.mailboxState(account.user)).messages).toHaveLength(2);
			expect((await stack.mailboxState(account.user, 'Processed')).messages).toHaveLength(1);
		});

		it('Move and Delete (to Trash) are refused without MOVE and UIDPLUS, for every item, and nothing is expunged', async () => {
			const account = await newAccount();
			await stack.createFolder(account.user, 'Processed');
			await deliverNumbered(account.user, 2);
			const found = await searchItems(account);
			await runNode(account, { resource: 'message', operation: 'flag', flags: '\\Deleted' }, { items: [found[1]] });
			account.credential.data.imapPort = withoutMoveAndUidplus.imapsPort;
			const { items } = await runNode(account, { resource: 'message', operation: 'move', destinationFolder: 'Processed' }, { items: found, continueOnFail: true });
			expect(items).toHaveLength(2);
			for (const item of items) expect(item.json.error).toContain('Moving needs the IMAP extension MOVE or UIDPLUS');
			const deleted = await runError(account, { resource: 'message', operation: 'delete' }, { items: [found[0]] });
			expect(deleted.message).toContain('Moving needs the IMAP extension MOVE or UIDPLUS');
			expect((await stack.mailboxState(account.user)).messages).toHaveLength(2);
		});
	});
});
