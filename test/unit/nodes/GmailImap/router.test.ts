/** The node's run: one session for all items, Continue On Fail per item, lasting failures, reconnects, redaction, shared mailboxes. */
import { expression } from '../../../integration/harness/executeHarness';
import { FakeImapServer } from '../../mail/imap/fakeImap';
import { FakeActionServerExtras } from '../../mail/imap/actions/fakeActionClient';
import { ACCOUNT, credential, gmailExtras, runUnit } from './unitRun';

function plainServer() {
	const server = new FakeImapServer(['INBOX', 'Trash']);
	const extras = new FakeActionServerExtras();
	extras.specialUse.set('Trash', '\\Trash');
	return { server, extras };
}

function logins(server: FakeImapServer): number {
	return server.commands.filter((command) => command === 'LOGIN').length;
}

describe('Gmail IMAP node: the run (unit fake)', () => {
	it('opens one session for all items, logs out at the end, pairs each output with its item', async () => {
		const { server, extras } = plainServer();
		const messages = [server.deliver('INBOX'), server.deliver('INBOX'), server.deliver('INBOX')];
		const items = messages.map((message) => ({ json: { attributes: { uid: message.uid, mailbox: 'INBOX' } } }));
		const run = await runUnit(server, extras, { resource: 'message', operation: 'markAsRead' }, { items });
		expect(logins(server)).toBe(1);
		expect(server.commands.at(-1)).toBe('LOGOUT');
		expect(server.openClientCount()).toBe(0);
		expect(run.items.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
		expect(messages.every((message) => message.flags.has('\\Seen'))).toBe(true);
		// The action node never idles between commands.
		expect(run.clientOptions[0]).toMatchObject({ disableAutoIdle: true, auth: { user: ACCOUNT } });
	});

	it('opens no session when every item fails on its own parameters', async () => {
		const { server, extras } = plainServer();
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'markAsRead', uid: 'abc' }, { items: [{ json: {} }, { json: {} }], continueOnFail: true });
		expect(items.map((item) => item.json.error)).toEqual(['"UID" must be a positive whole number, got "abc"', '"UID" must be a positive whole number, got "abc"']);
		expect(logins(server)).toBe(0);
	});

	it('a refusal that would repeat (labels without X-GM-EXT-1) is reported for every item without another command', async () => {
		const { server, extras } = plainServer();
		const message = server.deliver('INBOX');
		const item = { json: { attributes: { uid: message.uid, mailbox: 'INBOX' } } };
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'addLabels', labels: 'X' }, { items: [item, item, item], continueOnFail: true });
		expect(new Set(items.map((item) => item.json.error))).toEqual(new Set(['Gmail labels need a Gmail server (X-GM-EXT-1); this server does not offer it']));
		expect(server.commands).toEqual(['LOGIN', 'LOGOUT']);
	});

	it('without Continue On Fail the first failure stops the run with an n8n error naming the item and what to do', async () => {
		const { server, extras } = plainServer();
		await expect(runUnit(server, extras, { resource: 'message', operation: 'get', uid: '7', mailbox: 'INBOX', format: 'headers' })).rejects.toMatchObject({
			message: 'No message with UID 7 in "INBOX"',
			description: expect.stringContaining('Search for it again'),
			context: { itemIndex: 0 },
		});
		expect(server.commands.at(-1)).toBe('LOGOUT');
	});

	it('a connection lost between items is opened again for the next item; one lost during a command fails only that item', async () => {
		const { server, extras } = plainServer();
		const messages = [server.deliver('INBOX'), server.deliver('INBOX'), server.deliver('INBOX')];
		// The server ends the session after the first item (Gmail's session expiry), and again during the third item's search.
		const flags = expression((_item, itemIndex) => {
			if (itemIndex === 1) server.kick('Session expired');
			return '\\Flagged';
		});
		server.beforeCommand = (command, _detail, client) => {
			if (command === 'SEARCH' && logins(server) === 2 && server.commands.filter((entry) => entry.startsWith('STORE')).length === 2) client.serverClose('Session expired');
		};
		const items = messages.map((message) => ({ json: { attributes: { uid: message.uid, mailbox: 'INBOX' } } }));
		const run = await runUnit(server, extras, { resource: 'message', operation: 'flag', flags }, { items, continueOnFail: true });
		expect(run.items[0].json).toMatchObject({ uid: messages[0].uid, flagsAdded: ['\\Flagged'] });
		expect(run.items[1].json).toMatchObject({ uid: messages[1].uid, flagsAdded: ['\\Flagged'] });
		expect(run.items[2].json.error).toBe('The search for the message got no answer: the connection closed');
		expect(messages.map((message) => message.flags.has('\\Flagged'))).toEqual([true, true, false]);
		expect(logins(server)).toBe(2);
	});

	it('never prints the token: a server text that contains it is redacted', async () => {
		const { server, extras } = plainServer();
		server.connectFailure = () => new Error('connection reset while sending token-1');
		await expect(runUnit(server, extras, { resource: 'folder', operation: 'getMany' })).rejects.toThrow(/^(?!.*token-1).*$/);
	});

	it('an unknown folder is named, with what to do', async () => {
		const { server, extras } = plainServer();
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'search', mailbox: 'Nope', returnAll: true, format: 'headers' }, { continueOnFail: true });
		expect(items[0].json.error).toBe('The folder "Nope" does not exist on the server');
	});

	it('Mailbox to Open (Shared Mailbox) is the XOAUTH2 user; the account stays the token owner', async () => {
		const server = new FakeImapServer(['INBOX']);
		const extras = gmailExtras(server);
		const run = await runUnit(server, extras, { resource: 'folder', operation: 'getMany' }, { credential: credential({ sharedMailbox: 'team@example.test' }) });
		expect(run.clientOptions[0].auth).toMatchObject({ user: 'team@example.test', accessToken: 'token-1' });
		expect(server.connectAttempts.map((attempt) => attempt.token)).toEqual(['token-1']);
	});

	it('refuses a shared mailbox that is not one address, before connecting', async () => {
		const { server, extras } = plainServer();
		await expect(runUnit(server, extras, { resource: 'folder', operation: 'getMany' }, { credential: credential({ sharedMailbox: 'a@x.test, b@x.test' }) })).rejects.toThrow(
			'Credential field "Mailbox to Open (Shared Mailbox)" (sharedMailbox) must be one email address, got "a@x.test, b@x.test"',
		);
		expect(server.connectAttempts).toHaveLength(0);
	});
});
