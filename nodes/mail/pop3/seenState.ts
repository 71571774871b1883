/**
 * Which POP3 messages "Get Many" has already returned (their UIDLs), kept in the node's static data between runs.
 * Bounded: cut to the UIDLs still on the server after every run; past `cap`, the oldest fetched run is folded into a
 * position marker (relies on arrival-order listings; `markerLost` says when it vanished). Pure: no server here.
 */

/** One message as listed in a session: UIDL and LIST joined on the message number. */
export interface ListingEntry {
	messageNumber: number;
	uidl: string;
	/** Octets, as LIST reports them. */
	size: number;
}

/** The JSON kept in static data. `account` ties the record to one mailbox: another account starts afresh. */
export interface StoredSeenState {
	version: 1;
	account: string;
	/** UIDLs returned before and still on the server at the end of the last run, oldest first. */
	uidls: string[];
	/** The newest UIDLs of the folded run (oldest first); absent while everything fits in `uidls`. */
	marker?: string[];
	/**
	 * UIDLs returned with "delete after download" whose deletion the server never confirmed (QUIT failed or the run
	 * ended early). The next run with deletion on deletes them without returning them again.
	 */
	pendingDelete?: string[];
}

export const DEFAULT_SEEN_CAP = 10_000;
export const MIN_SEEN_CAP = 100;
/**
 * The most "Remember Up To" accepts. The record lives in the workflow's static data, which n8n writes whole to its
 * database after every production run: 100,000 UIDLs are 2-7 MB of JSON (Gmail's UIDLs are about 20 characters,
 * RFC 1939 allows 70), already a heavy write per run; past that the position marker does the remembering.
 */
export const MAX_SEEN_CAP = 100_000;
/** UIDLs kept in the marker: the marker survives this many of its newest messages being deleted by someone else. */
const MARKER_SIZE = 8;

export interface CompactResult {
	state: StoredSeenState;
	/** The marker was set but none of its UIDLs is on the server any more (see module comment). */
	markerLost: boolean;
	/** Remembered UIDLs dropped because even after folding there were more than `cap` (they may be returned again). */
	dropped: number;
}

export interface LoadResult {
	tracker: SeenTracker;
	/** Why the stored record was not used (unreadable, or kept for another account); undefined when it was. */
	discarded?: string;
}

export class SeenTracker {
	private readonly known: Set<string>;
	private marker: string[];
	private readonly pendingDelete: Set<string>;
	private readonly confirmedDeleted = new Set<string>();
	private lastListing: ListingEntry[] | undefined;

	private constructor(
		readonly account: string,
		state: Partial<StoredSeenState>,
	) {
		this.known = new Set(state.uidls ?? []);
		this.marker = [...(state.marker ?? [])];
		this.pendingDelete = new Set(state.pendingDelete ?? []);
	}

	static empty(account: string): SeenTracker {
		return new SeenTracker(account, {});
	}

	/**
	 * Reads what static data holds; anything unreadable, or kept for another account, starts an empty record.
	 * `formerKeys`: keys earlier versions gave this same account; such a record is used and saved under `account`.
	 */
	static load(raw: unknown, account: string, formerKeys: readonly string[] = []): LoadResult {
		if (raw === undefined || raw === null) return { tracker: SeenTracker.empty(account) };
		const state = raw as Partial<StoredSeenState>;
		const isStringArray = (value: unknown): value is string[] =>
			Array.isArray(value) && value.every((entry) => typeof entry === 'string');
		const readable =
			typeof raw === 'object' &&
			state.version === 1 &&
			typeof state.account === 'string' &&
			isStringArray(state.uidls) &&
			(state.marker === undefined || isStringArray(state.marker)) &&
			(state.pendingDelete === undefined || isStringArray(state.pendingDelete));
		if (!readable) {
			return { tracker: SeenTracker.empty(account), discarded: 'the stored record of fetched messages is unreadable' };
		}
		if (state.account !== account && !formerKeys.includes(state.account as string)) {
			return {
				tracker: SeenTracker.empty(account),
				discarded: 'the stored record of fetched messages belongs to another account or server',
			};
		}
		return { tracker: new SeenTracker(account, state) };
	}

	/**
	 * Takes the session's current listing (call before deciding what is new, once per listing) and returns the
	 * messages not returned before, oldest first, and the messages still waiting for deletion.
	 */
	observe(listing: readonly ListingEntry[]): { unseen: ListingEntry[]; awaitingDeletion: ListingEntry[] } {
		const ordered = [...listing].sort((a, b) => a.messageNumber - b.messageNumber);
		this.lastListing = ordered;
		const markerPosition = this.markerPosition(ordered);
		return {
			unseen: ordered.filter((entry) => !this.isSeen(entry, markerPosition)),
			awaitingDeletion: ordered.filter((entry) => this.pendingDelete.has(entry.uidl)),
		};
	}

