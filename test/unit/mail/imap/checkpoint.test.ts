import type { IDataObject } from 'n8n-workflow';
import { ObservableObject } from 'n8n-workflow';

import type { FolderCheckpoint } from '../../../../nodes/mail/imap/checkpoint';
import { CheckpointStore, checkpointAccountKey } from '../../../../nodes/GmailImapTrigger/checkpointStore';
import {
	RECENT_RING_SIZE,
	TIME_RULE_SKEW_MS,
	afterJudging,
	backlogAdmits,
	initialCheckpoint,
	messageFingerprint,
	repositionForNewUidValidity,
	resolveUnknownPosition,
} from '../../../../nodes/mail/imap/checkpoint';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const MAILBOX = { uidValidity: '77', uidNext: 11 };
const ACCOUNT = checkpointAccountKey({ host: 'imap.gmail.com', port: 993 }, 'user@example.com');

function emitted(checkpoint: FolderCheckpoint, uid: number, internalDate: number, messageId = `<${uid}@x>`): FolderCheckpoint {
	return afterJudging(checkpoint, { uid, internalDate, fingerprint: messageFingerprint(messageId, internalDate, 100) });
}

describe('initial positions', () => {
	it('"new" with the server: after the last existing UID', () => {
		expect(initialCheckpoint({ mode: 'new' }, NOW, MAILBOX)).toEqual({ uidValidity: '77', lastUid: 10, positionedAt: NOW, recent: [] });
	});

	it('"new" without the server: by time, resolved to UIDs at the first connection', () => {
		const offline = initialCheckpoint({ mode: 'new' }, NOW);
		expect(offline).toEqual({ lastUid: 0, positionedAt: NOW, recent: [], backlog: { notBefore: NOW - TIME_RULE_SKEW_MS } });
		expect(resolveUnknownPosition(offline, MAILBOX)).toMatchObject({ uidValidity: '77', backlog: { throughUid: 10, notBefore: NOW - TIME_RULE_SKEW_MS } });
	});

	it('"unread" and "since" judge the existing messages by their extra condition', () => {
		expect(initialCheckpoint({ mode: 'unread' }, NOW, MAILBOX).backlog).toEqual({ throughUid: 10, unseenOnly: true });
		expect(initialCheckpoint({ mode: 'since', since: NOW - 1000 }, NOW, MAILBOX).backlog).toEqual({ throughUid: 10, notBefore: NOW - 1000 });
	});
});

describe('afterJudging', () => {
	it('moves lastUid and drops the backlog rule once past it', () => {
		const start = initialCheckpoint({ mode: 'unread' }, NOW, MAILBOX);
		const judged = afterJudging(start, { uid: 10, fingerprint: 'x' });
		expect(judged.lastUid).toBe(10);
		expect(judged.backlog).toBeUndefined();
		expect(judged.recent).toEqual([]);
		expect(start.backlog).toBeDefined();
	});

	it('keeps a bounded ring sorted by time and remembers what it had to forget', () => {
		let checkpoint = initialCheckpoint({ mode: 'new' }, NOW, MAILBOX);
		for (let index = 0; index < RECENT_RING_SIZE + 20; index++) checkpoint = emitted(checkpoint, 11 + index, NOW + index * 1000);
		expect(checkpoint.recent).toHaveLength(RECENT_RING_SIZE);
		const times = checkpoint.recent.map((entry) => Number(entry.split(':')[0]));
		expect(times).toEqual([...times].sort((a, b) => a - b));
		expect(checkpoint.forgottenThrough).toBe(NOW + 19 * 1000);
		expect(checkpoint.newestEmittedAt).toBe(NOW + (RECENT_RING_SIZE + 19) * 1000);
	});

	it('drops entries older than the time window without counting them as forgotten', () => {
		let checkpoint = initialCheckpoint({ mode: 'new' }, NOW, MAILBOX);
		checkpoint = emitted(checkpoint, 11, NOW);
		checkpoint = emitted(checkpoint, 12, NOW + TIME_RULE_SKEW_MS + 1);
		expect(checkpoint.recent).toHaveLength(1);
		expect(checkpoint.forgottenThrough).toBeUndefined();
	});

	it('inserts an out-of-order INTERNALDATE at its place', () => {
		let checkpoint = initialCheckpoint({ mode: 'new' }, NOW, MAILBOX);
		checkpoint = emitted(checkpoint, 11, NOW + 2000);
		checkpoint = emitted(checkpoint, 12, NOW + 1000);
		expect(checkpoint.recent.map((entry) => Number(entry.split(':')[0]))).toEqual([NOW + 1000, NOW + 2000]);
		expect(checkpoint.newestEmittedAt).toBe(NOW + 2000);
	});
});

