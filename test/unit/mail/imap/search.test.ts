import type { SearchObject } from 'imapflow';

import { andSearch, criterionToSearch, parseCustomCriteria, usesGmailOnlyKeys } from '../../../../nodes/mail/imap/search';

describe('customEmailConfig (n8n Email Trigger criteria) → imapflow SearchObject', () => {
	it('translates flags, text, dates, sizes, headers, UID sets and OR', () => {
		expect(parseCustomCriteria('["UNSEEN"]')).toEqual({ seen: false });
		expect(parseCustomCriteria('["ALL"]')).toEqual({ all: true });
		expect(parseCustomCriteria('[["FROM", "billing@example.com"], ["SUBJECT", "Invoice"]]')).toEqual({
			from: 'billing@example.com',
			subject: 'Invoice',
		});
		expect(parseCustomCriteria('[["SINCE", "2024-01-31"]]')).toEqual({ since: new Date('2024-01-31') });
		expect(parseCustomCriteria('[["LARGER", 1000], ["HEADER", "X-Priority", "1"]]')).toEqual({ larger: 1000, header: { 'X-Priority': '1' } });
		expect(parseCustomCriteria('[["UID", "42:*"]]')).toEqual({ uid: '42:*' });
		expect(parseCustomCriteria('[["OR", "FLAGGED", ["FROM", "boss@example.com"]]]')).toEqual({
			or: [{ flagged: true }, { from: 'boss@example.com' }],
		});
		expect(parseCustomCriteria('[["KEYWORD", "$Work"]]')).toEqual({ keyword: '$Work' });
	});

	it('negates with a leading "!"', () => {
		expect(parseCustomCriteria('["UNSEEN", ["!FROM", "noreply@example.com"]]')).toEqual({
			seen: false,
			not: { from: 'noreply@example.com' },
		});
	});

	it('keeps every criterion when two use the same key (De Morgan instead of overwriting)', () => {
		const search = parseCustomCriteria('[["FROM", "a@example.com"], ["FROM", "example.com"]]');
		expect(search).toEqual({ not: { or: [{ not: { from: 'a@example.com' } }, { not: { from: 'example.com' } }] } });
	});

	it('treats an empty rule list as "no filter"', () => {
		expect(parseCustomCriteria('')).toBeUndefined();
		expect(parseCustomCriteria('[]')).toBeUndefined();
		expect(parseCustomCriteria(undefined)).toBeUndefined();
	});

	it('maps the Gmail keys and says when a filter needs Gmail', () => {
		const gmail = parseCustomCriteria('[["X-GM-RAW", "has:attachment"], ["X-GM-LABELS", "Work"]]');
		expect(gmail).toEqual({ gmraw: 'has:attachment', labels: { has: ['Work'] } });
		expect(usesGmailOnlyKeys(gmail)).toBe(true);
		expect(usesGmailOnlyKeys({ or: [{ seen: false }, { not: { gmraw: 'x' } }] })).toBe(true);
		expect(usesGmailOnlyKeys({ seen: false })).toBe(false);
	});

	it('refuses what imapflow would silently drop or invert, with a message naming the criterion', () => {
		expect(() => parseCustomCriteria('UNSEEN')).toThrow(/JSON array/);
		expect(() => parseCustomCriteria('{"seen": false}')).toThrow(/JSON array/);
		expect(() => parseCustomCriteria('[["FROM", ""]]')).toThrow(/"FROM" needs a non-empty value/);
		expect(() => parseCustomCriteria('[["SMALLER", 0]]')).toThrow(/"SMALLER" needs a positive whole number/);
		expect(() => parseCustomCriteria('[["SINCE", "not a date"]]')).toThrow(/"SINCE" needs a date/);
		expect(() => parseCustomCriteria('[["KEYWORD", "\\\\Recent"]]')).toThrow(/\\Recent/);
		expect(() => parseCustomCriteria('[["UID", "abc"]]')).toThrow(/UID set/);
		expect(() => parseCustomCriteria('[["FROM"]]')).toThrow(/takes 1 argument/);
		expect(() => parseCustomCriteria('["BOGUS"]')).toThrow(/Unknown search criterion "BOGUS"/);
		expect(() => criterionToSearch(42)).toThrow(/string or an array/);
	});
});

describe('andSearch', () => {
	it('merges parts without colliding keys and nests colliding ones', () => {
		expect(andSearch({ uid: '5:9' }, { seen: false }, undefined)).toEqual({ uid: '5:9', seen: false });
		const nested = andSearch({ uid: '5:9' }, { not: { from: 'a' } }, { not: { from: 'b' } });
		expect(nested).toEqual({
			not: { or: [{ not: { uid: '5:9', not: { from: 'a' } } }, { not: { not: { from: 'b' } } }] },
		});
	});

	it('is "all" for nothing at all', () => {
		const nothing: SearchObject = andSearch();
		expect(nothing).toEqual({ all: true });
	});
});
