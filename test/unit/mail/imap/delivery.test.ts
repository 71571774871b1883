/**
 * Durable delivery against a model of n8n (n8nModel.ts): deduplication keys, the in-flight record, redelivery after a
 * crash, rejected and never-settled done promises, a throwing emit. The property throughout: every message ends with
 * exactly one execution — none without, none with two.
 */
import { deliveryKey } from '../../../../nodes/mail/imap/watch/inFlight';
import { FakeImapServer } from './fakeImap';
import type { EmitFate } from './n8nModel';
import type { N8nModel } from './n8nModel';
import { modelsStoppedAfterEach } from './n8nModel';
import { advance, useFakeClock } from './watcherHarness';

// jest's fake clock: nothing waits in real time (timeouts are simulated milliseconds).
useFakeClock();

const model = modelsStoppedAfterEach();

/** Asserts exactly one execution per message (not counting ones n8n gave up on before they ran); prints offenders. */
function expectExactlyOnce(n8n: N8nModel, messages: string[]): void {
	const wrong = messages
		.map((message) => ({
			message,
			executions: n8n
				.executionsOf(message)
				.filter((execution) => !execution.abandoned)
				.map((execution) => `${execution.id}:${execution.status}`),
		}))
		.filter((entry) => entry.executions.length !== 1);
	expect(wrong).toEqual([]);
}

/** A seeded random source (tests repeat exactly). */
function seeded(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state * 1664525 + 1013904223) >>> 0;
		return state / 2 ** 32;
	};
}

describe('deliveryKey', () => {
	it('is the same for the same messages of the same trigger, and differs for anything that identifies them otherwise', () => {
		const key = deliveryKey('scope', 'INBOX', '7', [3]);
		expect(key).toBe(deliveryKey('scope', 'INBOX', '7', [3]));
		expect(key).toMatch(/^gmail-imap:[0-9a-f]{64}$/);
		expect(key.length).toBeLessThanOrEqual(255);
		const others = [
			deliveryKey('other scope', 'INBOX', '7', [3]),
			deliveryKey('scope', 'Archive', '7', [3]),
			deliveryKey('scope', 'INBOX', '8', [3]),
			deliveryKey('scope', 'INBOX', '7', [4]),
			deliveryKey('scope', 'INBOX', '7', [3, 4]),
			deliveryKey('scope', 'INBOX', '7', [3], 1),
		];
		expect(new Set([key, ...others]).size).toBe(7);
		expect(deliveryKey('scope', 'INBOX', '7', [3], 0)).toBe(key);
		// A batch is named by its set of UIDs, in any order.
		expect(deliveryKey('scope', 'INBOX', '7', [5, 3, 4])).toBe(deliveryKey('scope', 'INBOX', '7', [3, 4, 5]));
	});
});

