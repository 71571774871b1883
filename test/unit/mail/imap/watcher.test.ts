import { messageFingerprint } from '../../../../nodes/mail/imap/checkpoint';
import { ItemNotBuiltError, isMessageParseFailure, storageStep } from '../../../../nodes/mail/imap/watcher';
import { MessageContentError } from '../../../../nodes/mail/message/errors';
import { FakeImapServer, inUidSet } from './fakeImap';
import type { Harness } from './watcherHarness';
import { advance, createHarness, defaultBuildItem, delay, n8nReconnectError, newAuthority, useFakeClock } from './watcherHarness';

// Every test runs on jest's fake clock: nothing below waits in real time (timeouts are simulated milliseconds).
useFakeClock();

const running: Harness[] = [];

async function start(server: FakeImapServer, ...args: Parameters<typeof createHarness> extends [unknown, ...infer Rest] ? Rest : never) {
	const harness = await createHarness(server, ...args);
	running.push(harness);
	return harness;
}

afterEach(async () => {
	for (const harness of running.splice(0)) await harness.settle(harness.watcher.stop());
});

describe('MailboxWatcher: catch-up and exactly once', () => {
	it('positions a new folder at activation (before start() returns) and emits only mail that arrives afterwards', async () => {
		const server = new FakeImapServer();
		server.deliver('INBOX');
		server.deliver('INBOX');
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		// The checkpoint exists as soon as start() resolved: n8n saves it with the activation.
		expect(h.checkpoint('INBOX')).toMatchObject({ lastUid: 2 });
		expect(h.emits).toHaveLength(0);

		const third = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1, 3000, 'IDLE notification');
		expect(h.emittedUids()).toEqual([third.uid]);
		await advance(100);
		expect(h.emits).toHaveLength(1);
	});

	it('stores the checkpoint of a message before the emit that carries it', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		for (let index = 0; index < 5; index++) server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 5);
		for (const emit of h.emits) {
			const saved = (emit.savedAtEmit.gmailImapTrigger as { folders: Record<string, { lastUid: number }> }).folders.INBOX;
			expect(saved.lastUid).toBe(emit.uids[0]);
		}
		expect(h.emittedUids()).toEqual([1, 2, 3, 4, 5]);
	});

	it('continues from a saved checkpoint after reactivation: the missed mail once, nothing older again', async () => {
		const server = new FakeImapServer();
		const first = await start(server, {});
		await first.settle(first.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		await first.waitFor(() => first.emits.length === 1);
		await first.settle(first.watcher.stop());
		// What n8n saved with the last emit.
		const saved = JSON.parse(JSON.stringify(first.emits[0].savedAtEmit));

		for (let index = 0; index < 20; index++) server.deliver('INBOX');
		const second = await start(server, {}, { staticData: saved });
		await second.settle(second.watcher.start({ failFast: true }));
		await second.waitFor(() => second.emits.length === 20);
		await advance(100);
		expect(second.emittedUids()).toEqual(Array.from({ length: 20 }, (_v, index) => index + 2));
	});

	it('does not replay another account\'s mail when the credential now points to a different mailbox', async () => {
		const first = new FakeImapServer();
		const a = await start(first, {});
		await a.settle(a.watcher.start({ failFast: true }));
		first.deliver('INBOX');
		await a.waitFor(() => a.emits.length === 1);
		await a.settle(a.watcher.stop());
		const saved = JSON.parse(JSON.stringify(a.emits[0].savedAtEmit));

		// The same workflow, its credential switched to another account whose INBOX has recent mail.
		const second = new FakeImapServer();
		for (let index = 0; index < 3; index++) second.deliver('INBOX');
		const authority = newAuthority(second);
		authority.credentials = { ...authority.credentials, email: 'someone.else@example.test' };
		const b = await start(second, {}, { authority, staticData: saved });
		await b.settle(b.watcher.start({ failFast: true }));
		expect(b.checkpoint('INBOX')).toMatchObject({ lastUid: 3 });
		expect(b.logger.entries.some((entry) => /belongs to another mail account/.test(entry.message))).toBe(true);
		const fresh = second.deliver('INBOX');
		await b.waitFor(() => b.emits.length === 1);
		await advance(100);
		expect(b.emittedUids()).toEqual([fresh.uid]);
		expect((b.staticData.gmailImapTrigger as { account: string }).account).toBe('127.0.0.1:993/someone.else@example.test');
	});

	it('applies the custom filter to new mail and still moves past the messages it rejects', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { filter: { seen: false } });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX', { flags: ['\\Seen'] });
		const unread = server.deliver('INBOX');
		server.deliver('INBOX', { flags: ['\\Seen'] });
		await h.waitFor(() => h.checkpoint('INBOX')?.lastUid === 3);
		expect(h.emittedUids()).toEqual([unread.uid]);
		expect(server.commands.some((command) => command.includes('"seen":false') && command.includes('"uid":"1:3"'))).toBe(true);
	});

	it('a message the filter rejects (never fetched, so imapflow\'s UIDNEXT stays behind) is not taken for a server gone back', async () => {
		const server = new FakeImapServer();
		server.imapflowUidNext = true;
		const h = await start(server, { filter: { seen: false }, postActions: { markRead: true, addLabels: [], removeLabels: [], delete: false } });
		await h.settle(h.watcher.start({ failFast: true }));
		const first = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1);
		server.deliver('INBOX', { flags: ['\\Seen'] });
		await h.waitFor(() => h.checkpoint('INBOX')?.lastUid === 2);
		const third = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 2, 3000, 'the third message');
		await h.waitFor(() => server.message('INBOX', third.uid)?.flags.has('\\Seen') === true, 3000, 'its post-action');
		expect(h.emittedUids()).toEqual([first.uid, third.uid]);
		expect(h.logger.entries.filter((entry) => /went back/.test(entry.message))).toEqual([]);
	});

	it('a poll pass that SELECTs the IDLE folder and finds UIDNEXT unchanged sends no SEARCH; one that finds it moved does', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { pollIntervalMs: 200 });
		await h.settle(h.watcher.start({ failFast: true }));
		const first = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1);
		const before = server.commands.length;
		await advance(650); // three poll passes, nothing new
		const quiet = server.commands.slice(before);
		expect(quiet.filter((command) => command === 'SELECT INBOX').length).toBeGreaterThanOrEqual(2);
		expect(quiet.filter((command) => command.startsWith('SEARCH'))).toEqual([]);
		// Mail the watcher was not told about (no EXISTS): the next poll's SELECT shows UIDNEXT moved, and it searches.
		const missed = server.deliver('INBOX', { silent: true });
		await h.waitFor(() => h.emits.length === 2, 3000, 'the poll to find the message');
		expect(h.emittedUids()).toEqual([first.uid, missed.uid]);
	});

	it('a poll tick during a long verifying pass is kept: the next pass SELECTs again, not one interval later', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { pollIntervalMs: 1000 });
		await h.settle(h.watcher.start({ failFast: true }));
		// Found by the next poll (no EXISTS); its FETCH is held, so that verifying pass lasts past the following tick.
		server.deliver('INBOX', { silent: true });
		let release = () => undefined as void;
		server.fetchGate = new Promise<void>((resolve) => (release = resolve));
		await advance(1000);
		await h.waitFor(() => server.commands.some((command) => command.startsWith('FETCH') && command.includes('source')), 3000, 'the held FETCH');
		const selects = () => server.commands.filter((command) => command === 'SELECT INBOX').length;
		const selectsBefore = selects();
		await advance(1000); // the next tick, while the pass still waits for its FETCH
		server.fetchGate = undefined;
		release();
		await h.waitFor(() => h.emits.length === 1, 3000, 'the message');
		await advance(200); // far less than an interval
		expect(selects()).toBe(selectsBefore + 1);
	});

	it('watches additional folders with STATUS over the same connection', async () => {
		const server = new FakeImapServer(['INBOX', 'Support']);
		const h = await start(server, { folders: ['INBOX', 'Support'], pollIntervalMs: 100 });
		await h.settle(h.watcher.start({ failFast: true }));
		const support = server.deliver('Support');
		await h.waitFor(() => h.emits.length === 1, 3000, 'poll of the second folder');
		expect(h.emits[0]).toMatchObject({ uids: [support.uid], folders: ['Support'] });
		expect(server.commands.filter((command) => command === 'LOGIN')).toHaveLength(1);
		expect(server.commands).toContain('STATUS Support');
	});

	it('groups a catch-up into batches when asked, the checkpoint at the last message of each batch', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { output: { mode: 'batch', size: 4 }, start: { mode: 'unread' } });
		for (let index = 0; index < 10; index++) server.deliver('INBOX');
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emittedUids().length === 10);
		expect(h.emits.map((emit) => emit.uids)).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
		const savedLast = (h.emits[1].savedAtEmit.gmailImapTrigger as { folders: Record<string, { lastUid: number }> }).folders;
		expect(savedLast.INBOX.lastUid).toBe(8);
	});

	it('streams messages above the size bound one by one and fetches small ones together', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { streamAboveBytes: 10_000 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		const large = server.deliver('INBOX', { padTo: 50_000 });
		server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 3);
		expect(server.commands).toContain(`DOWNLOAD ${large.uid}`);
		expect(h.emits[1].items[0].json.sourceBytes).toBe(large.source.length);
	});

	it('takes a small message whole from the metadata FETCH, and fetches again in full one that may have been cut', async () => {
		const server = new FakeImapServer();
		const exact = server.deliver('INBOX', { padTo: 2000 });
		const larger = server.deliver('INBOX', { padTo: 5000 });
		const small = server.deliver('INBOX');
		const h = await start(server, { wholeWithMetadataBytes: 2000, start: { mode: 'unread' } });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 3);
		expect(exact.source.length).toBe(2000);
		// Once per session: the newest message's size, then one byte of it (does the server honour partial ranges?).
		// Then one FETCH of attributes and first 2,000 bytes; only the two that filled them are asked for again.
		expect(server.commands.filter((command) => command.startsWith('FETCH'))).toEqual([
			'FETCH * uid,size',
			`FETCH ${small.uid} uid,source`,
			'FETCH 1:3 uid,flags,internalDate,size,source',
			`FETCH ${exact.uid}:${larger.uid} uid,source`,
		]);
		expect(h.emits.map((emit) => emit.items[0].json.sourceBytes)).toEqual([2000, larger.source.length, small.source.length]);
	});

	it('reads the Message-ID from the first bytes, and asks for the field only where the header goes on past them', async () => {
		const server = new FakeImapServer();
		const plain = server.deliver('INBOX', { messageId: '<plain@fake.test>' });
		const longHeader = server.deliver('INBOX', { messageId: '<after-a-long-header@fake.test>', headerPadTo: 3000, padTo: 5000 });
		const none = server.deliver('INBOX', { messageId: null });
		const h = await start(server, { wholeWithMetadataBytes: 2000, start: { mode: 'unread' } });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 3);
		expect(h.emits.map((emit) => emit.items[0].json)).toMatchObject([
			{ uid: plain.uid, messageId: '<plain@fake.test>' },
			{ uid: longHeader.uid, messageId: '<after-a-long-header@fake.test>', sourceBytes: longHeader.source.length },
			{ uid: none.uid, messageId: null },
		]);
		const fetches = server.commands.filter((command) => command.startsWith('FETCH'));
		expect(fetches.filter((command) => command.includes('headers'))).toEqual([`FETCH ${longHeader.uid} uid,headers`]);
		// The fingerprints in the recent ring are those of the Message-IDs (none: date and size).
		const recent = (h.checkpoint('INBOX')?.recent ?? []).map((entry) => entry.split(':')[1]);
		expect(recent).toEqual([
			messageFingerprint('<plain@fake.test>', plain.internalDate.getTime(), plain.source.length),
			messageFingerprint('<after-a-long-header@fake.test>', longHeader.internalDate.getTime(), longHeader.source.length),
			messageFingerprint(undefined, none.internalDate.getTime(), none.source.length),
		]);
	});

	it.each(['without UID', 'with UID'] as const)('keeps contents and Message-IDs when unsolicited flag rows (%s) come with the answer, and asks again for a field left out', async (rows) => {
		const server = new FakeImapServer();
		server.serverName = 'Dovecot';
		server.unsolicitedFlagRows = rows;
		const longHeader = server.deliver('INBOX', { messageId: '<long@fake.test>', headerPadTo: 3000, padTo: 5000 });
		const small = server.deliver('INBOX', { messageId: '<small@fake.test>' });
		let leftOut = 0;
		// The field alone is not answered for the long header, once: it is asked for again with the attributes.
		server.omit = (command, uid, query) => command === 'FETCH' && uid === longHeader.uid && !query?.flags && query?.headers !== undefined && leftOut++ === 0;
		const h = await start(server, { wholeWithMetadataBytes: 2000, start: { mode: 'unread' } });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 2);
		expect(h.emits.map((emit) => emit.items[0].json)).toMatchObject([
			{ uid: longHeader.uid, messageId: '<long@fake.test>', sourceBytes: longHeader.source.length },
			{ uid: small.uid, messageId: '<small@fake.test>', sourceBytes: small.source.length },
		]);
		expect(leftOut).toBe(1);
		// The small message came whole with its attributes: no FETCH of its own, however many rows came along.
		const fetches = server.commands.filter((command) => command.startsWith('FETCH'));
		expect(fetches.filter((command) => command.startsWith(`FETCH ${small.uid} `))).toEqual([]);
		expect(fetches).toContain(`FETCH ${longHeader.uid} uid,flags,internalDate,size,headers`);
	});

	it('asks a server that ignores partial ranges for no contents with the attributes: nothing over Max Message Size is downloaded', async () => {
		const server = new FakeImapServer();
		server.ignorePartial = true;
		for (let index = 0; index < 5; index++) server.deliver('INBOX', { padTo: 3_000_000 });
		const small = server.deliver('INBOX');
		const h = await start(server, { start: { mode: 'unread' }, maxMessageBytes: 1_000_000 });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 6, 5000, 'five error items (too large) and the small one');
		expect(h.emits.slice(0, 5).every((emit) => /Max Message Size/.test(String(emit.items[0].json.error)))).toBe(true);
		expect(h.emits[5].items[0].json).toMatchObject({ uid: small.uid, sourceBytes: small.source.length });
		// The probe (one byte of the small newest message, sent whole) and the small message itself; nothing large.
		expect(server.sentSourceBytes).toBe(2 * small.source.length);
		expect(h.logger.entries.some((entry) => /does not honour partial FETCH ranges/.test(entry.message))).toBe(true);
	});

	it('spends no probe on Gmail or Dovecot, which honour partial ranges: the first small message comes whole at once', async () => {
		for (const known of ['gmail', 'Dovecot'] as const) {
			const server = new FakeImapServer();
			if (known === 'gmail') server.enableGmail();
			else server.serverName = known;
			const h = await start(server, {});
			await h.settle(h.watcher.start({ failFast: true }));
			const message = server.deliver('INBOX');
			await h.waitFor(() => h.emits.length === 1);
			const fetches = server.commands.filter((command) => command.startsWith('FETCH'));
			expect(fetches).toHaveLength(1);
			expect(fetches[0]).toMatch(/^FETCH \d+ uid,flags,internalDate,size,(labels,threadId,)?source$/);
			expect(h.emits[0].items[0].json).toMatchObject({ uid: message.uid, sourceBytes: message.source.length });
			await h.settle(h.watcher.stop());
		}
	});

	it('a server trusted with ranges that answers with more costs one chunk: then no contents come with the attributes', async () => {
		const server = new FakeImapServer();
		server.serverName = 'Dovecot (Debian)';
		server.ignorePartial = true;
		const h = await start(server, { maxMessageBytes: 1_000_000 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX', { padTo: 3_000_000 });
		await h.waitFor(() => h.emits.length === 1, 5000, 'the first error item (too large)');
		expect(server.sentSourceBytes).toBe(3_000_000);
		expect(h.logger.entries.some((entry) => /does not honour partial FETCH ranges/.test(entry.message))).toBe(true);
		server.deliver('INBOX', { padTo: 3_000_000 });
		await h.waitFor(() => h.emits.length === 2, 5000, 'the second error item');
		expect(server.sentSourceBytes).toBe(3_000_000);
	});

	it('probes only with a message that shows the answer and is small: an empty newest message decides nothing', async () => {
		const server = new FakeImapServer();
		server.ignorePartial = true;
		const empty = server.deliver('INBOX');
		empty.source = Buffer.alloc(0);
		const h = await start(server, { maxMessageBytes: 1_000_000 });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => server.commands.includes('FETCH * uid,size'), 3000, 'the size of the newest message');
		await advance(100);
		for (let index = 0; index < 3; index++) server.deliver('INBOX', { padTo: 3_000_000 });
		await h.waitFor(() => h.emits.length === 3, 5000, 'three error items (too large)');
		expect(server.sentSourceBytes).toBe(0);
	});

	it('counts one failed attempt per pass for a message the server leaves out of the metadata FETCH', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		const logins = () => server.commands.filter((command) => command === 'LOGIN').length;
		const message = server.deliver('INBOX');
		// Left out on the first two sessions (two passes), served from the third: within maxFetchAttempts = 3.
		server.omit = (command, uid) => command === 'FETCH' && uid === message.uid && logins() <= 2;
		await h.waitFor(() => h.emits.length === 1, 8000, 'the message');
		await advance(100);
		expect(h.emits[0].items[0].json.error).toBeUndefined();
		expect(h.emits[0].items[0].json).toMatchObject({ uid: message.uid, sourceBytes: message.source.length });
	});

	it('does not take a message whole from the metadata FETCH when its length is not the size the server reported', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		const misreported = server.deliver('INBOX', { reportedSize: 90 });
		await h.waitFor(() => h.emits.length === 1);
		expect(server.commands.filter((command) => command.startsWith('FETCH')).slice(-1)).toEqual([`FETCH ${misreported.uid} uid,source`]);
		expect(h.emits[0].items[0].json.sourceBytes).toBe(misreported.source.length);
	});
});

