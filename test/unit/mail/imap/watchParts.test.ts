/** The watcher's pure parts, on jest's fake timers and an injected clock: nothing here waits in real time. */
import type { FetchMessageObject } from 'imapflow';

import { TIME_RULE_SKEW_MS, backlogAdmits, initialCheckpoint, messageFingerprint, repositionForNewUidValidity } from '../../../../nodes/mail/imap/checkpoint';
import type { ImapSession } from '../../../../nodes/mail/imap/session';
import { DEFAULT_WATCHER_CONFIG } from '../../../../nodes/mail/imap/watcher';
import { sleep } from '../../../../nodes/mail/imap/watch/abort';
import { admissionSearches, afterEmitting, alignCheckpoint, judgeChunk, messageIdOf, pendingUids, tooLargeReason } from '../../../../nodes/mail/imap/watch/admission';
import { MessageReader } from '../../../../nodes/mail/imap/watch/reader';
import { FaultPolicy } from '../../../../nodes/mail/imap/watch/faultPolicy';
import { watcherLog } from '../../../../nodes/mail/imap/watch/log';
import { Rollover, rolloverLead } from '../../../../nodes/mail/imap/watch/rollover';
import { RunSlots } from '../../../../nodes/mail/imap/watch/runSlots';
import { WakeScheduler } from '../../../../nodes/mail/imap/watch/wake';
import { recordingLogger } from './watcherHarness';

const NOW = Date.parse('2024-05-01T12:00:00Z');

function testLog() {
	const logger = recordingLogger();
	return { logger, log: watcherLog(logger, 'Gmail IMAP Trigger') };
}

/** Lets pending promise callbacks run (fake timers do not advance microtasks by themselves). */
async function settle(): Promise<void> {
	for (let index = 0; index < 5; index++) await Promise.resolve();
}

beforeEach(() => jest.useFakeTimers({ now: NOW }));
afterEach(() => jest.useRealTimers());

describe('watcherLog', () => {
	it('starts every line with the name it is given, and the fatal line with "<name> stopped:"', () => {
		const { logger, log } = testLog();
		log.warn('folder "X" is back', { a: 1 });
		log.stopped('boom');
		expect(logger.entries).toEqual([
			{ level: 'warn', message: 'Gmail IMAP Trigger: folder "X" is back', meta: { a: 1 } },
			{ level: 'error', message: 'Gmail IMAP Trigger stopped: boom', meta: undefined },
		]);
	});
});

describe('sleep with an AbortSignal', () => {
	it('ends after its time, or at once when the signal aborts', async () => {
		const controller = new AbortController();
		let done = false;
		void sleep(60_000, controller.signal).then(() => (done = true));
		jest.advanceTimersByTime(59_999);
		await settle();
		expect(done).toBe(false);
		controller.abort();
		await settle();
		expect(done).toBe(true);
		expect(jest.getTimerCount()).toBe(0);
	});
});

describe('FaultPolicy', () => {
	function policy(reportAfterAttempts?: number) {
		const { logger, log } = testLog();
		const reports: Error[] = [];
		const clock = { now: () => Date.now(), random: () => 1 };
		const faults = new FaultPolicy(
			{
				baseDelayMs: (failures) => 100 * 2 ** (failures - 1),
				warnFrom: 3,
				quietLevel: 'debug',
				logText: 'retrying',
				reportAfterMs: 60_000,
				reportAfterAttempts,
				reportText: (ms, attempts, error) => `${ms} ms, ${attempts} attempts: ${error}`,
			},
			clock,
			log,
			(error) => reports.push(error),
		);
		return { faults, logger, reports };
	}

	it('backs off with jitter, logs quietly then at warn, and reports a lasting fault once', () => {
		const { faults, logger, reports } = policy();
		expect(faults.delayMs()).toBe(0);
		faults.fail('e1');
		expect(faults.delayMs()).toBe(100);
		faults.fail('e2');
		faults.fail('e3');
		expect(faults.delayMs()).toBe(400);
		expect(logger.entries.map((entry) => entry.level)).toEqual(['debug', 'debug', 'warn']);
		expect(logger.entries[2]).toMatchObject({ message: 'Gmail IMAP Trigger: retrying', meta: { attempts: 3, error: 'e3' } });
		expect(reports).toHaveLength(0);
		jest.setSystemTime(NOW + 60_000);
		faults.fail('e4');
		faults.fail('e5');
		expect(reports.map((error) => error.message)).toEqual(['60000 ms, 4 attempts: e4']);
		faults.reset();
		expect(faults.delayMs()).toBe(0);
		faults.fail('again');
		expect(reports).toHaveLength(1);
	});

	it('reports after a number of attempts when asked to; jitter takes between half and all of the delay', () => {
		const { faults, reports } = policy(2);
		faults.fail('a');
		faults.fail('b');
		expect(reports.map((error) => error.message)).toEqual(['0 ms, 2 attempts: b']);
		const half = new FaultPolicy(
			{ baseDelayMs: () => 1000, warnFrom: 9, logText: '', reportAfterMs: 1e9, reportText: () => '' },
			{ now: Date.now, random: () => 0 },
			testLog().log,
			() => undefined,
		);
		half.fail('x');
		expect(half.delayMs()).toBe(500);
	});
});

