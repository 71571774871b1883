import type { SearchObject } from 'imapflow';

/**
 * Search criteria for the trigger, written the way n8n's Email Trigger (IMAP) documents its "Custom Email Rules":
 * a JSON array of node-imap style criteria, e.g. `["UNSEEN", ["FROM", "billing@example.com"], ["!SUBJECT", "test"]]`.
 * Every entry must hold (AND); `["OR", a, b]` combines two; a leading `!` negates. Translated here into imapflow's
 * SearchObject, refusing anything that imapflow would silently drop (which would widen the search).
 */
export type ImapCriterion = string | [string, ...unknown[]];

export class SearchCriteriaError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'SearchCriteriaError';
	}
}

const FLAG_CRITERIA: Readonly<Record<string, SearchObject>> = {
	ALL: { all: true },
	ANSWERED: { answered: true },
	UNANSWERED: { answered: false },
	DELETED: { deleted: true },
	UNDELETED: { deleted: false },
	DRAFT: { draft: true },
	UNDRAFT: { draft: false },
	FLAGGED: { flagged: true },
	UNFLAGGED: { flagged: false },
	SEEN: { seen: true },
	UNSEEN: { seen: false },
	NEW: { new: true },
	OLD: { old: true },
	RECENT: { recent: true },
};

type TextKey = 'bcc' | 'body' | 'cc' | 'from' | 'subject' | 'text' | 'to';
const TEXT_CRITERIA: Readonly<Record<string, TextKey>> = {
	BCC: 'bcc',
	BODY: 'body',
	CC: 'cc',
	FROM: 'from',
	SUBJECT: 'subject',
	TEXT: 'text',
	TO: 'to',
};

type DateKey = 'before' | 'on' | 'since' | 'sentBefore' | 'sentOn' | 'sentSince';
const DATE_CRITERIA: Readonly<Record<string, DateKey>> = {
	BEFORE: 'before',
	ON: 'on',
	SINCE: 'since',
	SENTBEFORE: 'sentBefore',
	SENTON: 'sentOn',
	SENTSINCE: 'sentSince',
};

const SEQUENCE_SET = /^(?:[1-9]\d*|\*)(?::(?:[1-9]\d*|\*))?(?:,(?:[1-9]\d*|\*)(?::(?:[1-9]\d*|\*))?)*$/;

function argumentCount(name: string, args: unknown[], expected: number): void {
	if (args.length !== expected) {
		throw new SearchCriteriaError(`Search criterion "${name}" takes ${expected} argument(s), got ${args.length}`);
	}
}

function nonEmptyText(name: string, value: unknown): string {
	if (value === undefined || value === null) throw new SearchCriteriaError(`Search criterion "${name}" needs a value`);
	const text = value instanceof Date ? value.toISOString() : String(value);
	// imapflow skips falsy values, so an empty string would silently remove the criterion.
	if (text === '') throw new SearchCriteriaError(`Search criterion "${name}" needs a non-empty value`);
	return text;
}

function dateValue(name: string, value: unknown): Date {
	const date = value instanceof Date ? value : new Date(typeof value === 'number' ? value : String(value));
	if (Number.isNaN(date.getTime())) {
		throw new SearchCriteriaError(`Search criterion "${name}" needs a date, got "${String(value)}"`);
	}
	return date;
}

function positiveInteger(name: string, value: unknown): number {
	const number = Number(value);
	// imapflow skips 0, and a dropped SMALLER would match every message.
	if (!Number.isSafeInteger(number) || number < 1) {
		throw new SearchCriteriaError(`Search criterion "${name}" needs a positive whole number, got "${String(value)}"`);
	}
	return number;
}

function isCriterion(value: unknown): value is ImapCriterion {
	return typeof value === 'string' || (Array.isArray(value) && typeof value[0] === 'string');
}

/** One criterion (string or array) → SearchObject. */
export function criterionToSearch(criterion: unknown): SearchObject {
	if (!isCriterion(criterion)) {
		throw new SearchCriteriaError(`Each search criterion must be a string or an array, got ${JSON.stringify(criterion)}`);
	}
	const [rawName, ...args] = typeof criterion === 'string' ? [criterion] : criterion;
	const negated = rawName.startsWith('!');
	const name = (negated ? rawName.slice(1) : rawName).trim();
	const search = positiveCriterion(name, args);
	return negated ? { not: search } : search;
}

