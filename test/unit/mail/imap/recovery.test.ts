/**
 * What the watcher owes a folder besides new mail — the retry list for messages whose item fails for a reason that is
 * not their content — and the guards against doubles and loops: one run per Gmail message under two watched labels,
 * refusals at activation, a folder whose UIDNEXT went back. Against the n8n model (n8nModel.ts).
 */
import { storageStep } from '../../../../nodes/mail/imap/watcher';
import { FakeImapServer } from './fakeImap';
import { itemOf, modelsStoppedAfterEach } from './n8nModel';
import { advance, useFakeClock } from './watcherHarness';

// jest's fake clock: nothing waits in real time (timeouts are simulated milliseconds).
useFakeClock();

const model = modelsStoppedAfterEach();

const FAST_RETRY = { firstDelayMs: 30, maxDelayMs: 60, attempts: 3, minSpanMs: 0, maxEntries: 100 };

/** A full disk: n8n's binary store fails (as storageStep reports it) for the chosen messages while `full()` says so. */
function diskFullFor(uids: Set<number>, full: () => boolean) {
	const store = storageStep(async () => {
		throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
	});
	let failures = 0;
	return {
		failures: () => failures,
		build: async (message: Parameters<typeof itemOf>[0]) => {
			if (uids.has(message.uid) && full()) {
				failures++;
				if (!Buffer.isBuffer(message.source)) message.source.resume();
				await store();
			}
			return await itemOf(message);
		},
	};
}

describe('retry list: a message whose item keeps failing does not hold its folder', () => {
	it('lets later mail flow while the stuck message is tried again, and emits it once it builds', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { itemRetry: FAST_RETRY });
		let full = true;
		const disk = diskFullFor(new Set([1]), () => full);
		n8n.buildItem = disk.build;
		await n8n.activate();
		const stuck = server.deliver('INBOX');
		const later = [server.deliver('INBOX'), server.deliver('INBOX')];
		await n8n.waitFor(() => n8n.executions.length === 2, 3000, 'the later messages');
		expect(n8n.executions.map((execution) => execution.messages[0])).toEqual(later.map((message) => `INBOX:${message.uid}`));
		// Still waiting, stored with the checkpoint that passed it.
		const stored = n8n.saved.gmailImapTrigger as { retries: Record<string, Array<{ uid: number }>>; folders: Record<string, { lastUid: number }> };
		expect(stored.retries.INBOX).toEqual([expect.objectContaining({ uid: stuck.uid, attempts: 1 })]);
		expect(stored.folders.INBOX.lastUid).toBe(later[1].uid);
		await n8n.waitFor(() => disk.failures() >= 2, 3000, 'a second attempt');
		full = false;
		await n8n.waitFor(() => n8n.executionsOf(`INBOX:${stuck.uid}`).length === 1, 3000, 'the stuck message once the disk has room');
		await advance(150);
		expect(n8n.executionsOf(`INBOX:${stuck.uid}`)).toHaveLength(1);
		expect(n8n.executionsOf(`INBOX:${stuck.uid}`)[0].items[0].json.error).toBeUndefined();
		expect(n8n.checkpoint('INBOX')?.lastUid).toBe(later[1].uid);
		expect(n8n.logs.some((entry) => entry.level === 'warn' && /could not be turned into an item; it will be tried again later/.test(entry.message))).toBe(true);
	});

	it('gives a message up as an error item (uid, mailbox, reason) only after the attempts AND the time span', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { itemRetry: { ...FAST_RETRY, minSpanMs: 400 } });
		const disk = diskFullFor(new Set([1]), () => true);
		n8n.buildItem = disk.build;
		await n8n.activate();
		const started = Date.now();
		const stuck = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executions.length === 1, 5000, 'the error item');
		const elapsed = Date.now() - started;
		expect(elapsed).toBeGreaterThanOrEqual(400);
		// 30 ms, 60 ms, 60 ms... apart: many more than 3 attempts happened within the span.
		expect(disk.failures()).toBeGreaterThan(3);
		const [item] = n8n.executions[0].items;
		expect(item.json.error).toMatch(/could not be turned into an item after \d+ attempts over [\d.]+ h: .*no space left on device/);
		expect(item.json.attributes).toMatchObject({ uid: stuck.uid, mailbox: 'INBOX' });
		await advance(150);
		expect(n8n.executions).toHaveLength(1);
		expect(n8n.checkpoint('INBOX')).toBeDefined();
		expect((n8n.saved.gmailImapTrigger as { retries?: unknown }).retries).toBeUndefined();
	});

	it('keeps the list across a restart: the message is tried again by the next activation', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { itemRetry: { ...FAST_RETRY, firstDelayMs: 200 } });
		let full = true;
		n8n.buildItem = diskFullFor(new Set([1]), () => full).build;
		await n8n.activate();
		const stuck = server.deliver('INBOX');
		const later = server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executions.length === 1, 3000, 'the later message');
		await n8n.crash();
		full = false;
		await n8n.activate();
		await n8n.waitFor(() => n8n.executionsOf(`INBOX:${stuck.uid}`).length === 1, 3000, 'the stuck message after the restart');
		expect(n8n.executionsOf(`INBOX:${later.uid}`)).toHaveLength(1);
	});

	it('holds the folder (as before) once the list is full, so it stays bounded; nothing is lost', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { itemRetry: { ...FAST_RETRY, attempts: 1000, maxEntries: 1 } });
		let full = true;
		n8n.buildItem = diskFullFor(new Set([1, 2]), () => full).build;
		await n8n.activate();
		const messages = [server.deliver('INBOX'), server.deliver('INBOX'), server.deliver('INBOX')];
		await advance(300);
		// The first waits in the list; the second cannot join it: the folder waits at it.
		expect(n8n.executions).toHaveLength(0);
		full = false;
		await n8n.waitFor(() => n8n.executions.length === 3, 5000, 'all three once the disk has room');
		for (const message of messages) expect(n8n.executionsOf(`INBOX:${message.uid}`)).toHaveLength(1);
	});
});

