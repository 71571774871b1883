/**
 * The trigger's state in n8n's workflow static data (format: { version: 1, account, folders, inFlight?, retries?,
 * gmailRecent? }; the last three were added without a version change: older data simply lacks them).
 */
import type { IDataObject } from 'n8n-workflow';

import type { FolderCheckpoint } from '../mail/imap/checkpoint';
import type { CheckpointStorage } from '../mail/imap/watcher';
import type { InFlightDelivery, RetryEntry } from '../mail/imap/watcher';

const STATE_KEY = 'gmailImapTrigger';
const STATE_VERSION = 1;

interface StoredState {
	version: number;
	/** checkpointAccountKey() of the account the positions belong to; absent in data saved by earlier versions. */
	account?: string;
	folders: Record<string, FolderCheckpoint>;
	/** Runs emitted and not reported finished (durable delivery). */
	inFlight?: InFlightDelivery[];
	/** Per folder: messages waiting to be tried again. */
	retries?: Record<string, RetryEntry[]>;
	/** Gmail: X-GM-MSGIDs emitted recently from any watched folder. */
	gmailRecent?: string[];
}

/** Which mailbox a stored position belongs to (server, port, address): positions of another account are not used. */
export { mailAccountKey as checkpointAccountKey } from '../mail/connection';

/**
 * Reads and writes the state in n8n's node static data. n8n observes that object with a Proxy that notices only
 * assignments to its own keys (not to objects nested inside it that were created later), so every write replaces the
 * whole top-level entry: that is what marks the static data as changed and gets it saved — together with everything
 * else written before the same emit.
 *
 * The state carries the account it belongs to. When the credential now points to another account, the stored state
 * is ignored (every folder starts as on a first activation) and replaced at the first write. State saved before the
 * account was recorded is taken as this account's, and gets the key at the next write.
 */
export class CheckpointStore implements CheckpointStorage {
	constructor(
		private readonly staticData: IDataObject,
		private readonly account: string,
	) {}

	/** True when the saved positions belong to another account (the credential was changed): they are not used. */
	get savedForAnotherAccount(): boolean {
		const state = this.validState();
		return state?.account !== undefined && state.account !== this.account;
	}

	get(folder: string): FolderCheckpoint | undefined {
		const stored = this.read().folders[folder];
		return stored ? clone(stored) : undefined;
	}

	set(folder: string, checkpoint: FolderCheckpoint): void {
		// Checkpoints are never modified in place (every change makes a new object), so the other folders' entries
		// can be shared with the previous state; only the one written is copied away from the caller.
		this.write((state) => {
			state.folders = { ...state.folders, [folder]: copyCheckpoint(checkpoint) };
		});
	}

	inFlight(): InFlightDelivery[] {
		const list = this.read().inFlight;
		return Array.isArray(list) ? clone(list.filter(isDelivery)) : [];
	}

	setInFlight(deliveries: InFlightDelivery[]): void {
		this.write((state) => {
			if (deliveries.length > 0) state.inFlight = clone(deliveries);
			else delete state.inFlight;
		});
	}

	retries(folder: string): RetryEntry[] {
		const list = this.read().retries?.[folder];
		return Array.isArray(list) ? clone(list.filter(isRetryEntry)) : [];
	}

	setRetries(folder: string, entries: RetryEntry[]): void {
		this.write((state) => {
			const retries = { ...(state.retries ?? {}) };
			if (entries.length > 0) retries[folder] = clone(entries);
			else delete retries[folder];
			if (Object.keys(retries).length > 0) state.retries = retries;
			else delete state.retries;
		});
	}

	recentGmailIds(): string[] {
		const list = this.read().gmailRecent;
		return Array.isArray(list) ? list.filter((id): id is string => typeof id === 'string') : [];
	}

	setRecentGmailIds(ids: string[]): void {
		this.write((state) => {
			if (ids.length > 0) state.gmailRecent = [...ids];
			else delete state.gmailRecent;
		});
	}

	/** The state object itself: every write replaces it whole and never changes it in place, so it is a snapshot. */
	snapshot(): unknown {
		return this.staticData[STATE_KEY] as unknown;
	}

	restore(snapshot: unknown): void {
		if (snapshot === undefined) delete this.staticData[STATE_KEY];
		else this.staticData[STATE_KEY] = snapshot as IDataObject;
	}

	private write(change: (state: StoredState) => void): void {
		const state: StoredState = { ...this.read(), version: STATE_VERSION, account: this.account };
		change(state);
		this.staticData[STATE_KEY] = state as unknown as IDataObject;
	}

	private read(): StoredState {
		const state = this.validState();
		if (!state || (state.account !== undefined && state.account !== this.account)) {
			return { version: STATE_VERSION, account: this.account, folders: {} };
		}
		return state;
	}

	private validState(): StoredState | undefined {
		const value = this.staticData[STATE_KEY] as unknown;
		if (!value || typeof value !== 'object') return undefined;
		const state = value as Partial<StoredState>;
		if (state.version !== STATE_VERSION || !state.folders || typeof state.folders !== 'object') return undefined;
		return state as StoredState;
	}
}

function isDelivery(value: unknown): value is InFlightDelivery {
	const delivery = value as Partial<InFlightDelivery> | null;
	return (
		!!delivery &&
		typeof delivery.key === 'string' &&
		typeof delivery.folder === 'string' &&
		typeof delivery.uidValidity === 'string' &&
		Array.isArray(delivery.uids) &&
		delivery.uids.every((uid) => Number.isInteger(uid) && uid > 0)
	);
}

function isRetryEntry(value: unknown): value is RetryEntry {
	const entry = value as Partial<RetryEntry> | null;
	return !!entry && Number.isInteger(entry.uid) && typeof entry.uidValidity === 'string' && typeof entry.attempts === 'number';
}

function copyCheckpoint(checkpoint: FolderCheckpoint): FolderCheckpoint {
	const copy: FolderCheckpoint = { ...checkpoint, recent: [...checkpoint.recent] };
	if (checkpoint.backlog) copy.backlog = { ...checkpoint.backlog };
	return copy;
}

function clone<T>(value: T): T {
	// JSON round trip: static data holds plain JSON, and copies must not share arrays with the observed object.
	return JSON.parse(JSON.stringify(value)) as T;
}
