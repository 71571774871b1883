/** Pure judgment of a folder's pending messages: UIDVALIDITY rule, filter searches, backlog and size rules, checkpoint moves. */
import type { FetchMessageObject, SearchObject } from 'imapflow';

import type { FolderCheckpoint, StartPosition } from '../checkpoint';
import {
	TIME_RULE_SKEW_MS,
	afterJudging,
	backlogAdmits,
	initialCheckpoint,
	messageFingerprint,
	repositionForNewUidValidity,
	resolveUnknownPosition,
} from '../checkpoint';
import { unfoldHeader } from '../../message/headers';
import { MESSAGE_ID_FIELD } from '../../message/messageIdField';
import { formatBytes } from '../../message/limits';
import { andSearch } from '../search';

/** A pending UID after the filters: `meta` set when it is to be emitted. */
export interface JudgedEntry {
	uid: number;
	meta?: FetchMessageObject;
	/** The server kept failing to deliver this message (or it is too large): an error item with this text is emitted. */
	unreadable?: string;
}

export interface Mailbox {
	uidValidity: string;
	uidNext: number;
}

/**
 * The checkpoint to use for the selected folder. `change`: 'new' for a folder without one (added to a running
 * workflow), 'resolved' for a position taken without the server, 'uidValidity' when the folder was recreated (old
 * UIDs mean nothing now), 'uidNextBackwards' when UIDNEXT is at or below a UID already judged under the same
 * UIDVALIDITY — the server was restored from a backup and will give those UIDs to new messages, so it is handled like
 * a UIDVALIDITY change; undefined when the stored one stands.
 */
export function alignCheckpoint(
	checkpoint: FolderCheckpoint | undefined,
	mailbox: Mailbox,
	start: StartPosition,
	now: number,
): { checkpoint: FolderCheckpoint; change?: 'new' | 'resolved' | 'uidValidity' | 'uidNextBackwards' } {
	if (!checkpoint) return { checkpoint: initialCheckpoint(start, now, mailbox), change: 'new' };
	if (checkpoint.uidValidity === undefined) return { checkpoint: resolveUnknownPosition(checkpoint, mailbox), change: 'resolved' };
	if (checkpoint.uidValidity !== mailbox.uidValidity) {
		return { checkpoint: repositionForNewUidValidity(checkpoint, mailbox, now), change: 'uidValidity' };
	}
	if (mailbox.uidNext <= checkpoint.lastUid) {
		const repositioned = repositionForNewUidValidity(checkpoint, mailbox, now);
		return { checkpoint: { ...repositioned, generation: (checkpoint.generation ?? 0) + 1 }, change: 'uidNextBackwards' };
	}
	return { checkpoint };
}

/** The found UIDs still to judge, in order ("n:*" always includes the highest UID even when it is below n). */
export function pendingUids(found: number[], fromUid: number): number[] {
	return found.filter((uid) => uid >= fromUid).sort((a, b) => a - b);
}

/**
 * The searches that tell which pending UIDs the user's filter (and a backlog rule) admit: per UID range, its UIDs
 * and the search to ask the server, or no search when every UID of the range is admitted.
 */
export function admissionSearches(
	pending: number[],
	checkpoint: FolderCheckpoint,
	filter: SearchObject | undefined,
): Array<{ uids: number[]; search?: SearchObject }> {
	const low = pending[0];
	const high = pending[pending.length - 1];
	const backlog = checkpoint.backlog;
	const ranges: Array<{ from: number; to: number; extra?: SearchObject }> = [];
	if (backlog?.throughUid !== undefined && low <= backlog.throughUid) {
		const backlogSearch = andSearch(
			backlog.unseenOnly ? { seen: false } : undefined,
			// Coarse pre-filter only (IMAP dates have day granularity); the exact time rule runs on INTERNALDATE.
			backlog.notBefore !== undefined ? { since: new Date(backlog.notBefore - 36 * 3600 * 1000) } : undefined,
		);
		ranges.push({ from: low, to: Math.min(high, backlog.throughUid), extra: backlogSearch });
		if (high > backlog.throughUid) ranges.push({ from: backlog.throughUid + 1, to: high });
	} else {
		ranges.push({ from: low, to: high });
	}
	return ranges.map((range) => {
		const uids = pending.filter((uid) => uid >= range.from && uid <= range.to);
		const conditions = [range.extra, filter].filter((part): part is SearchObject => part !== undefined);
		const meaningful = conditions.filter((part) => !(Object.keys(part).length === 1 && part.all === true));
		if (meaningful.length === 0) return { uids };
		return { uids, search: andSearch({ uid: `${range.from}:${range.to}` }, ...meaningful) };
	});
}

