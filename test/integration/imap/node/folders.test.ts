/** Folder operations of the Gmail IMAP node on the real Dovecot: what the server holds afterwards, not what the node says. */
import { expression } from '../../harness/executeHarness';
import { deliverNumbered, imapLogins, newAccount, runError, runNode, stack, waitForLogins } from './nodeKit';

jest.setTimeout(30_000);

describe('Gmail IMAP node: folders on the real server', () => {
	it('Get Many lists every folder with path, delimiter, flags and special use', async () => {
		const account = await newAccount();
		await stack.createFolder(account.user, 'Clients');
		const { items } = await runNode(account, { resource: 'folder', operation: 'getMany' });
		const byPath = Object.fromEntries(items.map((item) => [item.json.path, item.json]));
		expect(Object.keys(byPath).sort()).toEqual(['Clients', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
		expect(items[0].json.path).toBe('INBOX');
		expect(byPath.Drafts).toMatchObject({ name: 'Drafts', specialUse: '\\Drafts', delimiter: expect.any(String) });
		expect(byPath.Trash).toMatchObject({ specialUse: '\\Trash' });
		expect(byPath.Clients).toMatchObject({ specialUse: null });
		expect(Array.isArray(byPath.INBOX.flags)).toBe(true);
		expect(items.every((item) => item.pairedItem && (item.pairedItem as { item: number }).item === 0)).toBe(true);
	});

	it('Get Status reports messages, unseen, UIDNEXT and UIDVALIDITY as the server has them', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const state = await stack.mailboxState(account.user);
		const { items } = await runNode(account, { resource: 'folder', operation: 'getStatus', mailbox: 'INBOX' });
		expect(items).toHaveLength(1);
		expect(items[0].json).toEqual({
			path: 'INBOX',
			messages: 3,
			unseen: 3,
			uidNext: state.uidNext,
			uidValidity: String(state.uidValidity),
		});
	});

	it('Create, Rename and Delete change the folders on the server, one item per input item over one session', async () => {
		const account = await newAccount();
		const logins = imapLogins(account.user);
		const created = await runNode(
			account,
			{ resource: 'folder', operation: 'create', mailbox: expression((item) => item.json.name) },
			{ items: [{ json: { name: 'Clients/2024' } }, { json: { name: 'Invoices' } }] },
		);
		expect(created.items.map((item) => item.json)).toEqual([
			{ path: 'Clients/2024', created: true },
			{ path: 'Invoices', created: true },
		]);
		expect(created.items.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(await waitForLogins(account.user, logins + 1)).toBe(logins + 1);
		expect(await stack.folders(account.user)).toEqual(expect.arrayContaining(['Clients/2024', 'Invoices']));

		await deliverNumbered(account.user, 1);
		const state = await stack.mailboxState(account.user);
		await stack.saveMessage(account.user, 'Subject: kept\r\n\r\nkept\r\n', 'Invoices');
		const renamed = await runNode(account, { resource: 'folder', operation: 'rename', mailbox: 'Invoices', newName: 'Archive' });
		expect(renamed.items[0].json).toEqual({ path: 'Invoices', newPath: 'Archive' });
		const folders = await stack.folders(account.user);
		expect(folders).toContain('Archive');
		expect(folders).not.toContain('Invoices');
		expect((await stack.mailboxState(account.user, 'Archive')).messages).toHaveLength(1);

		const deleted = await runNode(account, { resource: 'folder', operation: 'delete', mailbox: 'Archive' });
		expect(deleted.items[0].json).toEqual({ path: 'Archive', deleted: true });
		expect(await stack.folders(account.user)).not.toContain('Archive');
		// INBOX is refused before anything reaches the server, and its mail is untouched.
		const refused = await runError(account, { resource: 'folder', operation: 'delete', mailbox: 'inbox' });
		expect(refused.message).toBe('INBOX cannot be deleted');
		expect((await stack.mailboxState(account.user)).messages).toEqual(state.messages);
	});

	it('refuses a folder that does not exist, naming it; with Continue On Fail the other items still run', async () => {
		const account = await newAccount();
		const error = await runError(account, { resource: 'folder', operation: 'getStatus', mailbox: 'Nowhere' });
		expect(error.message).toBe('The folder "Nowhere" does not exist on the server');
		expect(error.description).toContain('Folder → Get Many');

		const { items } = await runNode(
			account,
			{ resource: 'folder', operation: 'getStatus', mailbox: expression((item) => item.json.folder) },
			{ items: [{ json: { folder: 'Nowhere' } }, { json: { folder: 'INBOX' } }], continueOnFail: true },
		);
		expect(items.map((item) => item.json)).toEqual([
			{ error: 'The folder "Nowhere" does not exist on the server' },
			expect.objectContaining({ path: 'INBOX', messages: 0 }),
		]);
	});
});
