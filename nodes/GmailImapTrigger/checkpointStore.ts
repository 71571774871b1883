/** The trigger's positions in n8n's workflow static data (format: { version: 1, account, folders }). */
import type { IDataObject } from 'n8n-workflow';

import type { FolderCheckpoint } from '../mail/imap/checkpoint';
import type { CheckpointStorage } from '../mail/imap/watcher';

const STATE_KEY = 'gmailImapTrigger';
const STATE_VERSION = 1;

interface StoredState {
	version: number;
	/** checkpointAccountKey() of the account the positions belong to; absent in data saved by earlier versions. */
	account?: string;
	folders: Record<string, FolderCheckpoint>;
}

/** Which mailbox a stored position belongs to (server, port, address): positions of another account are not used. */
export { mailAccountKey as checkpointAccountKey } from '../mail/connection';

/**
 * Reads and writes the checkpoints in n8n's node static data. n8n observes that object with a Proxy that notices
 * only assignments to its own keys (not to objects nested inside it that were created later), so every write
 * replaces the whole top-level entry: that is what marks the static data as changed and gets it saved.
 *
 * The state carries the account it belongs to. When the credential now points to another account, the stored
 * positions are ignored (every folder starts as on a first activation) and replaced at the first write. State saved
 * before the account was recorded is taken as this account's, and gets the key at the next write.
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
		return stored ? cloneCheckpoint(stored) : undefined;
	}

	set(folder: string, checkpoint: FolderCheckpoint): void {
		// Checkpoints are never modified in place (every change makes a new object), so the other folders' entries
		// can be shared with the previous state; only the one written is copied away from the caller.
		const folders: Record<string, FolderCheckpoint> = { ...this.read().folders };
		folders[folder] = copyCheckpoint(checkpoint);
		const state: StoredState = { version: STATE_VERSION, account: this.account, folders };
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

function copyCheckpoint(checkpoint: FolderCheckpoint): FolderCheckpoint {
	const copy: FolderCheckpoint = { ...checkpoint, recent: [...checkpoint.recent] };
	if (checkpoint.backlog) copy.backlog = { ...checkpoint.backlog };
	return copy;
}

function cloneCheckpoint(checkpoint: FolderCheckpoint): FolderCheckpoint {
	// JSON round trip: static data holds plain JSON, and copies must not share arrays with the observed object.
	return JSON.parse(JSON.stringify(checkpoint)) as FolderCheckpoint;
}
