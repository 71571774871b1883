import { createHash } from 'node:crypto';

/**
 * Where the trigger stands in each watched folder (pure: stored by the caller). The checkpoint of a message is set
 * just BEFORE the emit that carries it; UIDs count only with their folder's UIDVALIDITY, and when that changes the
 * rule falls back to time: see {@link repositionForNewUidValidity}.
 */

/** Tolerance for clock differences and for INTERNALDATEs that are not in strict UID order. */
export const TIME_RULE_SKEW_MS = 5 * 60 * 1000;
/** How many recently emitted messages are remembered per folder (bounded: static data is rewritten on every emit). */
export const RECENT_RING_SIZE = 100;

export interface BacklogRule {
	/**
	 * Messages with UIDs up to this one existed before the watch started (or before a UIDVALIDITY change) and are
	 * judged by the extra conditions below. Undefined until the first connection tells the server's UIDNEXT.
	 */
	throughUid?: number;
	/** Only unread messages of the backlog. */
	unseenOnly?: boolean;
	/** Only backlog messages whose INTERNALDATE is at or after this time (epoch ms). */
	notBefore?: number;
	/** Skip backlog messages whose INTERNALDATE is at or before this time (epoch ms): they may have been forgotten. */
	notThrough?: number;
	/** Skip backlog messages whose fingerprint is in the recent ring (already emitted under the old UIDVALIDITY). */
	skipRecent?: boolean;
}

export interface FolderCheckpoint {
	/** UIDVALIDITY as a decimal string (it is a 32-bit unsigned value; imapflow gives a bigint). Undefined: not yet known. */
	uidValidity?: string;
	/** Highest UID already judged: emitted, or checked and not matching the filters. */
	lastUid: number;
	/** When this position was taken (local clock, epoch ms). */
	positionedAt: number;
	/** Newest INTERNALDATE (server clock, epoch ms) among the emitted messages. */
	newestEmittedAt?: number;
	/** Ring of recently emitted messages, `<internalDate ms>:<fingerprint>`, sorted by time, oldest first. */
	recent: string[];
	/** Newest INTERNALDATE that had to be dropped from the full ring (messages at or before it cannot be told apart). */
	forgottenThrough?: number;
	backlog?: BacklogRule;
	/**
	 * How many times the folder went back to UIDs already seen under the same UIDVALIDITY (a server restored from a
	 * backup). Part of the deduplication key, so a new message under a reused UID is not taken for the old one.
	 */
	generation?: number;
}

export type StartPosition =
	| { mode: 'new' }
	| { mode: 'unread' }
	| { mode: 'since'; since: number };

/** The identity of a message that survives a folder being recreated: its Message-ID, else date and size. */
export function messageFingerprint(messageId: string | undefined, internalDate: number | undefined, size: number | undefined): string {
	const basis = messageId?.trim() ? `mid:${messageId.trim()}` : `date:${internalDate ?? ''}|size:${size ?? ''}`;
	return createHash('sha256').update(basis).digest('hex').slice(0, 16);
}

/** A new checkpoint for a folder seen for the first time. `mailbox` is undefined when the server could not be asked. */
export function initialCheckpoint(
	start: StartPosition,
	now: number,
	mailbox?: { uidValidity: string; uidNext: number },
): FolderCheckpoint {
	const base: FolderCheckpoint = { lastUid: 0, positionedAt: now, recent: [] };
	const throughUid = mailbox ? Math.max(0, mailbox.uidNext - 1) : undefined;
	if (mailbox) base.uidValidity = mailbox.uidValidity;

	switch (start.mode) {
		case 'new':
			if (mailbox) return { ...base, lastUid: throughUid ?? 0 };
			// Without the server we cannot know where "now" is in UIDs: take what arrives from now on by INTERNALDATE.
			return { ...base, backlog: { notBefore: now - TIME_RULE_SKEW_MS } };
		case 'unread':
			return { ...base, backlog: { throughUid, unseenOnly: true } };
		case 'since':
			return { ...base, backlog: { throughUid, notBefore: start.since } };
	}
}

/**
 * The UIDVALIDITY rule. Old UIDs are meaningless in the new folder, so every message in it is judged again, but a
 * message counts only when (1) its INTERNALDATE is no older than the newest message already emitted minus a skew
 * (so old mail is never emitted again, and mail that arrived while the folder was replaced is not missed), and (2)
 * its fingerprint is not in the ring of recently emitted messages (so the messages inside the skew window that were
 * already emitted are not emitted twice). Messages restored into the new folder with older dates are treated as old.
 */