describe('MailboxWatcher: start positions', () => {
	it('"unread" emits the unread mail already there, then new mail', async () => {
		const server = new FakeImapServer();
		server.deliver('INBOX', { flags: ['\\Seen'] });
		const unread = server.deliver('INBOX');
		const h = await start(server, { start: { mode: 'unread' } });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 1);
		const later = server.deliver('INBOX', { flags: ['\\Seen'] });
		await h.waitFor(() => h.emits.length === 2);
		expect(h.emittedUids()).toEqual([unread.uid, later.uid]);
		expect(h.checkpoint('INBOX')?.backlog).toBeUndefined();
	});

	it('"since" emits existing mail received at or after the date', async () => {
		const server = new FakeImapServer();
		const now = Date.now();
		server.deliver('INBOX', { date: new Date(now - 3 * 24 * 3600 * 1000) });
		const recent = server.deliver('INBOX', { date: new Date(now - 3600 * 1000) });
		const h = await start(server, { start: { mode: 'since', since: now - 2 * 3600 * 1000 } });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 1);
		await advance(100);
		expect(h.emittedUids()).toEqual([recent.uid]);
	});

	it('without the server at startup (n8n restart), positions by time and emits mail that arrived meanwhile', async () => {
		const server = new FakeImapServer();
		server.deliver('INBOX', { date: new Date(Date.now() - 24 * 3600 * 1000) });
		let down = true;
		server.connectFailure = () => (down ? Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) : undefined);
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: false }));
		expect(h.checkpoint('INBOX')).toMatchObject({ lastUid: 0, backlog: { notBefore: expect.any(Number) } });
		const arrived = server.deliver('INBOX');
		down = false;
		await h.waitFor(() => h.emits.length === 1, 4000, 'reconnect');
		await advance(100);
		expect(h.emittedUids()).toEqual([arrived.uid]);
		expect(h.checkpoint('INBOX')).toMatchObject({ lastUid: arrived.uid, uidValidity: expect.any(String) });
	});

	it('fails the activation when the user activates and the server is unreachable', async () => {
		const server = new FakeImapServer();
		server.connectFailure = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
		const h = await start(server, {});
		await expect(h.settle(h.watcher.start({ failFast: true }))).rejects.toThrow(/Could not connect to the IMAP server/);
		expect(server.openClientCount()).toBe(0);
	});

	it('fails the activation when a watched folder does not exist', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { folders: ['INBOX', 'Nope'] });
		await expect(h.settle(h.watcher.start({ failFast: false }))).rejects.toThrow(/does not exist/);
	});
});

