import { applyPostActions, labelIsFolder, postActionProblem, sameMailbox } from '../../../../nodes/mail/imap/postActions';
import { FakeImapClient, FakeImapServer } from './fakeImap';

const PLAN = { markRead: false, addLabels: [], removeLabels: [], delete: false };

async function connectedClient(server: FakeImapServer): Promise<FakeImapClient> {
	const client = new FakeImapClient(server, { host: '127.0.0.1', port: 993, auth: { user: 'u', accessToken: 'any' } });
	await client.connect();
	return client;
}

describe('applyPostActions: imapflow 2.10 answers', () => {
	it('counts a MOVE that resolves undefined (no mailbox selected) as failed, not done', async () => {
		const server = new FakeImapServer(['INBOX', 'Done']);
		server.deliver('INBOX');
		const client = await connectedClient(server);
		// Nothing selected: imapflow's messageMove() resolves undefined without sending anything.
		await expect(applyPostActions(client, [1], { ...PLAN, moveTo: 'Done' })).rejects.toThrow(/refused to move/);
		expect(server.folders.get('Done')?.messages).toHaveLength(0);
		client.close();
	});

	it('reports a refused STORE (NO) and a refused EXPUNGE as failures', async () => {
		const server = new FakeImapServer();
		server.deliver('INBOX');
		const client = await connectedClient(server);
		await client.getMailboxLock('INBOX');
		server.refuse = (command) => command === 'STORE';
		await expect(applyPostActions(client, [1], { ...PLAN, markRead: true })).rejects.toThrow(/mark the message/);
		server.refuse = (command) => command === 'EXPUNGE';
		await expect(applyPostActions(client, [1], { ...PLAN, delete: true })).rejects.toThrow(/delete/);
		expect(server.message('INBOX', 1)).toBeDefined();
		client.close();
	});
});

describe('postActionProblem: refusals at activation', () => {
	const capabilities = (...names: string[]) => new Map(names.map((name) => [name, true] as [string, boolean]));
	const all = capabilities('UIDPLUS', 'MOVE', 'X-GM-EXT-1');

	it('needs UIDPLUS to delete, and MOVE or UIDPLUS to move (a plain EXPUNGE removes other clients\' deleted mail)', () => {
		expect(postActionProblem({ ...PLAN, delete: true }, capabilities('MOVE'))).toMatch(/Delete After Run needs the IMAP extension UIDPLUS/);
		expect(postActionProblem({ ...PLAN, delete: true }, capabilities('UIDPLUS'))).toBeUndefined();
		expect(postActionProblem({ ...PLAN, moveTo: 'Done' }, capabilities())).toMatch(/Move to Folder needs the IMAP extension MOVE or UIDPLUS/);
		expect(postActionProblem({ ...PLAN, moveTo: 'Done' }, capabilities('MOVE'))).toBeUndefined();
		expect(postActionProblem({ ...PLAN, moveTo: 'Done' }, capabilities('UIDPLUS'))).toBeUndefined();
		expect(postActionProblem({ ...PLAN, markRead: true }, capabilities())).toBeUndefined();
	});

	it('refuses a move into a watched folder, comparing as the server does (INBOX in any case, others exactly)', () => {
		expect(postActionProblem({ ...PLAN, moveTo: 'inbox' }, all, ['INBOX'])).toMatch(/Move to Folder "inbox" is a watched folder \("INBOX"\)/);
		expect(postActionProblem({ ...PLAN, moveTo: 'Work' }, all, ['INBOX', 'Work'])).toMatch(/watched folder/);
		expect(postActionProblem({ ...PLAN, moveTo: 'work' }, all, ['INBOX', 'Work'])).toBeUndefined();
		expect(postActionProblem({ ...PLAN, moveTo: 'Archive' }, all, ['INBOX'])).toBeUndefined();
	});

	it('refuses adding a Gmail label that is a watched folder, system labels included', () => {
		expect(postActionProblem({ ...PLAN, addLabels: ['Work'] }, all, ['INBOX', 'Work'])).toMatch(/added Gmail label "Work" is a watched folder/);
		expect(postActionProblem({ ...PLAN, addLabels: ['\\Inbox'] }, all, ['INBOX'])).toMatch(/watched folder \("INBOX"\)/);
		expect(postActionProblem({ ...PLAN, addLabels: ['\\Starred'] }, all, ['[Gmail]/Starred'])).toMatch(/watched folder/);
		expect(postActionProblem({ ...PLAN, addLabels: ['Processed'], removeLabels: ['Work'] }, all, ['Work'])).toBeUndefined();
		expect(sameMailbox('Inbox', 'INBOX')).toBe(true);
		expect(labelIsFolder('\\Important', '[Google Mail]/Important')).toBe(true);
		expect(labelIsFolder('Work', 'Work/Sub')).toBe(false);
	});
});