	/** Call once the message's item exists. `deletionPending`: it will be deleted, but only a clean QUIT confirms it. */
	markSeen(uidl: string, options: { deletionPending?: boolean } = {}): void {
		this.known.add(uidl);
		if (options.deletionPending) this.pendingDelete.add(uidl);
	}

	/** The server confirmed (QUIT +OK) that these messages are gone. */
	confirmDeleted(uidls: Iterable<string>): void {
		for (const uidl of uidls) {
			this.confirmedDeleted.add(uidl);
			this.pendingDelete.delete(uidl);
		}
	}

	/** Stops retrying deletions (the user turned "delete after download" off). */
	forgetPendingDeletions(): void {
		this.pendingDelete.clear();
	}

	/**
	 * The record to store after the run: cut to what the last listing still shows (minus confirmed deletions),
	 * folded into the marker if over `cap`. Without any listing in this run, the stored record is returned unchanged.
	 */
	compact(cap: number = DEFAULT_SEEN_CAP): CompactResult {
		const limit = Math.max(MIN_SEEN_CAP, Math.floor(cap));
		if (!this.lastListing) {
			return { state: this.stateOf([...this.known], this.marker, [...this.pendingDelete]), markerLost: false, dropped: 0 };
		}
		const ordered = this.lastListing.filter((entry) => !this.confirmedDeleted.has(entry.uidl));
		const markerLost = this.marker.length > 0 && this.markerPosition(ordered) === undefined;
		let markerPosition = this.markerPosition(ordered) ?? 0;

		let explicit = ordered.filter((entry) => entry.messageNumber > markerPosition && this.known.has(entry.uidl));
		if (explicit.length > limit) {
			// Extend the folded run over every fetched message up to the first one not fetched yet.
			const firstUnseen = ordered.find((entry) => entry.messageNumber > markerPosition && !this.known.has(entry.uidl));
			const foldedUpTo = firstUnseen ? firstUnseen.messageNumber - 1 : Number.MAX_SAFE_INTEGER;
			markerPosition = Math.max(markerPosition, Math.min(foldedUpTo, ordered[ordered.length - 1]?.messageNumber ?? 0));
			explicit = explicit.filter((entry) => entry.messageNumber > markerPosition);
		}
		let dropped = 0;
		if (explicit.length > limit) {
			// Fetched messages after a message that was never fetched (it failed) cannot be folded; keep the newest.
			dropped = explicit.length - limit;
			explicit = explicit.slice(dropped);
		}
		// Refresh the marker from the listing so deletions among its UIDLs do not wear it away.
		const covered = ordered.filter((entry) => entry.messageNumber <= markerPosition);
		const marker = covered.slice(-MARKER_SIZE).map((entry) => entry.uidl);
		const onServer = new Set(ordered.map((entry) => entry.uidl));
		const pending = [...this.pendingDelete].filter((uidl) => onServer.has(uidl)).slice(-limit);
		return {
			state: this.stateOf(
				explicit.map((entry) => entry.uidl),
				marker,
				pending,
			),
			markerLost,
			dropped,
		};
	}

	private stateOf(uidls: string[], marker: string[], pendingDelete: string[]): StoredSeenState {
		const state: StoredSeenState = { version: 1, account: this.account, uidls };
		if (marker.length > 0) state.marker = marker;
		if (pendingDelete.length > 0) state.pendingDelete = pendingDelete;
		return state;
	}

	private isSeen(entry: ListingEntry, markerPosition: number | undefined): boolean {
		return this.known.has(entry.uidl) || (markerPosition !== undefined && entry.messageNumber <= markerPosition);
	}

	/** The message number of the newest marker UIDL in this listing; undefined without a marker or when it is gone. */
	private markerPosition(ordered: readonly ListingEntry[]): number | undefined {
		if (this.marker.length === 0) return undefined;
		const marker = new Set(this.marker);
		let position: number | undefined;
		for (const entry of ordered) if (marker.has(entry.uidl)) position = entry.messageNumber;
		return position;
	}
}

/** True when two records hold the same content (so an unchanged record is not written back to static data). */
export function sameSeenState(a: StoredSeenState | undefined, b: StoredSeenState): boolean {
	if (!a) return false;
	const same = (x: readonly string[] | undefined, y: readonly string[] | undefined) =>
		(x ?? []).length === (y ?? []).length && (x ?? []).every((value, index) => value === (y ?? [])[index]);
	return (
		a.version === b.version &&
		a.account === b.account &&
		same(a.uidls, b.uidls) &&
		same(a.marker, b.marker) &&
		same(a.pendingDelete, b.pendingDelete)
	);
}