/** The entries of one chunk: admitted and readable ones carry their metadata, the others only move the checkpoint. */
export function judgeChunk(
	chunk: number[],
	checkpoint: FolderCheckpoint,
	metadata: Map<number, FetchMessageObject>,
	unreadable: Map<number, string>,
	maxMessageBytes: number,
): JudgedEntry[] {
	return chunk.map((uid) => {
		const reason = unreadable.get(uid);
		if (reason !== undefined) return { uid, unreadable: reason };
		const meta = metadata.get(uid);
		if (!meta || !admitsByTime(checkpoint, uid, meta)) return { uid };
		return { uid, meta, unreadable: tooLargeReason(meta, maxMessageBytes) };
	});
}

/** The backlog's time and recent-ring rules, on the message's INTERNALDATE and fingerprint. */
export function admitsByTime(checkpoint: FolderCheckpoint, uid: number, meta: FetchMessageObject): boolean {
	const backlog = checkpoint.backlog;
	if (!backlog || backlog.throughUid === undefined || uid > backlog.throughUid) return true;
	const internalDate = toEpoch(meta.internalDate);
	return backlogAdmits(backlog, checkpoint.recent, {
		internalDate,
		fingerprint: messageFingerprint(messageIdOf(meta), internalDate, meta.size),
	});
}

/**
 * The message's Message-ID: from the header field the metadata FETCH asks for (reader.ts), or from ENVELOPE where one
 * was fetched. Unfolded and trimmed, as servers give it in ENVELOPE.
 */
export function messageIdOf(meta: Pick<FetchMessageObject, 'envelope' | 'headers'> | undefined): string | undefined {
	if (meta?.envelope?.messageId) return meta.envelope.messageId;
	if (!meta?.headers?.length) return undefined;
	// The field with its continuation lines, unfolded and decoded as the item's headers are.
	const field = MESSAGE_ID_FIELD.exec(meta.headers.toString('binary'));
	return (field && unfoldHeader(field[0]).value) || undefined;
}

/** Why a message is not downloaded at all: the server reports it larger than the Max Message Size option. */
export function tooLargeReason(meta: FetchMessageObject, maxMessageBytes: number): string | undefined {
	const size = meta.size ?? 0;
	if (size <= maxMessageBytes) return undefined;
	return `The message is ${formatBytes(size)}, more than the trigger's Max Message Size of ${formatBytes(maxMessageBytes)}: it was not downloaded. Raise the option "Max Message Size (MB)" to receive such messages; the message stays in the mailbox.`;
}

/**
 * The checkpoint once this entry is emitted (with its date and fingerprint in the recent ring). An INTERNALDATE in
 * the future (a wrong server clock, a forged date on APPEND) counts as `now` + the skew: otherwise one such message
 * would push the UIDVALIDITY time rule past every message that arrives until that date.
 */
export function afterEmitting(checkpoint: FolderCheckpoint, entry: JudgedEntry, now: number): FolderCheckpoint {
	const date = toEpoch(entry.meta?.internalDate);
	const internalDate = date === undefined ? undefined : Math.min(date, now + TIME_RULE_SKEW_MS);
	return afterJudging(checkpoint, {
		uid: entry.uid,
		internalDate,
		// The fingerprint keeps the real date: it names the message, also when the ring is consulted after a change.
		fingerprint: messageFingerprint(messageIdOf(entry.meta), date, entry.meta?.size),
	});
}

/** The checkpoint once this entry is passed over (filtered out, or confirmed gone). */
export function afterPassingOver(checkpoint: FolderCheckpoint, uid: number): FolderCheckpoint {
	return afterJudging(checkpoint, { uid, fingerprint: '' });
}

/** An entry whose content is to be downloaded: admitted, and neither unreadable nor too large. */
export function needsSource(entry: JudgedEntry): boolean {
	return entry.meta !== undefined && entry.unreadable === undefined;
}

export function toEpoch(value: Date | string | undefined): number | undefined {
	if (value === undefined) return undefined;
	const time = value instanceof Date ? value.getTime() : new Date(value).getTime();
	return Number.isNaN(time) ? undefined : time;
}