describe('admission (pure)', () => {
	const mailbox = { uidValidity: '7', uidNext: 11 };

	it('reads the Message-ID from the fetched header field (folded, any case), or from ENVELOPE when there is one', () => {
		const headers = (text: string) => ({ headers: Buffer.from(text) });
		expect(messageIdOf(headers('Message-ID: <a@x.test>\r\n\r\n'))).toBe('<a@x.test>');
		expect(messageIdOf(headers('message-id:\r\n  <folded@x.test>\r\n\r\n'))).toBe('<folded@x.test>');
		expect(messageIdOf(headers('MESSAGE-ID :  <spaced@x.test>  \n\n'))).toBe('<spaced@x.test>');
		expect(messageIdOf(headers('\r\n'))).toBeUndefined();
		expect(messageIdOf(headers('Message-ID: \r\n\r\n'))).toBeUndefined();
		expect(messageIdOf({ envelope: { messageId: '<env@x.test>' }, headers: Buffer.from('Message-ID: <hdr@x.test>\r\n') })).toBe('<env@x.test>');
		expect(messageIdOf(undefined)).toBeUndefined();
	});

	it('keeps a matching checkpoint, fills in an offline one, and repositions on a new UIDVALIDITY', () => {
		const stored = initialCheckpoint({ mode: 'new' }, NOW, mailbox);
		expect(alignCheckpoint(stored, mailbox, { mode: 'new' }, NOW)).toEqual({ checkpoint: stored });
		expect(alignCheckpoint(undefined, mailbox, { mode: 'new' }, NOW)).toMatchObject({ change: 'new', checkpoint: { lastUid: 10 } });
		const offline = initialCheckpoint({ mode: 'unread' }, NOW);
		expect(alignCheckpoint(offline, mailbox, { mode: 'new' }, NOW)).toMatchObject({
			change: 'resolved',
			checkpoint: { uidValidity: '7', backlog: { throughUid: 10, unseenOnly: true } },
		});
		expect(alignCheckpoint(stored, { uidValidity: '8', uidNext: 3 }, { mode: 'new' }, NOW)).toMatchObject({
			change: 'uidValidity',
			checkpoint: { uidValidity: '8', lastUid: 0, backlog: { throughUid: 2, skipRecent: true } },
		});
	});

	it('orders the found UIDs and drops the highest one that "n:*" adds below n', () => {
		expect(pendingUids([9, 12, 11], 11)).toEqual([11, 12]);
	});

	it('asks the server only where a condition applies: the backlog range with its rule, the rest with the filter', () => {
		const checkpoint = { ...initialCheckpoint({ mode: 'unread' }, NOW, { uidValidity: '7', uidNext: 4 }), lastUid: 0 };
		const searches = admissionSearches([1, 2, 3, 4, 5], checkpoint, undefined);
		expect(searches).toEqual([{ uids: [1, 2, 3], search: { uid: '1:3', seen: false } }, { uids: [4, 5] }]);
		const filtered = admissionSearches([4, 5], { ...checkpoint, backlog: undefined }, { flagged: true });
		expect(filtered).toEqual([{ uids: [4, 5], search: { uid: '4:5', flagged: true } }]);
		expect(admissionSearches([4], { ...checkpoint, backlog: undefined }, { all: true })).toEqual([{ uids: [4] }]);
	});

	it('judges a chunk: unreadable, not admitted, too large and ordinary entries', () => {
		const checkpoint = initialCheckpoint({ mode: 'new' }, NOW, mailbox);
		const meta = (uid: number, size: number) => ({ uid, size, internalDate: new Date(NOW) }) as unknown as FetchMessageObject;
		const metadata = new Map([
			[12, meta(12, 10)],
			[13, meta(13, 5000)],
		]);
		const entries = judgeChunk([11, 12, 13, 14], checkpoint, metadata, new Map([[11, 'broken']]), 1000);
		expect(entries[0]).toEqual({ uid: 11, unreadable: 'broken' });
		expect(entries[1]).toEqual({ uid: 12, meta: metadata.get(12), unreadable: undefined });
		expect(entries[2].unreadable).toBe(tooLargeReason(meta(13, 5000), 1000));
		expect(entries[3]).toEqual({ uid: 14 });
	});
});

