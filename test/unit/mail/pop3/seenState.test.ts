import * as crypto from 'node:crypto';

import { type ListingEntry, sameSeenState, SeenTracker, type StoredSeenState } from '../../../../nodes/mail/pop3/seenState';

const ACCOUNT = 'pop.example.com:995/user@example.com';

/** A listing of the given UIDLs, numbered 1..n in order, as a server shows its maildrop. */
function listing(uidls: string[]): ListingEntry[] {
	return uidls.map((uidl, index) => ({ messageNumber: index + 1, uidl, size: 100 + index }));
}

function load(state: unknown): SeenTracker {
	return SeenTracker.load(state, ACCOUNT).tracker;
}

describe('SeenTracker: loading what static data holds', () => {
	it('starts empty without a record, and discards an unreadable one or one kept for another account', () => {
		expect(SeenTracker.load(undefined, ACCOUNT).discarded).toBeUndefined();
		expect(SeenTracker.load({ version: 2, uidls: [] }, ACCOUNT).discarded).toMatch(/unreadable/);
		expect(SeenTracker.load({ version: 1, account: ACCOUNT, uidls: [1, 2] }, ACCOUNT).discarded).toMatch(/unreadable/);
		expect(SeenTracker.load('garbage', ACCOUNT).discarded).toMatch(/unreadable/);
		const foreign = SeenTracker.load({ version: 1, account: 'other:995/x@y.z', uidls: ['a'] }, ACCOUNT);
		expect(foreign.discarded).toMatch(/another account/);
		expect(foreign.tracker.observe(listing(['a'])).unseen.map((entry) => entry.uidl)).toEqual(['a']);
	});

	it('uses a record kept under one of the account\'s former keys and stores it under the current key', () => {
		const former = 'POP.Example.com:995/Me@Example.com';
		const loaded = SeenTracker.load({ version: 1, account: former, uidls: ['a'] }, ACCOUNT, [former]);
		expect(loaded.discarded).toBeUndefined();
		expect(loaded.tracker.observe(listing(['a', 'b'])).unseen.map((entry) => entry.uidl)).toEqual(['b']);
		expect(loaded.tracker.compact(1000).state.account).toBe(ACCOUNT);
	});
});

describe('SeenTracker: what is new, and the record to store', () => {
	it('lists unseen messages oldest first, whatever order the listing came in', () => {
		const tracker = load({ version: 1, account: ACCOUNT, uidls: ['b'] });
		const entries = listing(['a', 'b', 'c']).reverse();
		expect(tracker.observe(entries).unseen.map((entry) => entry.uidl)).toEqual(['a', 'c']);
	});

	it('keeps only UIDLs still on the server, and drops those whose deletion was confirmed', () => {
		const tracker = load({ version: 1, account: ACCOUNT, uidls: ['gone', 'a', 'b'] });
		tracker.observe(listing(['a', 'b', 'c', 'd']));
		tracker.markSeen('c');
		tracker.markSeen('d', { deletionPending: true });
		tracker.confirmDeleted(['b']);
		expect(tracker.compact().state).toEqual({ version: 1, account: ACCOUNT, uidls: ['a', 'c', 'd'], pendingDelete: ['d'] });
	});

	it('reports messages whose deletion was never confirmed, and forgets them when asked to', () => {
		const tracker = load({ version: 1, account: ACCOUNT, uidls: ['a', 'b'], pendingDelete: ['a', 'vanished'] });
		const observed = tracker.observe(listing(['a', 'b', 'c']));
		expect(observed.awaitingDeletion.map((entry) => entry.uidl)).toEqual(['a']);
		expect(observed.unseen.map((entry) => entry.uidl)).toEqual(['c']);
		expect(tracker.compact().state.pendingDelete).toEqual(['a']);
		tracker.forgetPendingDeletions();
		expect(tracker.compact().state.pendingDelete).toBeUndefined();
	});

	it('without any listing in the run, returns the stored record unchanged', () => {
		const stored: StoredSeenState = { version: 1, account: ACCOUNT, uidls: ['x', 'y'], marker: ['w'], pendingDelete: ['y'] };
		const result = load(stored).compact();
		expect(result.state).toEqual(stored);
		expect(sameSeenState(stored, result.state)).toBe(true);
	});

	it('past the cap, folds the oldest fetched run into a marker; a fresh tracker from that record sees the same', () => {
		const uidls = Array.from({ length: 250 }, (_value, index) => `m${index + 1}`);
		const tracker = load(undefined);
		tracker.observe(listing(uidls));
		for (const uidl of uidls.slice(0, 240)) tracker.markSeen(uidl);
		const { state, dropped, markerLost } = tracker.compact(100);
		expect(dropped).toBe(0);
		expect(markerLost).toBe(false);
		expect(state.uidls).toEqual([]);
		expect(state.marker).toEqual(uidls.slice(232, 240));
		expect(load(state).observe(listing(uidls)).unseen.map((entry) => entry.uidl)).toEqual(uidls.slice(240));
	});

	it('a fetched message after one that failed cannot be folded: beyond the cap the oldest of them are dropped (reported)', () => {
		const uidls = Array.from({ length: 300 }, (_value, index) => `m${index + 1}`);
		const tracker = load(undefined);
		tracker.observe(listing(uidls));
		for (const uidl of uidls) if (uidl !== 'm10') tracker.markSeen(uidl);
		const { state, dropped } = tracker.compact(100);
		expect(state.marker).toEqual(uidls.slice(1, 9));
		expect(state.uidls).toEqual(uidls.slice(200));
		expect(dropped).toBe(190);
	});

	it('the marker survives deletion of its newest messages, and says so when all of them are gone', () => {
		const uidls = Array.from({ length: 20 }, (_value, index) => `m${index + 1}`);
		const state: StoredSeenState = { version: 1, account: ACCOUNT, uidls: [], marker: uidls.slice(4, 12) };
		// m9..m12 deleted by another client: m1..m8 are still covered by m8.
		const remaining = uidls.filter((uidl) => !['m9', 'm10', 'm11', 'm12'].includes(uidl));
		const tracker = load(state);
		expect(tracker.observe(listing(remaining)).unseen.map((entry) => entry.uidl)).toEqual(uidls.slice(12));
		expect(tracker.compact().state.marker).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8']);

		const orphan = load(state);
		orphan.observe(listing(uidls.filter((uidl) => !uidls.slice(4, 12).includes(uidl))));
		expect(orphan.compact().markerLost).toBe(true);
	});
});