describe('the UIDVALIDITY rule', () => {
	function afterChange(): FolderCheckpoint {
		let checkpoint = initialCheckpoint({ mode: 'new' }, NOW, MAILBOX);
		checkpoint = emitted(checkpoint, 11, NOW - 60_000, '<a@x>');
		checkpoint = emitted(checkpoint, 12, NOW, '<b@x>');
		return repositionForNewUidValidity(checkpoint, { uidValidity: '99', uidNext: 6 }, NOW + 10_000);
	}

	it('judges the whole new folder again, by time and against the ring', () => {
		const moved = afterChange();
		expect(moved).toMatchObject({ uidValidity: '99', lastUid: 0, backlog: { throughUid: 5, notBefore: NOW - TIME_RULE_SKEW_MS, skipRecent: true } });
	});

	it('never emits old mail or what was already emitted, always new mail', () => {
		const moved = afterChange();
		const rule = moved.backlog!;
		const admits = (messageId: string, internalDate: number) =>
			backlogAdmits(rule, moved.recent, { internalDate, fingerprint: messageFingerprint(messageId, internalDate, 100) });
		expect(admits('<old@x>', NOW - 24 * 3600 * 1000)).toBe(false);
		expect(admits('<a@x>', NOW - 60_000)).toBe(false);
		expect(admits('<b@x>', NOW)).toBe(false);
		// Arrived while the folder was being replaced, a little before the newest one seen: still new.
		expect(admits('<c@x>', NOW - 30_000)).toBe(true);
		expect(admits('<d@x>', NOW + 5_000)).toBe(true);
	});

	it('does not admit messages at or before a forgotten ring entry (cannot tell them apart)', () => {
		const rule = { throughUid: 5, notBefore: NOW - TIME_RULE_SKEW_MS, notThrough: NOW - 1000, skipRecent: true };
		expect(backlogAdmits(rule, [], { internalDate: NOW - 1000, fingerprint: 'z' })).toBe(false);
		expect(backlogAdmits(rule, [], { internalDate: NOW - 999, fingerprint: 'z' })).toBe(true);
		expect(backlogAdmits(rule, [], { internalDate: undefined, fingerprint: 'z' })).toBe(false);
	});

	it('uses the position time when nothing was ever emitted in the folder', () => {
		const fresh = initialCheckpoint({ mode: 'new' }, NOW, MAILBOX);
		expect(repositionForNewUidValidity(fresh, { uidValidity: '99', uidNext: 1 }, NOW + 1).backlog).toMatchObject({
			throughUid: 0,
			notBefore: NOW - TIME_RULE_SKEW_MS,
		});
	});
});

describe('messageFingerprint', () => {
	it('is the Message-ID when there is one, else date and size', () => {
		expect(messageFingerprint('<a@x>', 1, 2)).toBe(messageFingerprint(' <a@x> ', 5, 6));
		expect(messageFingerprint(undefined, 1, 2)).not.toBe(messageFingerprint(undefined, 1, 3));
		expect(messageFingerprint('', 1, 2)).toBe(messageFingerprint(undefined, 1, 2));
		expect(messageFingerprint('<a@x>', 1, 2)).toMatch(/^[0-9a-f]{16}$/);
	});
});