describe('MailboxWatcher: sessions', () => {
	it('reconnects after a kick with a short first delay and catches up without duplicates', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1);
		server.kick();
		server.deliver('INBOX');
		server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 3, 3000, 'catch-up after kick');
		await advance(100);
		expect(h.emittedUids()).toEqual([1, 2, 3]);
		expect(server.openClientCount()).toBe(1);
	});

	it('backs off exponentially with jitter while the server stays unreachable, and reports the lasting fault once', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { firstRetryMs: 20, initialBackoffMs: 40, maxBackoffMs: 200, persistentFaultAttempts: 5 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.connectFailure = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
		const attemptsBefore = server.connectAttempts.length;
		server.kick();
		await h.waitFor(() => server.connectAttempts.length - attemptsBefore >= 7, 5000, 'retries');
		const times = server.connectAttempts.slice(attemptsBefore).map((attempt) => attempt.at);
		const gaps = times.slice(1).map((time, index) => time - times[index]);
		// 40, 80, 160, 200 (cap) ms bases, each jittered to 50-100 %.
		expect(gaps[0]).toBeGreaterThanOrEqual(15);
		expect(gaps[3]).toBeGreaterThanOrEqual(75);
		expect(Math.max(...gaps)).toBeLessThan(400);
		expect(h.faults).toHaveLength(1);
		expect(h.faults[0].message).toMatch(/unreachable.*keeps retrying/);
		expect(h.fatal).toHaveLength(0);

		server.connectFailure = undefined;
		const message = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1, 3000, 'recovery');
		expect(h.emittedUids()).toEqual([message.uid]);
	});

	it('rolls over to a fresh token before the old one expires, without a gap and without a failed login', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server, 2);
		const h = await start(server, { rolloverMinLeadMs: 500 }, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		const delivered: number[] = [];
		const started = Date.now();
		while (Date.now() - started < 5000) {
			delivered.push(server.deliver('INBOX').uid);
			await advance(150);
		}
		await h.waitFor(() => h.emits.length === delivered.length, 3000, 'all messages');
		expect(h.emittedUids()).toEqual(delivered);
		expect(authority.refreshCount).toBeGreaterThanOrEqual(3);
		// Every login used a token the server accepted: no refused token, no retry.
		expect(h.logger.entries.filter((entry) => /refused/.test(entry.message))).toHaveLength(0);
		expect(server.commands.filter((command) => command === 'LOGOUT').length).toBeGreaterThanOrEqual(2);
		expect(server.openClientCount()).toBe(1);
	});

	it('does not roll over (nor refresh) early for a token that lives longer than a timer can wait (30 days)', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server, 30 * 24 * 3600);
		const h = await start(server, {}, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		await advance(500);
		expect(authority.refreshCount).toBe(0);
		expect(server.commands.filter((command) => command === 'LOGIN')).toHaveLength(1);
	});

	it('waits for a distant rollover in bounded timer steps, without renewing before it is due', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server, 3600);
		// Steps of 20 ms: the rollover timer is re-armed ~25 times in the half second below.
		const h = await start(server, { maxTimerWaitMs: 20 }, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		const message = server.deliver('INBOX');
		await advance(500);
		expect(authority.refreshCount).toBe(0);
		expect(server.commands.filter((command) => command === 'LOGIN')).toHaveLength(1);
		expect(h.emittedUids()).toEqual([message.uid]);
	});

	it('backs off when the token endpoint keeps handing out a token that does not outlive the current one', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server, 3);
		// Every refresh returns a token that expires with the first one (a cached token).
		authority.fixedExpiresAt = Number((authority.credentials.oauthTokenData as { n8n_expires_at: string }).n8n_expires_at);
		const h = await start(server, { rolloverMinLeadMs: 1500, initialBackoffMs: 200 }, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		await advance(2500);
		// Renewals start 1.5 s before expiry; with backoff (200, 400, 800 ms) that is a handful of refreshes, not a storm.
		expect(authority.refreshCount).toBeGreaterThanOrEqual(1);
		expect(authority.refreshCount).toBeLessThanOrEqual(6);
		expect(h.fatal).toHaveLength(0);
	});

	it('after a rollover, a command failing on the new session ends that session (then backoff), it is never retried as is', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server, 2);
		const h = await start(server, { rolloverMinLeadMs: 500 }, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.logger.entries.some((entry) => /rolled over/.test(entry.message)), 4000, 'the rollover');
		const loginsBefore = server.commands.filter((command) => command === 'LOGIN').length;
		server.refuse = (command) => command === 'FETCH';
		const before = server.commands.length;
		const message = server.deliver('INBOX');
		await advance(300);
		const during = server.commands.slice(before);
		expect(during.length).toBeLessThan(60);
		// The failing session is replaced after every failure (a new LOGIN between two FETCHes), never retried as is
		// (a refused FETCH of attributes with contents is followed by one without contents, a different command).
		const fetchesAndLogins = during.filter((command) => command.startsWith('FETCH') || command === 'LOGIN');
		const retriedOnSameSession = fetchesAndLogins.some((command, index) => command.startsWith('FETCH') && fetchesAndLogins[index + 1] === command);
		expect(retriedOnSameSession).toBe(false);
		expect(server.commands.filter((command) => command === 'LOGIN').length).toBeGreaterThan(loginsBefore);
		server.refuse = undefined;
		await h.waitFor(() => h.emits.length === 1, 3000, 'the message once the server answers again');
		expect(h.emittedUids()).toEqual([message.uid]);
	});

	it('refreshes once and retries when the server refuses the token', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server);
		server.acceptedTokens.delete('tok-initial');
		server.acceptedTokens.add('something-else');
		const h = await start(server, {}, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		expect(authority.refreshCount).toBe(1);
		expect(server.connectAttempts.map((attempt) => attempt.token)[0]).toBe('tok-initial');
	});

	it('ends with one clear error and a bounded number of token requests when the refresh token is revoked', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server, 1);
		const h = await start(server, { rolloverMinLeadMs: 300 }, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		authority.refreshFailure = () => n8nReconnectError();
		await h.waitFor(() => h.fatal.length === 1, 5000, 'fatal error');
		await advance(1500);
		expect(h.fatal).toHaveLength(1);
		expect(h.fatal[0].message).toMatch(/must be reconnected/);
		expect(authority.refreshCount).toBeLessThanOrEqual(2);
		expect(server.openClientCount()).toBe(0);
	});

	it('stops after a few logins refused even with fresh tokens (configuration problem), not in a loop', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server);
		const h = await start(server, { maxConsecutiveTokenRejections: 3 }, { authority });
		await h.settle(h.watcher.start({ failFast: true }));
		// From now on the server refuses every token (e.g. IMAP disabled for the account).
		server.refuseAllTokens = true;
		server.kick();
		await h.waitFor(() => h.fatal.length === 1, 5000, 'fatal error');
		expect(h.fatal[0].message).toMatch(/refused a freshly refreshed access token/);
		expect(authority.refreshCount).toBeLessThanOrEqual(3);
	});

	it('ends with one clear error, not a silently dead loop, when a callback into n8n throws', async () => {
		const server = new FakeImapServer();
		const h = await start(
			server,
			{ persistentFaultAttempts: 2 },
			{
				onFault: () => {
					throw new Error('could not save the failed execution');
				},
			},
		);
		await h.settle(h.watcher.start({ failFast: true }));
		server.connectFailure = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
		server.kick();
		await h.waitFor(() => h.fatal.length === 1, 3000, 'the fatal error');
		expect(h.fatal[0].message).toMatch(/could not save the failed execution/);
		const attempts = server.connectAttempts.length;
		await advance(300);
		expect(server.connectAttempts.length).toBe(attempts);
	});

	it('closes every connection within 2 s even while a fetch is in flight', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		server.fetchGate = new Promise(() => undefined);
		server.deliver('INBOX');
		await h.waitFor(() => server.commands.some((command) => command.startsWith('FETCH') && command.includes('source')));
		const before = Date.now();
		await h.settle(h.watcher.stop());
		expect(Date.now() - before).toBeLessThan(2000);
		expect(server.openClientCount()).toBe(0);
		expect(h.watcher.openClientCount).toBe(0);
	});

	it('emits nothing after stop(), also for a message whose item was being built, and does not move past it', async () => {
		const server = new FakeImapServer();
		let building = false;
		const h = await start(server, {}, {
			buildItem: async (message) => {
				building = true;
				await delay(300);
				return { json: { uid: message.uid, folder: message.folder } };
			},
		});
		await h.settle(h.watcher.start({ failFast: true }));
		const message = server.deliver('INBOX');
		await h.waitFor(() => building, 3000, 'the item being built');
		await h.settle(h.watcher.stop());
		await advance(400);
		expect(h.emits).toHaveLength(0);
		expect(h.checkpoint('INBOX')?.lastUid).toBe(message.uid - 1);
	});

	it('closes a connection that is still logging in when stopped', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		server.connectFailure = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
		server.kick();
		await advance(50);
		await h.settle(h.watcher.stop());
		server.connectFailure = undefined;
		await advance(300);
		expect(server.openClientCount()).toBe(0);
	});
});