function positiveCriterion(name: string, args: unknown[]): SearchObject {
	const key = name.toUpperCase();

	const flag = FLAG_CRITERIA[key];
	if (flag) {
		argumentCount(name, args, 0);
		return { ...flag };
	}
	const textKey = TEXT_CRITERIA[key];
	if (textKey) {
		argumentCount(name, args, 1);
		return { [textKey]: nonEmptyText(name, args[0]) };
	}
	const dateKey = DATE_CRITERIA[key];
	if (dateKey) {
		argumentCount(name, args, 1);
		return { [dateKey]: dateValue(name, args[0]) };
	}
	switch (key) {
		case 'KEYWORD':
		case 'UNKEYWORD': {
			argumentCount(name, args, 1);
			const keyword = nonEmptyText(name, args[0]);
			// \Recent is not a keyword; imapflow would turn it into the opposite of what was asked for.
			if (keyword.toLowerCase() === '\\recent') {
				throw new SearchCriteriaError(`Search criterion "${name}" cannot be used with \\Recent; use "RECENT"`);
			}
			return key === 'KEYWORD' ? { keyword } : { unKeyword: keyword };
		}
		case 'LARGER':
		case 'SMALLER': {
			argumentCount(name, args, 1);
			const size = positiveInteger(name, args[0]);
			return key === 'LARGER' ? { larger: size } : { smaller: size };
		}
		case 'HEADER': {
			argumentCount(name, args, 2);
			// An empty value means "the header is present", so only the field name must be non-empty.
			return { header: { [nonEmptyText(name, args[0])]: String(args[1] ?? '') } };
		}
		case 'UID': {
			const set = args.map((value) => String(value)).join(',');
			if (!SEQUENCE_SET.test(set)) {
				throw new SearchCriteriaError(`Search criterion "${name}" needs a UID set such as "42:*", got "${set}"`);
			}
			return { uid: set };
		}
		case 'OR': {
			argumentCount(name, args, 2);
			return { or: [criterionToSearch(args[0]), criterionToSearch(args[1])] };
		}
		case 'X-GM-RAW':
			argumentCount(name, args, 1);
			return { gmraw: nonEmptyText(name, args[0]) };
		case 'X-GM-MSGID':
			argumentCount(name, args, 1);
			return { emailId: nonEmptyText(name, args[0]) };
		case 'X-GM-THRID':
			argumentCount(name, args, 1);
			return { threadId: nonEmptyText(name, args[0]) };
		case 'X-GM-LABELS':
			argumentCount(name, args, 1);
			return { labels: { has: [nonEmptyText(name, args[0])] } };
		case 'MODSEQ': {
			argumentCount(name, args, 1);
			let modseq: bigint;
			try {
				modseq = BigInt(String(args[0]));
			} catch {
				// Protocol-level module without a node: the trigger turns SearchCriteriaError into a NodeOperationError.
				// eslint-disable-next-line @n8n/community-nodes/require-node-api-error
				throw new SearchCriteriaError(`Search criterion "${name}" needs a whole number, got "${String(args[0])}"`);
			}
			if (modseq < 1n) throw new SearchCriteriaError(`Search criterion "${name}" needs a positive number`);
			return { modseq };
		}
	}
	throw new SearchCriteriaError(
		`Unknown search criterion "${name}". Use IMAP search keys such as "UNSEEN", ["FROM", "a@example.com"] or ["SINCE", "2024-01-31"]`,
	);
}

/**
 * AND of several SearchObjects. Top-level keys of a SearchObject are ANDed by imapflow, but one key can appear
 * only once, so parts whose keys collide are combined with De Morgan (NOT (NOT a OR NOT b)) instead of one
 * overwriting the other, which would widen the search.
 */
export function andSearch(...parts: Array<SearchObject | undefined>): SearchObject {
	const present = parts.filter((part): part is SearchObject => part !== undefined && Object.keys(part).length > 0);
	const groups: SearchObject[] = [];
	for (const part of present) {
		const target = groups.find((group) => !Object.keys(part).some((key) => key in group));
		if (target) Object.assign(target, part);
		else groups.push({ ...part });
	}
	if (groups.length === 0) return { all: true };
	if (groups.length === 1) return groups[0];
	return { not: { or: groups.map((group) => ({ not: group })) } };
}

/**
 * Parses the `customEmailConfig` parameter (a JSON array, or an already parsed array) into one SearchObject.
 * Returns undefined for "no filter" (empty string or empty array): every new message matches.
 */
export function parseCustomCriteria(value: unknown): SearchObject | undefined {
	let parsed: unknown = value;
	if (typeof value === 'string') {
		const trimmed = value.trim();
		if (trimmed === '') return undefined;
		try {
			parsed = JSON.parse(trimmed);
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- wrapped by the trigger node
			throw new SearchCriteriaError(
				`Custom email rules must be a JSON array such as ["UNSEEN"]: ${(error as Error).message}`,
			);
		}
	}
	if (parsed === undefined || parsed === null) return undefined;
	if (!Array.isArray(parsed)) {
		throw new SearchCriteriaError('Custom email rules must be a JSON array such as ["UNSEEN", ["FROM", "a@example.com"]]');
	}
	if (parsed.length === 0) return undefined;
	return andSearch(...parsed.map((criterion) => criterionToSearch(criterion)));
}

/** True when the filter uses a Gmail-only key (imapflow refuses those on other servers). */
export function usesGmailOnlyKeys(search: SearchObject | undefined): boolean {
	if (!search) return false;
	if (search.gmraw !== undefined || search.gmailraw !== undefined || search.labels !== undefined) return true;
	if (search.not && usesGmailOnlyKeys(search.not)) return true;
	return (search.or ?? []).some((part) => usesGmailOnlyKeys(part));
}