describe('WakeScheduler', () => {
	it('polls (verifying the selected folder), wakes a waiting loop on request, and ends every wait at abort', async () => {
		const controller = new AbortController();
		const wake = new WakeScheduler(controller.signal);
		expect(wake.take(true)).toBe(true);
		wake.verifySelected = false;
		let woke = 0;
		void wake.wait(() => false).then(() => woke++);
		await settle();
		expect(woke).toBe(0);
		wake.startPolling(60_000);
		jest.advanceTimersByTime(60_000);
		await settle();
		expect(woke).toBe(1);
		expect(wake.verifySelected).toBe(true);
		expect(wake.take(false)).toBe(false);
		expect(wake.take(true)).toBe(false);
		void wake.wait(() => false).then(() => woke++);
		controller.abort();
		await settle();
		expect(woke).toBe(2);
		expect(jest.getTimerCount()).toBe(0);
	});
});

describe('RunSlots', () => {
	it('holds back the next emit while the limit is reached, frees a slot on release or after the timeout (warned once)', async () => {
		const controller = new AbortController();
		const { logger, log } = testLog();
		const slots = new RunSlots(2, 10_000, log, controller.signal);
		await slots.acquire();
		const first = slots.hold();
		slots.hold();
		let acquired = false;
		void slots.acquire().then(() => (acquired = true));
		await settle();
		expect(acquired).toBe(false);
		first();
		first();
		await settle();
		expect(acquired).toBe(true);
		slots.hold();
		acquired = false;
		void slots.acquire().then(() => (acquired = true));
		jest.advanceTimersByTime(10_000);
		await settle();
		expect(acquired).toBe(true);
		expect(logger.entries.filter((entry) => /has not finished after 10 s/.test(entry.message))).toHaveLength(1);
		acquired = false;
		slots.hold();
		void slots.acquire().then(() => (acquired = true));
		controller.abort();
		await settle();
		expect(acquired).toBe(true);
		expect(jest.getTimerCount()).toBe(0);
	});
});

describe('Rollover', () => {
	const config = { ...DEFAULT_WATCHER_CONFIG, initialBackoffMs: 1000 };
	const session = (expiresIn: number | undefined) =>
		({
			openedAt: Date.now(),
			tokenExpiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn,
			description: 'watch#1',
			retire: async () => undefined,
		}) as unknown as ImapSession;

	it('takes a clamped fraction of the token lifetime as its lead', () => {
		expect(rolloverLead(session(3600_000), config)).toBe(5 * 60_000);
		expect(rolloverLead(session(60_000), config)).toBe(12_000);
		expect(rolloverLead(session(1000), config)).toBe(3000);
	});

	it('becomes due at expiry minus the lead, re-arming long waits in steps', () => {
		const controller = new AbortController();
		let pokes = 0;
		const rollover = new Rollover({ ...config, maxTimerWaitMs: 1000_000 }, { now: Date.now, random: () => 1 }, testLog().log, controller.signal, {
			open: async () => session(3600_000),
			adopt: () => undefined,
			isUnrecoverable: () => false,
			fatal: () => undefined,
			poke: () => pokes++,
			reportPersistentFault: () => undefined,
		});
		rollover.schedule(session(3600_000));
		jest.advanceTimersByTime(3600_000 - 5 * 60_000 - 1);
		expect(rollover.due).toBe(false);
		jest.advanceTimersByTime(1);
		expect(rollover.due).toBe(true);
		expect(pokes).toBe(1);
		controller.abort();
		expect(rollover.due).toBe(false);
	});

	it('keeps the old session when the next cannot open, retries with backoff and reports a lasting failure once', async () => {
		const controller = new AbortController();
		const reports: Error[] = [];
		const { logger, log } = testLog();
		const rollover = new Rollover(config, { now: Date.now, random: () => 1 }, log, controller.signal, {
			open: async () => {
				throw new Error('token endpoint down');
			},
			adopt: () => undefined,
			isUnrecoverable: () => false,
			fatal: () => undefined,
			poke: () => undefined,
			reportPersistentFault: (error) => reports.push(error),
		});
		const old = session(2000);
		for (let attempt = 1; attempt <= 4; attempt++) {
			rollover.due = false;
			expect(await rollover.renew(old)).toBeUndefined();
			jest.advanceTimersByTime(Math.min(30_000, 1000 * 2 ** (attempt - 1)) - 1);
			expect(rollover.due).toBe(false);
			jest.advanceTimersByTime(1);
			expect(rollover.due).toBe(true);
		}
		expect(logger.entries.map((entry) => entry.level)).toEqual(['debug', 'debug', 'warn', 'warn']);
		jest.setSystemTime(Date.now() + config.persistentFaultMs);
		await rollover.renew(old);
		await rollover.renew(old);
		expect(reports).toHaveLength(1);
		expect(reports[0].message).toMatch(/^Renewing the mailbox session has failed for \d+ s; .* Last error: token endpoint down$/);
		controller.abort();
	});
});