describe('MailboxWatcher: the server refuses a command for a while', () => {
	it('retries a filter search the server refuses (NO [UNAVAILABLE]) with backoff, and emits once it answers again', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { filter: { subject: 'hello' } });
		await h.settle(h.watcher.start({ failFast: true }));
		let refusals = 0;
		server.refuse = (command, detail) => command === 'SEARCH' && detail.includes('subject') && refusals++ < 3;
		const message = server.deliver('INBOX', { subject: 'hello there' });
		await h.waitFor(() => h.emits.length === 1, 5000, 'the message after the refusals');
		expect(refusals).toBeGreaterThanOrEqual(3);
		expect(h.emittedUids()).toEqual([message.uid]);
		expect(h.fatal).toHaveLength(0);
	});

	it('reports a lasting refusal once while it keeps retrying, without ending the trigger', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { filter: { subject: 'hello' }, persistentFaultAttempts: 3, maxBackoffMs: 100 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.refuse = (command, detail) => command === 'SEARCH' && detail.includes('subject');
		const message = server.deliver('INBOX', { subject: 'hello there' });
		await h.waitFor(() => h.faults.length === 1, 5000, 'the report');
		await advance(500);
		expect(h.faults).toHaveLength(1);
		expect(h.faults[0].message).toMatch(/keeps retrying.*refused the search/);
		expect(h.fatal).toHaveLength(0);
		expect(h.emits).toHaveLength(0);
		server.refuse = undefined;
		await h.waitFor(() => h.emits.length === 1, 3000, 'the message once the server answers');
		expect(h.emittedUids()).toEqual([message.uid]);
	});
});