describe('durable delivery: n8n reports every run', () => {
	it('sends a key with every emit and keeps the run in flight, in the same static-data save, until n8n reports it', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		n8n.fate = () => 'never';
		await n8n.activate();
		const message = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.emits.length === 1, 3000, 'the emit');
		const [emit] = n8n.emits;
		expect(emit.key).toMatch(/^gmail-imap:/);
		// What the database got with this emit: the checkpoint past the message AND the run in flight.
		const saved = n8n.saved.gmailImapTrigger as { folders: Record<string, { lastUid: number }>; inFlight: Array<{ key: string; uids: number[] }> };
		expect(saved.folders.INBOX.lastUid).toBe(message.uid);
		expect(saved.inFlight).toEqual([expect.objectContaining({ key: emit.key, folder: 'INBOX', uids: [message.uid] })]);

		// Settled: the entry leaves.
		n8n.fate = () => 'succeed';
		const second = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executionsOf(`INBOX:${second.uid}`)[0]?.status === 'success', 3000, 'the second run');
		await n8n.waitFor(() => n8n.inFlight().length === 1, 3000, 'only the unreported run in flight');
		expect(n8n.inFlight()[0].uids).toEqual([message.uid]);
	});

	it('emits a run left unreported by a crash again at the next activation with the same key: n8n skips it, nothing runs twice', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		n8n.fate = () => 'never';
		await n8n.activate();
		const message = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.emits.length === 1, 3000, 'the emit');
		await n8n.crash();
		expect(n8n.executions[0].status).toBe('crashed');

		n8n.fate = () => 'succeed';
		await n8n.activate();
		await n8n.waitFor(() => n8n.emits.length === 2, 3000, 'the emit again');
		expect(n8n.emits[1]).toMatchObject({ key: n8n.emits[0].key, result: 'duplicate', messages: [`INBOX:${message.uid}`] });
		await n8n.waitFor(() => n8n.inFlight().length === 0, 3000, 'the run leaving the record');
		expectExactlyOnce(n8n, [`INBOX:${message.uid}`]);
		expect(n8n.logs.some((entry) => /emitted before n8n stopped and not reported finished/.test(entry.message))).toBe(true);
	});

	it('a message whose execution was never created (n8n died after saving the checkpoint) runs at the next activation, marked redelivered', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		await n8n.activate();
		const first = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executions.length === 1, 3000, 'the first run');
		n8n.fate = () => 'lost';
		const second = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.emits.length === 1 && (n8n.saved.gmailImapTrigger as { folders: { INBOX: { lastUid: number } } }).folders.INBOX.lastUid === second.uid, 3000, 'the save of the lost emit');
		await n8n.crash();
		// The database: checkpoint past the second message, no execution for it. Before durable delivery it was lost here.
		expect(n8n.executionsOf(`INBOX:${second.uid}`)).toHaveLength(0);

		n8n.fate = () => 'succeed';
		await n8n.activate();
		await n8n.waitFor(() => n8n.executionsOf(`INBOX:${second.uid}`).length === 1, 3000, 'the redelivery');
		const [redelivered] = n8n.executionsOf(`INBOX:${second.uid}`);
		expect(redelivered.items[0].json.attributes).toMatchObject({ uid: second.uid, mailbox: 'INBOX', redelivered: true });
		await n8n.waitFor(() => n8n.inFlight().length === 0, 3000, 'the record emptied');
		expectExactlyOnce(n8n, [`INBOX:${first.uid}`, `INBOX:${second.uid}`]);
		// First deliveries do not say "redelivered".
		expect(n8n.executionsOf(`INBOX:${first.uid}`)[0].items[0].json.attributes).not.toHaveProperty('redelivered');
	});

	it('a done promise that rejects (the execution could not be created) keeps the run and emits it again after a backoff', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		let rejections = 0;
		n8n.fate = () => (rejections++ < 2 ? 'reject' : 'succeed');
		await n8n.activate();
		const message = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executions.length === 1, 5000, 'the run after two rejections');
		expect(n8n.emits.map((emit) => emit.result)).toEqual(['rejected', 'rejected', 'created']);
		expect(new Set(n8n.emits.map((emit) => emit.key)).size).toBe(1);
		// The backoff grows: 30 ms, then 60 ms.
		await n8n.waitFor(() => n8n.inFlight().length === 0, 3000, 'the record emptied');
		expectExactlyOnce(n8n, [`INBOX:${message.uid}`]);
		expect(n8n.executions[0].items[0].json.attributes).toMatchObject({ redelivered: true });
		expect(n8n.logs.filter((entry) => /n8n did not start the run/.test(entry.message))).toHaveLength(2);
	});

	it('while n8n cannot create executions (its database is down), new mail waits instead of piling up runs', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { maxRunsInFlight: 3 });
		let databaseDown = true;
		let mostWaiting = 0;
		n8n.fate = () => {
			mostWaiting = Math.max(mostWaiting, n8n.inFlight().length);
			return databaseDown ? 'reject' : 'succeed';
		};
		await n8n.activate();
		const messages = Array.from({ length: 12 }, () => `INBOX:${server.deliver('INBOX').uid}`);
		await advance(400);
		// Refusals arrive after the emit: up to three runs unreported (run slots) plus three refused and waiting, then new
		// mail waits; the messages not emitted stay after the checkpoint.
		expect(n8n.executions).toHaveLength(0);
		expect(mostWaiting).toBeLessThanOrEqual(2 * 3 + 1);
		expect(n8n.checkpoint('INBOX')?.lastUid).toBeLessThanOrEqual(6);
		expect(n8n.checkpoint('INBOX')?.lastUid).toBeGreaterThanOrEqual(3);
		databaseDown = false;
		await n8n.waitFor(() => messages.every((message) => n8n.executionsOf(message).length > 0), 5000, 'every message once n8n is back');
		expectExactlyOnce(n8n, messages);
	});

	it('a run n8n gave up on before the workflow ran (queue mode: stalled too often) is emitted again under a new key, marked redelivered', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		let abandons = 1;
		n8n.fate = () => (abandons-- > 0 ? 'abandon' : 'succeed');
		await n8n.activate();
		const message = `INBOX:${server.deliver('INBOX').uid}`;
		await n8n.waitFor(() => n8n.executionsOf(message).some((execution) => execution.status === 'success'), 3000, 'the run that did run');
		const [abandoned, delivered] = n8n.executionsOf(message);
		expect(abandoned).toMatchObject({ status: 'error', abandoned: true });
		expect(delivered.key).not.toBe(abandoned.key);
		expect(delivered.key).toBe(`${abandoned.key}#1`);
		expect(delivered.items[0].json.attributes).toMatchObject({ redelivered: true });
		await n8n.waitFor(() => n8n.inFlight().length === 0, 3000, 'the record emptied');
		// Delivered exactly once: one execution in which the workflow ran.
		expect(n8n.executionsOf(message).filter((execution) => !execution.abandoned)).toHaveLength(1);
	});

	it('stops emitting a run again after n8n gave up on it three times (a workflow that cannot start must not loop)', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		n8n.fate = () => 'abandon';
		await n8n.activate();
		const message = `INBOX:${server.deliver('INBOX').uid}`;
		await n8n.waitFor(() => n8n.inFlight().length === 0 && n8n.executions.length === 4, 5000, 'the record giving up');
		await advance(300);
		expect(n8n.executionsOf(message)).toHaveLength(4);
		expect(n8n.logs.some((entry) => /gave up on the run .* 4 times before the workflow ran; not emitting it again/.test(entry.message))).toBe(true);
	});

	it('a static-data save that never landed (execution created, checkpoint not saved): the message is emitted again with the same key and skipped', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		n8n.fate = () => 'never';
		await n8n.activate();
		n8n.loseSaves = true;
		const messages = [server.deliver('INBOX'), server.deliver('INBOX')];
		await n8n.waitFor(() => n8n.executions.length === 2, 3000, 'both runs');
		await n8n.crash();
		n8n.loseSaves = false;
		n8n.fate = () => 'succeed';
		await n8n.activate();
		const third = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executionsOf(`INBOX:${third.uid}`).length === 1, 3000, 'new mail after the restart');
		await advance(100);
		// The catch-up read both messages again (the saved checkpoint was before them): n8n skipped both keys.
		expect(n8n.emits.filter((emit) => emit.result === 'duplicate')).toHaveLength(2);
		expectExactlyOnce(n8n, [...messages, third].map((message) => `INBOX:${message.uid}`));
	});

	it('a run n8n never reports stays in flight while the trigger runs, and is emitted again (and skipped) at the next activation', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { runSlotTimeoutMs: 50 });
		n8n.fate = () => 'never';
		await n8n.activate();
		const message = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.emits.length === 1, 3000, 'the emit');
		await advance(300);
		// Not emitted again inside the same process (its run may still be going), but still recorded.
		expect(n8n.emits).toHaveLength(1);
		expect(n8n.inFlight()).toHaveLength(1);
		await n8n.stop();
		n8n.fate = () => 'succeed';
		await n8n.activate();
		await n8n.waitFor(() => n8n.inFlight().length === 0, 3000, 'the record emptied');
		expect(n8n.emits.map((emit) => emit.result)).toEqual(['created', 'duplicate']);
		expectExactlyOnce(n8n, [`INBOX:${message.uid}`]);
	});

	it('an emit that throws leaves the checkpoint before the message, frees its run slot, and the message goes out once later', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { maxRunsInFlight: 1 });
		let throws = 1;
		n8n.fate = () => (throws-- > 0 ? 'throw' : 'succeed');
		await n8n.activate();
		const before = n8n.checkpoint('INBOX')?.lastUid;
		const message = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.emits.length === 1, 3000, 'the throwing emit');
		expect(n8n.checkpoint('INBOX')?.lastUid).toBe(before);
		expect(n8n.inFlight()).toEqual([]);
		await n8n.waitFor(() => n8n.executions.length === 1, 5000, 'the message after the backoff');
		// The slot was given back: with one slot, later mail still flows.
		const next = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executions.length === 2, 3000, 'the next message');
		expectExactlyOnce(n8n, [message, next].map((entry) => `INBOX:${entry.uid}`));
	});

	it('forgets unreported runs of a folder that was recreated while n8n was down, and says so', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		n8n.fate = () => 'never';
		await n8n.activate();
		server.deliver('INBOX');
		await n8n.waitFor(() => n8n.emits.length === 1, 3000, 'the emit');
		await n8n.crash();
		server.recreateFolder('INBOX', () => false);
		n8n.fate = () => 'succeed';
		await n8n.activate();
		await n8n.waitFor(() => n8n.inFlight().length === 0, 3000, 'the record emptied');
		expect(n8n.emits).toHaveLength(1);
		expect(n8n.logs.some((entry) => entry.level === 'warn' && /cannot be emitted again because the folder was recreated/.test(entry.message))).toBe(true);
	});

	it('on an n8n that ignores the key, a redelivered run may run twice: the item then says redelivered', async () => {
		const server = new FakeImapServer();
		const n8n = model(server);
		n8n.honoursKeys = false;
		n8n.fate = () => 'never';
		await n8n.activate();
		const message = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.emits.length === 1, 3000, 'the emit');
		await n8n.crash();
		n8n.fate = () => 'succeed';
		await n8n.activate();
		await n8n.waitFor(() => n8n.executions.length === 2, 3000, 'the second execution');
		const [first, again] = n8n.executionsOf(`INBOX:${message.uid}`);
		expect(first.items[0].json.attributes).not.toHaveProperty('redelivered');
		expect(again.items[0].json.attributes).toMatchObject({ redelivered: true });
	});
});

