/**
 * Gmail shows a message with two labels in two folders, under different UIDs. When both are watched, the message must
 * start one run, not two: the X-GM-MSGIDs emitted recently from any watched folder are remembered (stored with the
 * checkpoints, bounded), and a message whose id is among them is passed over.
 */
import type { CheckpointStorage } from './config';

/** How many ids are remembered: enough for the same message to show up in the other folders' next passes. */
export const GMAIL_RECENT_SIZE = 500;

export class GmailSeen {
	constructor(
		private readonly storage: Pick<CheckpointStorage, 'recentGmailIds' | 'setRecentGmailIds'>,
		/** Only on Gmail, and only when more than one folder is watched. */
		private readonly active: () => boolean,
	) {}

	has(id: string | undefined): boolean {
		return id !== undefined && this.active() && this.storage.recentGmailIds().includes(id);
	}

	/** Called right before the emit that carries these messages (so they are stored with its checkpoint). */
	add(ids: ReadonlyArray<string | undefined>): void {
		if (!this.active()) return;
		const fresh = ids.filter((id): id is string => id !== undefined);
		if (fresh.length === 0) return;
		const kept = this.storage.recentGmailIds().filter((id) => !fresh.includes(id));
		this.storage.setRecentGmailIds([...kept, ...fresh].slice(-GMAIL_RECENT_SIZE));
	}
}