describe('MailboxWatcher: post-actions', () => {
	const plan = { markRead: true, addLabels: [], removeLabels: [], delete: false };

	it('marks as read only after the run succeeded; a failed run leaves the message untouched', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { postActions: plan }, { runMs: 50 });
		h.outcome = (uids) => (uids[0] === 2 ? 'failed' : 'succeeded');
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		server.deliver('INBOX');
		server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 3);
		// Not before the run finished.
		expect(server.message('INBOX', 1)?.flags.has('\\Seen')).toBe(false);
		await h.waitFor(() => server.message('INBOX', 3)?.flags.has('\\Seen') === true, 3000, 'post-action');
		expect(server.message('INBOX', 1)?.flags.has('\\Seen')).toBe(true);
		expect(server.message('INBOX', 2)?.flags.has('\\Seen')).toBe(false);
	});

	it('an after-run action the server refuses once (the connection up) is tried again at the next pass, not reported', async () => {
		const server = new FakeImapServer();
		let refusals = 0;
		server.refuse = (command) => command === 'STORE' && refusals++ === 0;
		const h = await start(server, { postActions: plan, pollIntervalMs: 500 }, { runMs: 50 });
		await h.settle(h.watcher.start({ failFast: true }));
		const message = server.deliver('INBOX');
		await h.waitFor(() => refusals === 1, 3000, 'the refused STORE');
		expect(server.message('INBOX', message.uid)?.flags.has('\\Seen')).toBe(false);
		await h.waitFor(() => server.message('INBOX', message.uid)?.flags.has('\\Seen') === true, 3000, 'the STORE at the next pass');
		expect(h.faults).toEqual([]);
		expect(h.logger.entries.filter((entry) => /was refused; it will be tried again/.test(entry.message))).toHaveLength(1);
		expect(server.commands.filter((command) => command.startsWith('STORE'))).toHaveLength(2);
		expect(h.emittedUids()).toEqual([message.uid]);
	});

	it('an after-run action the server keeps refusing is reported once, after three passes, and then dropped', async () => {
		const server = new FakeImapServer();
		server.refuse = (command) => command === 'STORE';
		const h = await start(server, { postActions: plan, pollIntervalMs: 500 }, { runMs: 50 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		await h.waitFor(() => h.faults.length === 1, 5000, 'the report');
		expect(h.faults[0].message).toMatch(/^After-run action on 1 message\(s\) in "INBOX" failed: The server refused to mark the message\(s\) as read/);
		const stores = () => server.commands.filter((command) => command.startsWith('STORE')).length;
		expect(stores()).toBe(3);
		expect(h.logger.entries.filter((entry) => /was refused; it will be tried again/.test(entry.message))).toHaveLength(2);
		await advance(2000);
		expect(stores()).toBe(3);
		expect(h.faults).toHaveLength(1);
	});

	it('a move refused on a server without MOVE (COPY, then delete) is reported at once, never copied again', async () => {
		const server = new FakeImapServer(['INBOX', 'Done']);
		server.capabilities.delete('MOVE');
		server.refuse = (command) => command === 'EXPUNGE';
		const h = await start(server, { postActions: { ...plan, markRead: false, moveTo: 'Done' }, pollIntervalMs: 500 }, { runMs: 50 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		await h.waitFor(() => h.faults.length === 1, 3000, 'the report');
		expect(h.faults[0].message).toMatch(/refused to move/);
		await advance(2000);
		expect(server.commands.filter((command) => command.startsWith('COPY'))).toHaveLength(1);
		expect(server.folders.get('Done')?.messages).toHaveLength(1);
	});

	it('says at stop that an action the server refused earlier was not done', async () => {
		const server = new FakeImapServer();
		server.refuse = (command) => command === 'STORE';
		const h = await start(server, { postActions: plan, pollIntervalMs: 60_000 }, { runMs: 50 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		await h.waitFor(() => h.logger.entries.some((entry) => /was refused; it will be tried again/.test(entry.message)), 3000, 'the refusal');
		await h.settle(h.watcher.stop());
		expect(h.logger.entries.filter((entry) => /after-run action on 1 message\(s\) in "INBOX", refused by the server earlier, was not done: the trigger stopped/.test(entry.message))).toHaveLength(1);
		expect(h.faults).toEqual([]);
	});

	it('a pass for an after-run action alone sends no SEARCH; mail announced meanwhile is still searched for and emitted', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { postActions: plan }, { runMs: 50 });
		await h.settle(h.watcher.start({ failFast: true }));
		const first = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1);
		const afterEmit = server.commands.length;
		await h.waitFor(() => server.message('INBOX', first.uid)?.flags.has('\\Seen') === true, 3000, 'the post-action');
		await advance(100);
		const afterRun = server.commands.slice(afterEmit);
		expect(afterRun.filter((command) => command.startsWith('STORE'))).toHaveLength(1);
		expect(afterRun.filter((command) => command.startsWith('SEARCH') || command.startsWith('SELECT'))).toEqual([]);
		// New mail while a run is going: its EXISTS makes the after-run pass search, and it goes out.
		const second = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 2);
		const third = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 3, 3000, 'the third message');
		await h.waitFor(() => server.message('INBOX', third.uid)?.flags.has('\\Seen') === true, 3000, 'its post-action');
		expect(h.emittedUids()).toEqual([first.uid, second.uid, third.uid]);
	});

	it('moves after success, and reports (once, after three passes) an action the server refuses', async () => {
		const server = new FakeImapServer(['INBOX', 'Done']);
		const h = await start(server, { postActions: { ...plan, markRead: false, moveTo: 'Done' }, pollIntervalMs: 500 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		await h.waitFor(() => server.folders.get('Done')?.messages.length === 1, 3000, 'move');
		expect(server.folders.get('INBOX')?.messages).toHaveLength(0);

		server.folders.delete('Done');
		server.deliver('INBOX');
		await h.waitFor(() => h.faults.length === 1, 5000, 'reported failure');
		expect(h.faults[0].message).toMatch(/refused to move/);
		expect(server.commands.filter((command) => command === 'MOVE 2 Done')).toHaveLength(3);
		expect(h.fatal).toHaveLength(0);
	});

	it('drops the after-run actions of a folder that disappeared, without spinning on them', async () => {
		const server = new FakeImapServer(['INBOX', 'Work']);
		const h = await start(
			server,
			{ folders: ['INBOX', 'Work'], postActions: plan, pollIntervalMs: 250, missingFolderGraceMs: 600_000 },
			{ runMs: 100 },
		);
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('Work');
		await h.waitFor(() => h.emits.length === 1);
		// Deleted while its run is still going: the run's success arrives for a folder that is gone.
		server.deleteFolder('Work');
		await h.waitFor(() => h.logger.entries.some((entry) => /after-run actions for 1 message\(s\) in "Work" were dropped/.test(entry.message)), 3000, 'the drop');
		const before = server.commands.length;
		await advance(300);
		// At most one poll's worth of commands (STATUS Work, SELECT/SEARCH INBOX), not thousands.
		expect(server.commands.length - before).toBeLessThan(15);
		// Created again: the old UID means another message now, so nothing is marked there.
		server.createFolder('Work');
		const other = server.deliver('Work', { flags: [] });
		await h.waitFor(() => h.emits.length === 2, 3000, 'the message in the new folder');
		expect(other.uid).toBe(1);
		// Marked once, by its own run.
		await h.waitFor(() => server.message('Work', 1)?.flags.has('\\Seen') === true, 3000, 'its own after-run action');
		expect(server.commands.filter((command) => command.startsWith('STORE 1 '))).toHaveLength(1);
		expect(h.fatal).toHaveLength(0);
	});

	it('warns once that after-run actions cannot run when n8n cannot report the end of a run', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { postActions: plan }, { reportsRunEnd: false });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 2);
		await advance(100);
		const warnings = h.logger.entries.filter((entry) => /after-run actions .* cannot run/.test(entry.message));
		expect(warnings).toHaveLength(1);
		expect(warnings[0].level).toBe('warn');
		expect(server.message('INBOX', 1)?.flags.has('\\Seen')).toBe(false);
	});

	it('drops post-actions of runs that finish after the trigger stopped', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { postActions: plan }, { runMs: 300 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1);
		await h.settle(h.watcher.stop());
		await advance(400);
		expect(server.message('INBOX', 1)?.flags.has('\\Seen')).toBe(false);
	});
});

