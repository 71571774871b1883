/**
 * Rows of a FETCH answer as imapflow passes them on, unsolicited ones included (CONDSTORE flag changes by another
 * client): a message's attributes and contents are never lost to such a row, and a row of a message not asked for
 * is no message of the answer.
 */
import type { FetchMessageObject } from 'imapflow';

import { addFetchRow } from '../../../../nodes/mail/imap/fetchRows';

const solicited = (uid: number): FetchMessageObject => ({
	seq: uid,
	uid,
	id: `gm${uid}`,
	emailId: `gm${uid}`,
	flags: new Set(['\\Flagged']),
	flagColor: 'red',
	size: 100 + uid,
	source: Buffer.from(`message ${uid}`),
});
const flagsRow = (uid: number | undefined, flags: string[]): FetchMessageObject =>
	({ seq: 99, uid, id: 'md5-of-the-row', flags: new Set(flags), modseq: BigInt(7) }) as unknown as FetchMessageObject;

describe('addFetchRow', () => {
	it('drops a row without a UID and one of a message not asked for', () => {
		const result = new Map<number, FetchMessageObject>();
		const asked = new Set([10]);
		addFetchRow(result, flagsRow(undefined, ['\\Seen']), asked);
		addFetchRow(result, flagsRow(3, ['\\Seen']), asked);
		addFetchRow(result, solicited(10), asked);
		expect([...result.keys()]).toEqual([10]);
	});

	it('a later row updates the flags (and drops a colour they no longer carry), and keeps everything else', () => {
		const result = new Map<number, FetchMessageObject>();
		addFetchRow(result, solicited(10));
		addFetchRow(result, flagsRow(10, ['\\Seen']));
		expect(result.get(10)).toMatchObject({ seq: 10, uid: 10, id: 'gm10', emailId: 'gm10', size: 110, source: Buffer.from('message 10'), modseq: BigInt(7) });
		expect([...(result.get(10)?.flags ?? [])]).toEqual(['\\Seen']);
		expect(result.get(10)).not.toHaveProperty('flagColor');
	});

	it('the message\'s own row after a flag change takes its place: its contents, attributes and flags', () => {
		const result = new Map<number, FetchMessageObject>();
		addFetchRow(result, flagsRow(10, ['\\Seen']));
		addFetchRow(result, solicited(10));
		expect(result.get(10)).toEqual(solicited(10));
	});
});