describe('durable delivery: crashes at random moments', () => {
	async function storm(seed: number, output: 'perMessage' | 'batch', loseSaves: boolean): Promise<void> {
		const random = seeded(seed);
		const server = new FakeImapServer();
		const n8n = model(server, output === 'batch' ? { output: { mode: 'batch', size: 3 } } : {});
		n8n.fate = () => {
			const roll = random();
			// Abandoned runs are left out: a crash between n8n giving up and the new emit loses the new key (a known limit,
			// see docs/delivery.md); they have their own tests above.
			return roll < 0.15 ? 'never' : roll < 0.25 ? 'reject' : 'succeed';
		};
		await n8n.activate();
		const delivered: string[] = [];
		for (let crash = 0; crash < 3; crash++) {
			const count = 5 + Math.floor(random() * 10);
			for (let index = 0; index < count; index++) {
				delivered.push(`INBOX:${server.deliver('INBOX').uid}`);
				await advance(Math.floor(random() * 8));
			}
			// The process dies at some moment of the flow; sometimes the last saves did not land.
			await advance(Math.floor(random() * 20));
			if (loseSaves && random() < 0.5) n8n.loseSaves = true;
			await advance(Math.floor(random() * 10));
			await n8n.crash();
			n8n.loseSaves = false;
			await n8n.activate();
		}
		n8n.fate = () => 'succeed';
		try {
			await n8n.waitFor(
				() => delivered.every((message) => n8n.executionsOf(message).some((execution) => !execution.abandoned)),
				10_000,
				'every message to have an execution',
			);
		} catch (error) {
			const missing = delivered.filter((message) => !n8n.executionsOf(message).some((execution) => !execution.abandoned));
			const story = n8n.emits.filter((emit) => emit.messages.some((message) => missing.includes(message)));
			throw new Error(
				`${(error as Error).message}: missing ${missing.join(', ')}; their emits ${JSON.stringify(story.map((emit) => [emit.activation, emit.result, emit.messages, emit.key?.slice(-6)]))}; ` +
					`checkpoint ${JSON.stringify(n8n.checkpoint('INBOX')?.lastUid)}; in flight ${JSON.stringify(n8n.inFlight())}; log ${JSON.stringify(n8n.logs.filter((entry) => entry.level !== 'debug').map((entry) => entry.message))}`,
			);
		}
		await n8n.waitFor(() => n8n.inFlight().length === 0, 5000, 'the record emptied');
		expectExactlyOnce(n8n, delivered);
	}

	it.each([1, 2, 3, 4])('one message at a time, seed %i: every message exactly one execution', async (seed) => {
		await storm(seed, 'perMessage', true);
	});

	it.each([5, 6, 7])('batches of three, seed %i: every message exactly one execution', async (seed) => {
		// Lost saves are left out for batches: a batch read again after a lost save may be cut differently (a known limit).
		await storm(seed, 'batch', false);
	});
});

export type { EmitFate };