describe('smaller holes', () => {
	it('caps an INTERNALDATE in the future at now + 5 min before it feeds the UIDVALIDITY time rule', () => {
		const start = { ...initialCheckpoint({ mode: 'new' }, NOW, { uidValidity: '7', uidNext: 1 }) };
		const future = new Date(NOW + 365 * 24 * 3600_000);
		const after = afterEmitting(start, { uid: 1, meta: { seq: 1, uid: 1, internalDate: future, size: 10, envelope: { messageId: '<f@x>' } } }, NOW);
		expect(after.newestEmittedAt).toBe(NOW + TIME_RULE_SKEW_MS);
		// After the folder is recreated, a message that arrived now is still admitted (with the raw date it would not be).
		const moved = repositionForNewUidValidity(after, { uidValidity: '8', uidNext: 5 }, NOW);
		expect(backlogAdmits(moved.backlog ?? {}, moved.recent, { internalDate: NOW, fingerprint: messageFingerprint('<new@x>', NOW, 10) })).toBe(true);
		// The ring still names the message by its real date's fingerprint (only the time is capped).
		expect(moved.recent[0].endsWith(`:${messageFingerprint('<f@x>', future.getTime(), 10)}`)).toBe(true);
	});

	it('treats UIDNEXT at or below a UID already judged (same UIDVALIDITY) like a UIDVALIDITY change', () => {
		const stored = { ...initialCheckpoint({ mode: 'new' }, NOW, { uidValidity: '7', uidNext: 11 }), newestEmittedAt: NOW - 1000 };
		expect(alignCheckpoint(stored, { uidValidity: '7', uidNext: 11 }, { mode: 'new' }, NOW).change).toBeUndefined();
		const restored = alignCheckpoint(stored, { uidValidity: '7', uidNext: 4 }, { mode: 'new' }, NOW);
		expect(restored.change).toBe('uidNextBackwards');
		expect(restored.checkpoint).toMatchObject({ lastUid: 0, uidValidity: '7', generation: 1, backlog: { throughUid: 3, skipRecent: true } });
	});

	it('drops the failed-read count of a message that vanished (the count map stays bounded)', async () => {
		let fetches = 0;
		const client = {
			async *fetch() {
				fetches++;
				if (fetches === 1) throw Object.assign(new Error('Command failed'), { responseStatus: 'NO', responseText: 'FETCH failed' });
			},
			search: async () => [] as number[],
		};
		const session = { client, isOpen: true } as unknown as ImapSession;
		const reader = new MessageReader({ ...DEFAULT_WATCHER_CONFIG }, watcherLog(recordingLogger(), 'T'), new AbortController().signal);
		await expect(reader.readMetadata(session, 'INBOX', '7', [5], false)).rejects.toThrow(/attempt 1 of 3/);
		expect(reader.trackedFailures).toBe(1);
		// The message is gone now: the FETCH answers without it and the SEARCH confirms it.
		const result = await reader.readMetadata(session, 'INBOX', '7', [5], false);
		expect(result.unreadable.size).toBe(0);
		expect(reader.trackedFailures).toBe(0);
	});
});