describe('CheckpointStore in n8n static data', () => {
	it('marks n8n\'s observable static data as changed on every write, also for nested checkpoints', () => {
		// As n8n builds it: the workflow's static data, and the node's object inside it.
		const workflowData = ObservableObject.create({} as IDataObject, undefined, { ignoreEmptyOnFirstChild: true });
		workflowData['node:Trigger'] = ObservableObject.create({}, workflowData as Parameters<typeof ObservableObject.create>[1]);
		workflowData.__dataChanged = false;
		const store = new CheckpointStore(workflowData['node:Trigger'] as IDataObject, ACCOUNT);

		store.set('INBOX', initialCheckpoint({ mode: 'new' }, NOW, MAILBOX));
		expect(workflowData.__dataChanged).toBe(true);
		workflowData.__dataChanged = false;
		store.set('INBOX', { ...store.get('INBOX')!, lastUid: 11 });
		expect(workflowData.__dataChanged).toBe(true);
		expect(store.get('INBOX')?.lastUid).toBe(11);
	});

	it('survives a JSON round trip (what n8n stores) and keeps folders apart', () => {
		const data: IDataObject = {};
		const store = new CheckpointStore(data, ACCOUNT);
		store.set('INBOX', initialCheckpoint({ mode: 'new' }, NOW, MAILBOX));
		store.set('Work', initialCheckpoint({ mode: 'new' }, NOW, { uidValidity: '5', uidNext: 3 }));
		const reloaded = new CheckpointStore(JSON.parse(JSON.stringify(data)) as IDataObject, ACCOUNT);
		expect(Object.keys((data.gmailImapTrigger as { folders: IDataObject }).folders)).toEqual(['INBOX', 'Work']);
		expect(reloaded.get('INBOX')).toMatchObject({ uidValidity: MAILBOX.uidValidity });
		expect(reloaded.get('Work')).toMatchObject({ uidValidity: '5', lastUid: 2 });
	});

	it('hands out copies: changing a returned checkpoint does not change the stored one', () => {
		const store = new CheckpointStore({}, ACCOUNT);
		store.set('INBOX', initialCheckpoint({ mode: 'new' }, NOW, MAILBOX));
		const copy = store.get('INBOX')!;
		copy.recent.push('1:x');
		copy.lastUid = 99;
		expect(store.get('INBOX')).toMatchObject({ lastUid: 10, recent: [] });
	});

	it('ignores state of an unknown version instead of misreading it', () => {
		const store = new CheckpointStore({ gmailImapTrigger: { version: 99, folders: { INBOX: { lastUid: 5 } } } }, ACCOUNT);
		expect(store.get('INBOX')).toBeUndefined();
	});

	it('ignores positions saved for another account and replaces them at the first write', () => {
		const data: IDataObject = {};
		new CheckpointStore(data, ACCOUNT).set('INBOX', initialCheckpoint({ mode: 'new' }, NOW, MAILBOX));
		const other = new CheckpointStore(data, checkpointAccountKey({ host: 'imap.gmail.com', port: 993 }, 'someone.else@example.com'));
		expect(other.savedForAnotherAccount).toBe(true);
		expect(other.get('INBOX')).toBeUndefined();
		other.set('Work', initialCheckpoint({ mode: 'new' }, NOW, { uidValidity: '5', uidNext: 3 }));
		expect(other.savedForAnotherAccount).toBe(false);
		expect(Object.keys((data.gmailImapTrigger as { folders: IDataObject }).folders)).toEqual(['Work']);
		// And back: the first account's positions are gone (they were replaced), so it starts afresh too.
		expect(new CheckpointStore(data, ACCOUNT).get('INBOX')).toBeUndefined();
	});

	it('adopts positions saved before the account was recorded, and records it at the next write', () => {
		const data: IDataObject = { gmailImapTrigger: { version: 1, folders: { INBOX: { lastUid: 5, uidValidity: '9', positionedAt: NOW, recent: [] } } } };
		const store = new CheckpointStore(data, ACCOUNT);
		expect(store.savedForAnotherAccount).toBe(false);
		expect(store.get('INBOX')).toMatchObject({ lastUid: 5, uidValidity: '9' });
		store.set('INBOX', { ...store.get('INBOX')!, lastUid: 6 });
		expect(data.gmailImapTrigger).toMatchObject({ account: ACCOUNT, folders: { INBOX: { lastUid: 6 } } });
	});

	it('keys the account by server, port and address only, case-insensitively (no secrets)', () => {
		expect(checkpointAccountKey({ host: 'IMAP.Gmail.com ', port: 993 }, ' User@Example.com')).toBe('imap.gmail.com:993/user@example.com');
		expect(checkpointAccountKey({ host: 'imap.gmail.com', port: 993 }, 'a@x')).not.toBe(checkpointAccountKey({ host: 'imap.gmail.com', port: 143 }, 'a@x'));
	});
});

