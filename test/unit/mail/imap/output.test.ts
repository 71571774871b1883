/** Output modes: Automatic (adaptive) runs one message alone and batches what waits together. */
import { FakeImapServer } from './fakeImap';
import { N8nModel } from './n8nModel';
import { advance, useFakeClock } from './watcherHarness';

// jest's fake clock: nothing waits in real time (timeouts are simulated milliseconds).
useFakeClock();

const models: N8nModel[] = [];

afterEach(async () => {
	for (const created of models.splice(0)) await created.stop();
});

describe('Output: Automatic', () => {
	it('starts one run per message while mail trickles in, and batches of up to Batch Size for mail found waiting together', async () => {
		const server = new FakeImapServer();
		const n8n = new N8nModel(server, { output: { mode: 'adaptive', size: 4 }, start: { mode: 'unread' } });
		models.push(n8n);
		// Ten messages wait before the activation (downtime): batches of 4, 4, 2.
		const waiting = Array.from({ length: 10 }, () => server.deliver('INBOX'));
		await n8n.activate();
		await n8n.waitFor(() => n8n.executions.reduce((sum, execution) => sum + execution.items.length, 0) === 10, 3000, 'the backlog');
		expect(n8n.executions.map((execution) => execution.items.length)).toEqual([4, 4, 2]);
		// Then single messages, each in its own run.
		for (let index = 0; index < 3; index++) {
			server.deliver('INBOX');
			await n8n.waitFor(() => n8n.executions.length === 4 + index, 3000, `trickle ${index}`);
			await advance(30);
		}
		expect(n8n.executions.slice(3).map((execution) => execution.items.length)).toEqual([1, 1, 1]);
		expect(n8n.executions.flatMap((execution) => execution.messages)).toEqual(
			[...waiting.map((message) => `INBOX:${message.uid}`), 'INBOX:11', 'INBOX:12', 'INBOX:13'],
		);
	});

	it('lets a burst settle after a run of several messages, so the rest goes out in fuller runs; a lone message is not delayed', async () => {
		const server = new FakeImapServer();
		const n8n = new N8nModel(server, { output: { mode: 'adaptive', size: 50 }, start: { mode: 'unread' }, burstSettleMs: 1000 });
		models.push(n8n);
		server.deliver('INBOX');
		server.deliver('INBOX');
		await n8n.activate();
		await n8n.waitFor(() => n8n.executions.length === 1, 3000, 'the two waiting');
		const settleFrom = Date.now();
		// The burst goes on: three more arrive, 100 ms apart, while the trigger lets it settle.
		for (let index = 0; index < 3; index++) {
			server.deliver('INBOX');
			await advance(100);
		}
		expect(n8n.executions).toHaveLength(1);
		await n8n.waitFor(() => n8n.executions.length === 2, 3000, 'the rest of the burst');
		expect(Date.now() - settleFrom).toBeGreaterThanOrEqual(900);
		expect(n8n.executions.map((execution) => execution.items.length)).toEqual([2, 3]);
		// Quiet again: a lone message starts its run at once.
		await advance(1500);
		const deliveredAt = Date.now();
		server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executions.length === 3, 3000, 'a lone message');
		expect(Date.now() - deliveredAt).toBeLessThan(200);
		expect(n8n.executions[2].items).toHaveLength(1);
	});
});