export function repositionForNewUidValidity(
	previous: FolderCheckpoint,
	mailbox: { uidValidity: string; uidNext: number },
	now: number,
): FolderCheckpoint {
	const reference = previous.newestEmittedAt ?? previous.positionedAt;
	return {
		uidValidity: mailbox.uidValidity,
		lastUid: 0,
		positionedAt: now,
		generation: previous.generation,
		newestEmittedAt: previous.newestEmittedAt,
		recent: [...previous.recent],
		forgottenThrough: previous.forgottenThrough,
		backlog: {
			throughUid: Math.max(0, mailbox.uidNext - 1),
			notBefore: reference - TIME_RULE_SKEW_MS,
			notThrough: previous.forgottenThrough,
			skipRecent: true,
			// An unread-only start that had not finished keeps its condition.
			unseenOnly: previous.backlog?.unseenOnly,
		},
	};
}

/** Fills in the parts of a checkpoint that need the server (first connection after a position taken offline). */
export function resolveUnknownPosition(
	checkpoint: FolderCheckpoint,
	mailbox: { uidValidity: string; uidNext: number },
): FolderCheckpoint {
	const next: FolderCheckpoint = { ...checkpoint, uidValidity: mailbox.uidValidity };
	if (checkpoint.backlog && checkpoint.backlog.throughUid === undefined) {
		next.backlog = { ...checkpoint.backlog, throughUid: Math.max(0, mailbox.uidNext - 1) };
	}
	return next;
}

/** Is this backlog message one to judge by the user's filters (true), or to pass over (false)? */
export function backlogAdmits(
	rule: BacklogRule,
	recent: readonly string[],
	message: { internalDate?: number; fingerprint: string },
): boolean {
	const date = message.internalDate;
	if (rule.notBefore !== undefined && (date === undefined || date < rule.notBefore)) return false;
	if (rule.notThrough !== undefined && (date === undefined || date <= rule.notThrough)) return false;
	if (rule.skipRecent && recent.some((entry) => entry.endsWith(`:${message.fingerprint}`))) return false;
	return true;
}

/**
 * The checkpoint after judging one message. With `internalDate` it was emitted and joins the ring (bounded, sorted by
 * time); without, it was filtered out or vanished and only moves `lastUid`.
 */
export function afterJudging(
	checkpoint: FolderCheckpoint,
	message: { uid: number; internalDate?: number; fingerprint: string },
): FolderCheckpoint {
	const next: FolderCheckpoint = { ...checkpoint, lastUid: Math.max(checkpoint.lastUid, message.uid) };
	if (next.backlog?.throughUid !== undefined && next.lastUid >= next.backlog.throughUid) delete next.backlog;
	if (message.internalDate === undefined) return next;

	next.newestEmittedAt = Math.max(checkpoint.newestEmittedAt ?? message.internalDate, message.internalDate);
	const entry = `${message.internalDate}:${message.fingerprint}`;
	// Once per emitted message: a plain loop, not a filter with a closure (a few µs per message in a catch-up).
	const suffix = `:${message.fingerprint}`;
	const entries: string[] = [];
	for (const existing of checkpoint.recent) if (!existing.endsWith(suffix)) entries.push(existing);
	// Usually the newest: insert from the end to keep the ring sorted by time.
	let position = entries.length;
	while (position > 0 && entryTime(entries[position - 1]) > message.internalDate) position--;
	entries.splice(position, 0, entry);
	// Entries older than the time rule's window can never be consulted again.
	const windowStart = next.newestEmittedAt - TIME_RULE_SKEW_MS;
	let forgotten = checkpoint.forgottenThrough;
	let drop = 0;
	while (drop < entries.length && (entries.length - drop > RECENT_RING_SIZE || entryTime(entries[drop]) < windowStart)) {
		const dropped = entryTime(entries[drop]);
		if (dropped >= windowStart) forgotten = Math.max(forgotten ?? dropped, dropped);
		drop++;
	}
	if (drop > 0) entries.splice(0, drop);
	next.recent = entries;
	if (forgotten !== undefined) next.forgottenThrough = forgotten;
	return next;
}

function entryTime(entry: string): number {
	return Number(entry.slice(0, entry.indexOf(':')));
}
