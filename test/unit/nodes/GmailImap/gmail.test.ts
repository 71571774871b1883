/**
 * The Gmail-only operations against the unit IMAP fake (Dovecot has no X-GM-EXT-1), with the exact commands checked:
 * Gmail Search (X-GM-RAW), labels (STORE X-GM-LABELS), Delete to [Gmail]/Trash and a permanent delete through Trash.
 */
import type { IDataObject } from 'n8n-workflow';

import { FakeImapServer } from '../../mail/imap/fakeImap';
import { ACCOUNT, gmailExtras, runUnit } from './unitRun';

function setup() {
	const server = new FakeImapServer(['INBOX']);
	const extras = gmailExtras(server);
	return { server, extras };
}

/** The commands after login, without the LIST the node uses to find special-use folders. */
function sent(server: FakeImapServer): string[] {
	return server.commands.filter((command) => command !== 'LOGIN' && command !== 'LOGOUT');
}

describe('Gmail IMAP node on Gmail (unit fake)', () => {
	it('Search with Gmail Search sends X-GM-RAW and outputs labels, thread and message ids in attributes', async () => {
		const { server, extras } = setup();
		server.deliver('INBOX', { subject: 'plain' });
		const invoice = server.deliver('INBOX', { subject: 'invoice', labels: ['Finance'] });
		server.gmailRaw = (query, message) => query === 'has:attachment' && message.subject === 'invoice';

		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'search', mailbox: 'INBOX', returnAll: true, format: 'headers', filters: { gmailSearch: 'has:attachment' } });
		expect(sent(server)).toEqual(['SELECT INBOX', 'SEARCH {"gmraw":"has:attachment"}', `FETCH ${invoice.uid} uid,flags,internalDate,size,envelope,labels,threadId`]);
		expect(items).toHaveLength(1);
		expect(items[0].json).toMatchObject({ subject: 'invoice' });
		expect(items[0].json.attributes).toMatchObject({ uid: invoice.uid, mailbox: 'INBOX', labels: ['Finance'], threadId: invoice.threadId, gmailMessageId: invoice.emailId });
		expect(server.commands.at(-1)).toBe('LOGOUT');
	});

	it('Gmail Search combines with Custom Email Rules (both must match)', async () => {
		const { server, extras } = setup();
		server.deliver('INBOX', { subject: 'a', flags: ['\\Seen'] });
		const unread = server.deliver('INBOX', { subject: 'b' });
		server.gmailRaw = () => true;
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'search', mailbox: 'INBOX', returnAll: true, format: 'headers', filters: { gmailSearch: 'in:inbox', customEmailConfig: '["UNSEEN"]' } });
		expect(sent(server)).toContain('SEARCH {"seen":false,"gmraw":"in:inbox"}');
		expect(items.map((item) => (item.json.attributes as IDataObject).uid)).toEqual([unread.uid]);
	});

	it('Add / Remove Gmail Labels store X-GM-LABELS on the item\'s message (from the trigger\'s attributes)', async () => {
		const { server, extras } = setup();
		const message = server.deliver('INBOX', { labels: ['\\Inbox'] });
		const folder = server.folders.get('INBOX');
		const item = { json: { attributes: { uid: message.uid, mailbox: 'INBOX', uidValidity: String(folder?.uidValidity) } } };

		const added = await runUnit(server, extras, { resource: 'message', operation: 'addLabels', labels: 'Processed, \\Starred' }, { items: [item] });
		expect(sent(server)).toEqual(['SELECT INBOX', `SEARCH {"uid":"${message.uid}"}`, `STORE ${message.uid} +X-GM-LABELS (Processed \\Starred)`]);
		expect(added.items[0].json).toMatchObject({ mailbox: 'INBOX', uid: message.uid, labelsAdded: ['Processed', '\\Starred'] });

		server.commands.length = 0;
		await runUnit(server, extras, { resource: 'message', operation: 'removeLabels', labels: '\\Inbox' }, { items: [item] });
		expect(sent(server)).toContain(`STORE ${message.uid} -X-GM-LABELS (\\Inbox)`);
		expect([...message.labels].sort()).toEqual(['Processed', '\\Starred']);
	});

	it('Delete on Gmail moves to [Gmail]/Trash (found by special use) and expunges nothing in the label', async () => {
		const { server, extras } = setup();
		const message = server.deliver('INBOX');
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'delete', uid: String(message.uid), mailbox: 'INBOX' });
		expect(sent(server)).toEqual(['LIST', 'SELECT INBOX', `SEARCH {"uid":"${message.uid}"}`, `MOVE ${message.uid} [Gmail]/Trash`]);
		expect(items[0].json).toMatchObject({ deleted: true, permanent: false, movedTo: '[Gmail]/Trash' });
		expect(server.folders.get('[Gmail]/Trash')?.messages).toHaveLength(1);
	});

	it('Delete Permanently on Gmail goes through Trash: MOVE, then UID EXPUNGE of the new UID in Trash only', async () => {
		const { server, extras } = setup();
		server.createFolder('Other');
		const message = server.deliver('INBOX');
		server.deliver('[Gmail]/Trash');
		const trashedBefore = server.folders.get('[Gmail]/Trash')?.messages[0];
		const newUid = server.folders.get('[Gmail]/Trash')?.uidNext;
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'delete', uid: String(message.uid), mailbox: 'INBOX', permanent: true });
		expect(sent(server)).toEqual([
			'LIST',
			'SELECT INBOX',
			`SEARCH {"uid":"${message.uid}"}`,
			`MOVE ${message.uid} [Gmail]/Trash`,
			'SELECT [Gmail]/Trash',
			`DELETE ${newUid}`,
		]);
		expect(items[0].json).toMatchObject({ deleted: true, permanent: true });
		// The message that was in Trash before is not touched.
		expect(server.folders.get('[Gmail]/Trash')?.messages).toEqual([trashedBefore]);
	});

	it('a permanent delete is not attempted when the server does not name the moved message\'s UID', async () => {
		const { server, extras } = setup();
		extras.copyUid = false;
		const message = server.deliver('INBOX');
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'delete', uid: String(message.uid), mailbox: 'INBOX', permanent: true }, { continueOnFail: true });
		expect(items[0].json.error).toBe('The message was moved to "[Gmail]/Trash" but the server did not say its new UID, so it was not deleted there');
		expect(server.commands.some((command) => command.startsWith('DELETE'))).toBe(false);
	});

	it('Create Draft finds [Gmail]/Drafts by special use and APPENDs with \\Draft; the sender is the account', async () => {
		const { server, extras } = setup();
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'createDraft', toEmail: 'a@example.test', subject: 'Hi', emailFormat: 'text', text: 'Hello', options: {} });
		expect(sent(server)).toEqual(['LIST', 'APPEND [Gmail]/Drafts (\\Draft \\Seen)']);
		const [draft] = server.folders.get('[Gmail]/Drafts')?.messages ?? [];
		expect(draft.source.toString()).toContain(`From: ${ACCOUNT}`);
		expect(items[0].json).toMatchObject({ mailbox: '[Gmail]/Drafts', uid: draft.uid, flags: ['\\Draft', '\\Seen'] });
	});

	it('Create Draft stores a draft with no recipient yet (To, CC and BCC empty), without To/Cc/Bcc headers', async () => {
		const { server, extras } = setup();
		const { items } = await runUnit(server, extras, { resource: 'message', operation: 'createDraft', toEmail: '', subject: 'Later', emailFormat: 'text', text: 'Draft', options: {} });
		expect(sent(server)).toEqual(['LIST', 'APPEND [Gmail]/Drafts (\\Draft \\Seen)']);
		const [draft] = server.folders.get('[Gmail]/Drafts')?.messages ?? [];
		const headers = draft.source.toString().split('\r\n\r\n')[0];
		expect(headers).toContain('Subject: Later');
		expect(headers).not.toMatch(/^(To|Cc|Bcc):/im);
		expect(items[0].json).toMatchObject({ mailbox: '[Gmail]/Drafts', uid: draft.uid });
	});
});