describe('MailboxWatcher: Gmail (exact commands at the imapflow boundary)', () => {
	it('sends X-GM-RAW with the filter, fetches labels and thread ids, and stores labels with X-GM-LABELS', async () => {
		const server = new FakeImapServer();
		server.enableGmail();
		server.gmailRaw = (query, message) => query === 'has:attachment' && message.subject.includes('invoice');
		const h = await start(server, {
			filter: { gmraw: 'has:attachment' },
			postActions: { markRead: false, addLabels: ['Processed'], removeLabels: ['\\Inbox'], delete: false },
		});
		await h.settle(h.watcher.start({ failFast: true }));
		server.deliver('INBOX', { subject: 'hello' });
		const invoice = server.deliver('INBOX', { subject: 'invoice 7', labels: ['\\Inbox'] });
		await h.waitFor(() => !server.message('INBOX', invoice.uid)?.labels.has('\\Inbox'), 3000, 'label change');
		expect(h.emittedUids()).toEqual([invoice.uid]);
		expect(h.emits[0].items[0].json).toMatchObject({ labels: ['\\Inbox'], threadId: invoice.threadId, emailId: invoice.emailId });
		expect(server.commands).toContain(`STORE ${invoice.uid} +X-GM-LABELS (Processed)`);
		expect(server.commands).toContain(`STORE ${invoice.uid} -X-GM-LABELS (\\Inbox)`);
		expect(server.commands.some((command) => command.startsWith('SEARCH') && command.includes('"gmraw":"has:attachment"'))).toBe(true);
		expect(server.commands.some((command) => command.startsWith('FETCH') && command.includes('labels') && command.includes('threadId'))).toBe(true);
	});

	it('refuses Gmail-only options on a server without X-GM-EXT-1 at activation', async () => {
		const server = new FakeImapServer();
		const labels = await start(server, { postActions: { markRead: false, addLabels: ['x'], removeLabels: [], delete: false } });
		await expect(labels.settle(labels.watcher.start({ failFast: false }))).rejects.toThrow(/needs a Gmail server/);
		const search = await start(server, { filter: { gmraw: 'from:a' } });
		await expect(search.settle(search.watcher.start({ failFast: false }))).rejects.toThrow(/needs a Gmail server/);
	});
});

describe('MailboxWatcher: UIDVALIDITY and missing folders', () => {
	it('after a folder is recreated, emits only mail newer than what it had seen, never old mail again', async () => {
		const server = new FakeImapServer(['INBOX', 'Work']);
		const old = server.deliver('Work', { date: new Date(Date.now() - 3600_000) });
		const h = await start(server, { folders: ['INBOX', 'Work'], pollIntervalMs: 100 });
		await h.settle(h.watcher.start({ failFast: true }));
		const seen = server.deliver('Work');
		await h.waitFor(() => h.emits.length === 1);
		// Recreated with both old messages (same Message-IDs and dates) plus a new one.
		server.recreateFolder('Work');
		const fresh = server.deliver('Work');
		await h.waitFor(() => h.emits.length === 2, 3000, 'the new message');
		await advance(400);
		expect(h.emits.map((emit) => emit.items[0].json.messageId)).toEqual([seen.messageId, fresh.messageId]);
		expect(old.messageId).not.toBe(fresh.messageId);
		expect(h.logger.entries.some((entry) => /new UIDVALIDITY/.test(entry.message))).toBe(true);
	});

	it('notices at the next poll a folder recreated while selected, when the server does not say so (Dovecot)', async () => {
		const server = new FakeImapServer(['Work']);
		const h = await start(server, { folders: ['Work'], pollIntervalMs: 150 });
		await h.settle(h.watcher.start({ failFast: true }));
		const seen = server.deliver('Work');
		await h.waitFor(() => h.emits.length === 1);
		server.recreateFolder('Work', () => true, { quietly: true });
		const fresh = server.deliver('Work');
		await h.waitFor(() => h.emits.length === 2, 3000, 'the new message');
		await advance(400);
		expect(h.emits.map((emit) => emit.items[0].json.messageId)).toEqual([seen.messageId, fresh.messageId]);
		expect(server.openClientCount()).toBe(1);
	});

	it('keeps the other folders going while one is briefly missing, and ends only after the grace period', async () => {
		const server = new FakeImapServer(['INBOX', 'Work']);
		const h = await start(server, { folders: ['INBOX', 'Work'], pollIntervalMs: 100, missingFolderGraceMs: 600 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.deleteFolder('Work');
		const inbox = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1);
		expect(h.emittedUids()).toEqual([inbox.uid]);
		await h.waitFor(() => h.fatal.length === 1, 3000, 'missing folder error');
		expect(h.fatal[0].message).toMatch(/"Work" has not existed/);
	});
});

describe('MailboxWatcher: manual "Test step"', () => {
	it('emits the newest matching message at once, and only one', async () => {
		const server = new FakeImapServer();
		server.deliver('INBOX', { flags: ['\\Seen'] });
		const newestUnread = server.deliver('INBOX');
		server.deliver('INBOX', { flags: ['\\Seen'] });
		const h = await start(server, { filter: { seen: false }, maxEmits: 1, startAtNewestMatch: true }, { staticData: {} });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 1);
		server.deliver('INBOX');
		await advance(200);
		expect(h.emittedUids()).toEqual([newestUnread.uid]);
	});

	it('takes the newest match across all watched folders', async () => {
		const server = new FakeImapServer(['INBOX', 'Support']);
		server.deliver('INBOX', { date: new Date(Date.now() - 60_000) });
		const newest = server.deliver('Support', { date: new Date() });
		server.deliver('INBOX', { date: new Date(Date.now() - 30_000) });
		const h = await start(server, { folders: ['INBOX', 'Support'], maxEmits: 1, startAtNewestMatch: true });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 1);
		await advance(200);
		expect(h.emits).toHaveLength(1);
		expect(h.emits[0]).toMatchObject({ uids: [newest.uid], folders: ['Support'] });
	});

	it('waits for the next message when nothing matches yet', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { maxEmits: 1, startAtNewestMatch: true });
		await h.settle(h.watcher.start({ failFast: true }));
		await advance(100);
		expect(h.emits).toHaveLength(0);
		const next = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1);
		expect(h.emittedUids()).toEqual([next.uid]);
	});
});

describe('MailboxWatcher: a connection that closes under a command (imapflow 2.10 answers)', () => {
	it('reads an undefined filter search (connection closed) as a lost session, not as "nothing matched"', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { filter: { subject: 'hello' } });
		await h.settle(h.watcher.start({ failFast: true }));
		let closeNext = true;
		server.beforeCommand = (command, detail, client) => {
			if (command === 'SEARCH' && detail.includes('subject') && closeNext) {
				closeNext = false;
				client.serverClose('Connection reset');
			}
		};
		const message = server.deliver('INBOX', { subject: 'hello world' });
		await h.waitFor(() => h.emits.length === 1, 3000, 'the message after the reconnect');
		await advance(100);
		expect(closeNext).toBe(false);
		expect(h.emittedUids()).toEqual([message.uid]);
		expect(h.checkpoint('INBOX')?.lastUid).toBe(message.uid);
	});

	it('reads an empty download (connection closed before it) as a lost session, not as a vanished message', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { streamAboveBytes: 1000 });
		await h.settle(h.watcher.start({ failFast: true }));
		let closeNext = true;
		server.beforeCommand = (command, _detail, client) => {
			if (command === 'DOWNLOAD' && closeNext) {
				closeNext = false;
				client.serverClose('Connection reset');
			}
		};
		const large = server.deliver('INBOX', { padTo: 5000 });
		await h.waitFor(() => h.emits.length === 1, 3000, 'the large message after the reconnect');
		await advance(100);
		expect(closeNext).toBe(false);
		expect(h.emittedUids()).toEqual([large.uid]);
		expect(h.emits[0].items[0].json.sourceBytes).toBe(large.source.length);
	});

	it('passes over a message only when a UID SEARCH confirms it is gone (expunged between listing and download)', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { streamAboveBytes: 1000 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.beforeCommand = (command, detail) => {
			// Another client expunges the large message just before its download.
			if (command === 'DOWNLOAD') {
				const folder = server.folders.get('INBOX')!;
				folder.messages = folder.messages.filter((message) => message.uid !== Number(detail));
			}
		};
		const gone = server.deliver('INBOX', { padTo: 5000 });
		const next = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1, 3000, 'the next message');
		await advance(100);
		expect(h.emittedUids()).toEqual([next.uid]);
		expect(h.checkpoint('INBOX')?.lastUid).toBe(next.uid);
		expect(server.commands).toContain(`SEARCH {"uid":"${gone.uid}"}`);
	});

	it('retries a message the server leaves out of a FETCH although it still exists, instead of skipping it', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		let omissions = 0;
		server.omit = (command) => command === 'FETCH' && omissions++ < 2;
		const message = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1, 3000, 'the message after the retries');
		await advance(100);
		expect(omissions).toBeGreaterThanOrEqual(2);
		expect(h.emittedUids()).toEqual([message.uid]);
		expect(h.emits[0].items[0].json.sourceBytes).toBe(message.source.length);
	});
});

