import type { FetchMessageObject } from 'imapflow';

/** What a row of a flag change carries (imapflow adds `id`, and flagColor from the flags). */
const FLAG_CHANGE = new Set(['seq', 'uid', 'id', 'flags', 'flagColor', 'modseq']);

/**
 * Adds one row of a FETCH answer to the messages read so far, by UID. imapflow passes on unsolicited rows as well:
 * with CONDSTORE a server reports another client's flag change as `* n FETCH (FLAGS … MODSEQ)`, without a UID
 * (Dovecot) or with one (servers that always send it), also for messages not asked for. A row without a UID, or of a
 * message not in `asked`, is no message of the answer. A flag change after a message's row updates its flags only;
 * a message's row after a flag change takes its place. Either way the attributes and contents asked for stay.
 */
export function addFetchRow(result: Map<number, FetchMessageObject>, row: FetchMessageObject, asked?: ReadonlySet<number>): void {
	if (!row.uid || (asked && !asked.has(row.uid))) return;
	const known = result.get(row.uid);
	if (known && isFlagChange(row)) {
		if (row.flags !== undefined) {
			known.flags = row.flags;
			// imapflow sets flagColor only when the flags carry a colour.
			if (row.flagColor === undefined) delete known.flagColor;
			else known.flagColor = row.flagColor;
		}
		if (row.modseq !== undefined) known.modseq = row.modseq;
		return;
	}
	result.set(row.uid, row);
}

function isFlagChange(row: FetchMessageObject): boolean {
	return Object.entries(row).every(([key, value]) => value === undefined || FLAG_CHANGE.has(key));
}
