import { applyPostActions } from '../../../../nodes/mail/imap/postActions';
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
