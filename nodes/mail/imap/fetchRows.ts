import type { FetchMessageObject } from 'imapflow';

/**
 * Adds one row of a FETCH answer to the messages read so far, by UID. imapflow passes on unsolicited rows as well:
 * with CONDSTORE a server reports another client's flag change as `* n FETCH (FLAGS … MODSEQ)`, without a UID
 * (Dovecot) or with one (servers that always send it). A row without a UID is no message of the answer, and a second
 * row of a message adds what it carries to the first instead of taking its place (and its contents).
 */
export function addFetchRow(result: Map<number, FetchMessageObject>, row: FetchMessageObject): void {
	if (!row.uid) return;
	const known = result.get(row.uid);
	if (!known) {
		result.set(row.uid, row);
		return;
	}
	for (const [key, value] of Object.entries(row)) if (value !== undefined) (known as unknown as Record<string, unknown>)[key] = value;
}