describe('CheckpointStore: the durable-delivery state', () => {
	it('keeps in-flight runs, retry lists and Gmail ids beside the checkpoints, in the one top-level entry n8n saves', () => {
		const workflowData = ObservableObject.create({} as IDataObject, undefined, { ignoreEmptyOnFirstChild: true });
		workflowData['node:Trigger'] = ObservableObject.create({}, workflowData as Parameters<typeof ObservableObject.create>[1]);
		const data = workflowData['node:Trigger'] as IDataObject;
		const store = new CheckpointStore(data, ACCOUNT);
		store.set('INBOX', initialCheckpoint({ mode: 'new' }, NOW, MAILBOX));
		workflowData.__dataChanged = false;
		store.setInFlight([{ key: 'k1', folder: 'INBOX', uidValidity: '7', uids: [11], emittedAt: NOW }]);
		expect(workflowData.__dataChanged).toBe(true);
		store.setRetries('INBOX', [{ uid: 9, uidValidity: '7', attempts: 1, firstFailedAt: NOW, nextAttemptAt: NOW + 60_000, reason: 'ENOSPC' }]);
		store.setRecentGmailIds(['123', '456']);
		const reloaded = new CheckpointStore(JSON.parse(JSON.stringify(data)) as IDataObject, ACCOUNT);
		expect(reloaded.inFlight()).toEqual([{ key: 'k1', folder: 'INBOX', uidValidity: '7', uids: [11], emittedAt: NOW }]);
		expect(reloaded.retries('INBOX')).toHaveLength(1);
		expect(reloaded.retries('Work')).toEqual([]);
		expect(reloaded.recentGmailIds()).toEqual(['123', '456']);
		expect(reloaded.get('INBOX')?.lastUid).toBe(MAILBOX.uidNext - 1);
		// Emptied lists leave no keys behind.
		store.setInFlight([]);
		store.setRetries('INBOX', []);
		expect(Object.keys(data.gmailImapTrigger as IDataObject).sort()).toEqual(['account', 'folders', 'gmailRecent', 'version']);
	});

	it('ignores malformed entries (hand-edited or foreign static data) instead of acting on them', () => {
		const data: IDataObject = {
			gmailImapTrigger: {
				version: 1,
				account: ACCOUNT,
				folders: {},
				inFlight: [{ key: 'ok', folder: 'INBOX', uidValidity: '7', uids: [1], emittedAt: NOW }, { key: 'bad', uids: ['x'] }, null],
				retries: { INBOX: [{ uid: 'x' }, { uid: 3, uidValidity: '7', attempts: 1 }] },
				gmailRecent: ['1', 2],
			},
		};
		const store = new CheckpointStore(data, ACCOUNT);
		expect(store.inFlight().map((entry) => entry.key)).toEqual(['ok']);
		expect(store.retries('INBOX').map((entry) => entry.uid)).toEqual([3]);
		expect(store.recentGmailIds()).toEqual(['1']);
		// Another account's state is not used at all.
		expect(new CheckpointStore(data, 'other:993/x').inFlight()).toEqual([]);
	});

	it('snapshot and restore put back exactly what was there (an emit that threw)', () => {
		const data: IDataObject = {};
		const store = new CheckpointStore(data, ACCOUNT);
		store.set('INBOX', initialCheckpoint({ mode: 'new' }, NOW, MAILBOX));
		const before = JSON.stringify(data);
		const snapshot = store.snapshot();
		store.set('INBOX', { ...store.get('INBOX')!, lastUid: 99 });
		store.setInFlight([{ key: 'k', folder: 'INBOX', uidValidity: '7', uids: [99], emittedAt: NOW }]);
		store.restore(snapshot);
		expect(JSON.stringify(data)).toBe(before);
		const empty = new CheckpointStore({}, ACCOUNT);
		const nothing = empty.snapshot();
		empty.set('INBOX', initialCheckpoint({ mode: 'new' }, NOW, MAILBOX));
		empty.restore(nothing);
		expect(empty.get('INBOX')).toBeUndefined();
	});
});