describe('no doubles, no loops', () => {
	it('Gmail: a message with two watched labels starts one run (X-GM-MSGID remembered across folders and restarts)', async () => {
		const server = new FakeImapServer(['INBOX', 'Work']);
		server.enableGmail();
		const n8n = model(server, { folders: ['INBOX', 'Work'], pollIntervalMs: 100 });
		await n8n.activate();
		const message = server.deliver('INBOX', { labels: ['Work'] });
		const work = server.folders.get('Work');
		if (!work) throw new Error('no Work folder');
		work.messages.push({ ...message, uid: work.uidNext++ });
		await n8n.waitFor(() => n8n.executions.length === 1, 3000, 'the run');
		// The other folder is checked on poll passes: ask for one now, and again after a restart.
		await advance(200);
		await n8n.crash();
		await n8n.activate();
		await advance(300);
		expect(n8n.executions).toHaveLength(1);
		expect(n8n.logs.some((entry) => /was emitted from another watched folder/.test(entry.message))).toBe(true);
		// A message only in Work still runs.
		const onlyWork = server.deliver('Work');
		await n8n.waitFor(() => n8n.executionsOf(`Work:${onlyWork.uid}`).length === 1, 3000, 'a Work-only message');
	});

	it('refuses at activation Delete After Run on a server without UIDPLUS, and a move into a watched folder', async () => {
		const server = new FakeImapServer(['INBOX', 'Done']);
		server.capabilities.delete('UIDPLUS');
		const plan = { markRead: false, addLabels: [], removeLabels: [], delete: true };
		await expect(model(server, { postActions: plan }).activate()).rejects.toThrow(/UIDPLUS/);
		server.capabilities.add('UIDPLUS');
		await expect(model(server, { postActions: { ...plan, delete: false, moveTo: 'inbox' } }).activate()).rejects.toThrow(/watched folder/);
		await expect(model(server, { postActions: { ...plan, delete: false, moveTo: 'Done' } }).activate()).resolves.toBeUndefined();
	});

	it('a folder whose UIDNEXT went back (server restored) is handled like a UIDVALIDITY change: new mail under old UIDs is not lost', async () => {
		const server = new FakeImapServer();
		const n8n = model(server, { pollIntervalMs: 100 });
		await n8n.activate();
		const before = [server.deliver('INBOX'), server.deliver('INBOX'), server.deliver('INBOX')];
		await n8n.waitFor(() => n8n.executions.length === 3, 3000, 'three runs');
		// Restored from a backup taken after the first message: UIDs 2 and 3 are handed out again.
		const inbox = server.folders.get('INBOX');
		if (!inbox) throw new Error('no INBOX');
		inbox.messages = inbox.messages.filter((message) => message.uid === 1);
		inbox.uidNext = 2;
		server.kick();
		await n8n.waitFor(() => n8n.logs.some((entry) => /went back: its UIDNEXT/.test(entry.message)), 3000, 'the restore to be seen');
		const after = [server.deliver('INBOX'), server.deliver('INBOX')];
		expect(after.map((message) => message.uid)).toEqual([2, 3]);
		await n8n.waitFor(() => n8n.executions.length === 5, 5000, 'the new messages under old UIDs');
		expect(n8n.executions.slice(3).map((execution) => (execution.items[0].json.attributes as { uid: number }).uid)).toEqual([2, 3]);
		expect(n8n.logs.filter((entry) => /went back: its UIDNEXT/.test(entry.message))).toHaveLength(1);
		expect(before).toHaveLength(3);
	});

	it('a restore seen by the same session (UIDNEXT kept as imapflow keeps it) is found at the next poll, not hidden', async () => {
		const server = new FakeImapServer();
		server.imapflowUidNext = true;
		const n8n = model(server, { pollIntervalMs: 100 });
		await n8n.activate();
		for (let index = 0; index < 3; index++) server.deliver('INBOX');
		await n8n.waitFor(() => n8n.executions.length === 3, 3000, 'three runs');
		const inbox = server.folders.get('INBOX');
		if (!inbox) throw new Error('no INBOX');
		inbox.messages = inbox.messages.filter((message) => message.uid === 1);
		inbox.uidNext = 2;
		// No reconnect: the poll's re-SELECT is what shows it.
		await n8n.waitFor(() => n8n.logs.some((entry) => /went back: its UIDNEXT/.test(entry.message)), 3000, 'the restore to be seen');
		const after = [server.deliver('INBOX'), server.deliver('INBOX')];
		await n8n.waitFor(() => n8n.executions.length === 5, 5000, 'the new messages under old UIDs');
		expect(n8n.executions.slice(3).map((execution) => (execution.items[0].json.attributes as { uid: number }).uid)).toEqual(after.map((message) => message.uid));
		expect(n8n.logs.filter((entry) => /went back: its UIDNEXT/.test(entry.message))).toHaveLength(1);
	});
});