describe('MailboxWatcher: messages that cannot be turned into items', () => {
	it.each([undefined, 'with UID'] as const)('turns a parse failure into an error item that says where the message is, and moves on (unsolicited flag rows: %s)', async (rows) => {
		const server = new FakeImapServer();
		server.unsolicitedFlagRows = rows;
		const h = await start(server, {}, {
			buildItem: async (message) => {
				if (message.messageId?.includes('broken')) throw new Error('Unexpected end of MIME structure');
				return await defaultBuildItem(message);
			},
		});
		await h.settle(h.watcher.start({ failFast: true }));
		const broken = server.deliver('INBOX', { messageId: '<broken@fake.test>' });
		const fine = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 2, 3000, 'both messages');
		expect(h.emits[0].items[0].json).toMatchObject({
			error: 'The message could not be parsed: Unexpected end of MIME structure',
			headers: { subject: broken.subject, messageId: '<broken@fake.test>' },
			attributes: { uid: broken.uid, mailbox: 'INBOX', messageId: '<broken@fake.test>' },
		});
		expect(h.emittedUids()).toEqual([broken.uid, fine.uid]);
		// ENVELOPE only for the error item: the Message-ID above was read from the first bytes the metadata FETCH brought
		const fetches = server.commands.filter((command) => command.startsWith('FETCH'));
		expect(fetches.filter((command) => command.includes('envelope'))).toEqual([`FETCH ${broken.uid} uid,envelope`]);
		expect(fetches.filter((command) => command.includes('headers'))).toEqual([]);
	});

	it('a parse limit (mailsplit\'s EMAXLEN error, a system-like code) is the message\'s fault: one error item at once, no retry, no reconnect', async () => {
		const server = new FakeImapServer();
		let builds = 0;
		const h = await start(server, {}, {
			buildItem: async (message) => {
				builds++;
				if (message.messageId?.includes('hostile')) {
					const cause = Object.assign(new Error('Max allowed child nodes exceeded'), { code: 'EMAXLEN' });
					throw new MessageContentError('tooManyParts', 'The message has more than 1000 MIME parts', { cause });
				}
				return await defaultBuildItem(message);
			},
		});
		await h.settle(h.watcher.start({ failFast: true }));
		const hostile = server.deliver('INBOX', { messageId: '<hostile@fake.test>', subject: 'ten thousand parts' });
		const fine = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 2, 3000, 'both messages');
		await advance(200);
		expect(builds).toBe(2);
		expect(server.commands.filter((command) => command === 'LOGIN')).toHaveLength(1);
		expect(h.faults).toHaveLength(0);
		expect(h.emittedUids()).toEqual([hostile.uid, fine.uid]);
		expect(h.emits[0].items[0].json).toMatchObject({
			error: 'The message could not be parsed: The message has more than 1000 MIME parts',
			headers: { subject: 'ten thousand parts', messageId: '<hostile@fake.test>' },
			attributes: { uid: hostile.uid, mailbox: 'INBOX', messageId: '<hostile@fake.test>', size: hostile.source.length },
		});
		const warning = h.logger.entries.find((entry) => entry.message.includes('could not be parsed'));
		expect(warning?.message).toContain(`UID ${hostile.uid} in "INBOX" (Message-ID <hostile@fake.test>)`);
	});

	it('a message above Max Message Size is not downloaded: an error item with its attributes and headers, then the next message', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { maxMessageBytes: 10_000, postActions: { markRead: true, addLabels: [], removeLabels: [], delete: false } });
		await h.settle(h.watcher.start({ failFast: true }));
		const big = server.deliver('INBOX', { subject: 'too big', padTo: 20_000 });
		const small = server.deliver('INBOX', { subject: 'small' });
		await h.waitFor(() => h.emits.length === 2, 3000, 'both messages');
		await advance(200);
		expect(h.emittedUids()).toEqual([big.uid, small.uid]);
		expect(h.emits[0].items[0].json.error).toMatch(
			/^The message is 19\.5 KiB, more than the trigger's Max Message Size of 9\.8 KiB: it was not downloaded\. Raise the option "Max Message Size \(MB\)"/,
		);
		expect(h.emits[0].items[0].json).toMatchObject({ headers: { subject: 'too big' }, attributes: { uid: big.uid, size: 20_000 } });
		// Its content was never asked for, and the after-run action leaves it alone (the workflow did not get it).
		const contentFetches = server.commands.filter((command) => /^(FETCH .*source|DOWNLOAD)/.test(command));
		expect(contentFetches.some((command) => command.startsWith(`FETCH ${big.uid} `) || command === `DOWNLOAD ${big.uid}`)).toBe(false);
		expect(server.message('INBOX', big.uid)?.flags.has('\\Seen')).toBe(false);
		await h.waitFor(() => server.message('INBOX', small.uid)?.flags.has('\\Seen') === true, 3000, 'the small one marked read');
	});

	it('reads a message again when building its item failed for another reason (disk full), never consuming it as an error item', async () => {
		const server = new FakeImapServer();
		let failures = 0;
		const store = storageStep(async () => {
			throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
		});
		// The message waits in the retry list (tried again after 20 ms, then 40 ms) instead of holding the folder.
		const itemRetry = { firstDelayMs: 20, maxDelayMs: 40, attempts: 10, minSpanMs: 60_000, maxEntries: 100 };
		const h = await start(server, { itemRetry }, {
			buildItem: async (message) => {
				if (failures < 2) {
					failures++;
					// The first time n8n's binary store fails, the second time a system error surfaces directly.
					if (failures === 1) await store();
					throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
				}
				return await defaultBuildItem(message);
			},
		});
		await h.settle(h.watcher.start({ failFast: true }));
		const message = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1, 5000, 'the message once storing works again');
		await advance(100);
		expect(failures).toBe(2);
		expect(h.emits).toHaveLength(1);
		expect(h.emits[0].items[0].json).toMatchObject({ uid: message.uid, sourceBytes: message.source.length });
		expect(h.emits[0].items[0].json.error).toBeUndefined();
	});

	it('tells parse failures from failures of the machine', async () => {
		expect(isMessageParseFailure(new Error('Invalid header'))).toBe(true);
		expect(isMessageParseFailure(new TypeError('Cannot read properties of undefined'))).toBe(true);
		expect(isMessageParseFailure(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBe(false);
		expect(isMessageParseFailure(Object.assign(new Error('closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))).toBe(false);
		expect(isMessageParseFailure(Object.assign(new Error('write'), { errno: -5, syscall: 'write' }))).toBe(false);
		expect(isMessageParseFailure(new ItemNotBuiltError('Storing an attachment failed'))).toBe(false);
		const failing = storageStep(async () => {
			throw new Error('binary data service unavailable');
		});
		await expect(failing()).rejects.toBeInstanceOf(ItemNotBuiltError);
	});
});

describe('MailboxWatcher: a message the server keeps failing to deliver', () => {
	const plan = { markRead: true, addLabels: [], removeLabels: [], delete: false };

	it('emits an error item for it after 3 attempts (uid and mailbox included) and goes on with the folder', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { postActions: plan });
		await h.settle(h.watcher.start({ failFast: true }));
		const first = server.deliver('INBOX');
		const bad = server.deliver('INBOX');
		const third = server.deliver('INBOX');
		// Every FETCH that includes the bad message is refused while the connection stays up (Dovecot/Gmail NO).
		server.refuse = (command, range) => command === 'FETCH' && inUidSet(range, bad.uid, third.uid);
		await h.waitFor(() => h.emits.length === 3, 8000, 'all three');
		expect(h.emittedUids()).toEqual([first.uid, bad.uid, third.uid]);
		const errorItem = h.emits[1].items[0].json;
		expect(errorItem.error).toMatch(/could not be read from the server after 3 attempts: Command failed \(FETCH failed: server unavailable\)/);
		expect(errorItem.attributes).toMatchObject({ uid: bad.uid, mailbox: 'INBOX', uidValidity: expect.any(String) });
		expect(h.fatal).toHaveLength(0);
		// The after-run action touches the messages the workflow got, never the one it only got an error for.
		await h.waitFor(() => server.message('INBOX', third.uid)?.flags.has('\\Seen') === true, 3000, 'post-actions');
		expect(server.message('INBOX', first.uid)?.flags.has('\\Seen')).toBe(true);
		expect(server.message('INBOX', bad.uid)?.flags.has('\\Seen')).toBe(false);
		// Attempts were bounded: the bad message was asked for alone three times.
		expect(server.commands.filter((command) => command === `FETCH ${bad.uid} uid,flags,internalDate,size,headers`)).toHaveLength(3);
	});

	it('does the same for a large message whose download the server refuses', async () => {
		const server = new FakeImapServer();
		const h = await start(server, { streamAboveBytes: 1000 });
		await h.settle(h.watcher.start({ failFast: true }));
		server.refuse = (command) => command === 'DOWNLOAD';
		const large = server.deliver('INBOX', { padTo: 5000 });
		await h.waitFor(() => h.emits.length === 1, 8000, 'the error item');
		expect(h.emits[0].items[0].json).toMatchObject({ attributes: { uid: large.uid, mailbox: 'INBOX' } });
		expect(server.commands.filter((command) => command === `DOWNLOAD ${large.uid}`)).toHaveLength(3);
		server.refuse = undefined;
		const next = server.deliver('INBOX', { padTo: 5000 });
		await h.waitFor(() => h.emits.length === 2, 3000, 'the next message');
		expect(h.emits[1].items[0].json).toMatchObject({ uid: next.uid, sourceBytes: next.source.length });
	});

	it('asks again without the contents when the metadata FETCH with them is refused: the error item keeps the attributes', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		const bad = server.deliver('INBOX', { subject: 'body unavailable' });
		server.refuse = (command, range, query) => command === 'FETCH' && query?.source !== undefined && inUidSet(range, bad.uid, bad.uid);
		await h.waitFor(() => h.emits.length === 1, 8000, 'the error item');
		expect(h.emits[0].items[0].json).toMatchObject({
			error: expect.stringMatching(/could not be read from the server after 3 attempts/),
			headers: { subject: 'body unavailable' },
			attributes: { uid: bad.uid, size: bad.source.length },
		});
		server.refuse = undefined;
		const next = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 2, 3000, 'the next message');
		expect(h.emits[1].items[0].json).toMatchObject({ uid: next.uid, sourceBytes: next.source.length });
	});

	it('emits a normal item for a message the server serves at the second retry', async () => {
		const server = new FakeImapServer();
		const h = await start(server, {});
		await h.settle(h.watcher.start({ failFast: true }));
		let refusals = 0;
		server.refuse = (command) => command === 'FETCH' && refusals++ < 2;
		const message = server.deliver('INBOX');
		await h.waitFor(() => h.emits.length === 1, 5000, 'the message');
		expect(h.emits[0].items[0].json).toMatchObject({ uid: message.uid, sourceBytes: message.source.length });
	});
});