/**
 * A simulated mailbox over many runs: mail arrives, other clients delete some, runs fetch with a limit and sometimes
 * fail part-way (nothing committed), and the record is stored as JSON between runs with a small cap. Invariant: no
 * message is ever returned twice, and every message that stays on the server long enough is returned.
 */
describe('SeenTracker over many simulated runs', () => {
	it.each([1, 2, 3, 4, 5])('returns each message exactly once (seed %i)', (seed) => {
		let random = seed;
		const next = (bound: number) => {
			random = (random * 1103515245 + 12345) % 2 ** 31;
			return random % bound;
		};
		let mailbox: string[] = [];
		let stored: unknown;
		const returned = new Map<string, number>();
		let serial = 0;
		let emptied = false;
		let markerUsed = 0;
		for (let run = 0; run < 300; run++) {
			for (let count = next(12); count > 0; count--) mailbox.push(`u${++serial}-${crypto.randomBytes(2).toString('hex')}`);
			// Another client deletes a few messages, never the newest ones the run has not returned yet.
			if (next(4) === 0 && mailbox.length > 10) {
				const victim = next(Math.floor(mailbox.length / 2));
				if (returned.has(mailbox[victim])) mailbox.splice(victim, 1);
			}
			const tracker = load(stored);
			const { unseen } = tracker.observe(listing(mailbox));
			const batch = unseen.slice(0, 1 + next(30));
			const fails = next(10) === 0;
			for (const entry of batch) tracker.markSeen(entry.uidl);
			if (fails) continue; // nothing stored, the items were thrown away with the run
			for (const entry of batch) returned.set(entry.uidl, (returned.get(entry.uidl) ?? 0) + 1);
			const { state, markerLost, dropped } = tracker.compact(100);
			// Losing the marker is expected only when the folded messages are gone anyway.
			if (markerLost) expect(emptied).toBe(true);
			emptied = false;
			expect(dropped).toBe(0);
			expect(state.uidls.length).toBeLessThanOrEqual(100);
			if (state.marker) markerUsed++;
			stored = JSON.parse(JSON.stringify(state));
			// Now and then the user empties most of the mailbox.
			if (next(50) === 0) {
				mailbox = mailbox.slice(-5);
				emptied = true;
			}
		}
		expect([...returned.values()].every((times) => times === 1)).toBe(true);
		const final = load(stored).observe(listing(mailbox)).unseen;
		for (const uidl of mailbox) expect(returned.has(uidl) || final.some((entry) => entry.uidl === uidl)).toBe(true);
		expect(returned.size).toBeGreaterThan(1000);
		// The cap was exceeded, so the position marker carried part of the record.
		expect(markerUsed).toBeGreaterThan(10);
	});
});