describe('MailboxWatcher: backpressure', () => {
	it('keeps at most maxRunsInFlight runs unfinished during a catch-up, every message once and in order', async () => {
		const server = new FakeImapServer();
		for (let index = 0; index < 30; index++) server.deliver('INBOX');
		const h = await start(server, { start: { mode: 'unread' }, maxRunsInFlight: 4 }, { runMs: 40 });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 30, 5000, 'the catch-up');
		await advance(100);
		expect(h.emittedUids()).toEqual(Array.from({ length: 30 }, (_v, index) => index + 1));
		expect(h.maxRunsInFlight).toBe(4);
		// Still exactly once: the checkpoint went out with each message.
		h.emits.forEach((emit) => {
			const saved = (emit.savedAtEmit.gmailImapTrigger as { folders: Record<string, { lastUid: number }> }).folders.INBOX;
			expect(saved.lastUid).toBe(emit.uids[0]);
		});
	});

	it('emits nothing more after stop() while waiting for a run slot, and leaves the checkpoint before the waiting message', async () => {
		const server = new FakeImapServer();
		const first = server.deliver('INBOX');
		server.deliver('INBOX');
		const h = await start(server, { start: { mode: 'unread' }, maxRunsInFlight: 1 }, { runMs: 10_000 });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 1);
		await advance(100);
		const before = Date.now();
		await h.settle(h.watcher.stop());
		expect(Date.now() - before).toBeLessThan(2000);
		await advance(100);
		expect(h.emittedUids()).toEqual([first.uid]);
		expect(h.checkpoint('INBOX')?.lastUid).toBe(first.uid);
	});

	it('lets a run that is never reported finished hold back the next one only for runSlotTimeoutMs (warned once)', async () => {
		const server = new FakeImapServer();
		for (let index = 0; index < 3; index++) server.deliver('INBOX');
		const h = await start(server, { start: { mode: 'unread' }, maxRunsInFlight: 1, runSlotTimeoutMs: 150 }, { runMs: 60_000 });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 3, 3000, 'all three');
		const gaps = h.emits.slice(1).map((emit, index) => emit.at - h.emits[index].at);
		// Simulated time: the slot is held for the whole timeout, not a millisecond less.
		expect(Math.min(...gaps)).toBeGreaterThanOrEqual(150);
		expect(h.logger.entries.filter((entry) => /has not finished after/.test(entry.message))).toHaveLength(1);
	});

	it('without a report of the end of runs (no createDeferredPromise) emits without a limit and says so once', async () => {
		const server = new FakeImapServer();
		for (let index = 0; index < 5; index++) server.deliver('INBOX');
		const h = await start(server, { start: { mode: 'unread' }, maxRunsInFlight: 2 }, { reportsRunEnd: false });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emits.length === 5);
		const warnings = h.logger.entries.filter((entry) => /cannot be limited/.test(entry.message));
		expect(warnings).toHaveLength(1);
		expect(warnings[0].message).not.toMatch(/after-run actions/);
	});

	it('lets a due rollover go first during a long, held-back catch-up, then goes on: every message once, in order', async () => {
		const server = new FakeImapServer();
		for (let index = 0; index < 120; index++) server.deliver('INBOX');
		const authority = newAuthority(server, 2);
		const h = await start(
			server,
			{ start: { mode: 'unread' }, maxRunsInFlight: 2, fetchBatchMessages: 10, rolloverMinLeadMs: 500 },
			{ authority, runMs: 40 },
		);
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.logger.entries.some((entry) => /rolled over/.test(entry.message)), 10_000, 'the rollover');
		// The token (2 s) would run out before the catch-up (~2.4 s) ends: the renewal did not wait for it.
		expect(h.emits.length).toBeLessThan(120);
		await h.waitFor(() => h.emits.length === 120, 10_000, 'the catch-up');
		expect(h.emittedUids()).toEqual(Array.from({ length: 120 }, (_v, index) => index + 1));
		expect(h.logger.entries.filter((entry) => /session ended, reconnecting/.test(entry.message))).toHaveLength(0);
	});

	it('closes a batch at batchMaxBytes as well as at the batch size', async () => {
		const server = new FakeImapServer();
		const sizes = Array.from({ length: 7 }, () => server.deliver('INBOX', { padTo: 1000 }).source.length);
		const h = await start(server, { start: { mode: 'unread' }, output: { mode: 'batch', size: 50 }, batchMaxBytes: sizes[0] * 3 });
		await h.settle(h.watcher.start({ failFast: true }));
		await h.waitFor(() => h.emittedUids().length === 7);
		expect(h.emits.map((emit) => emit.uids)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
	});
});
