/** Reading POP3 replies: numbers, listings and unique ids, and what a refused greeting or AUTH means. */
import { TokenRejectedError } from '../auth/errors';
import type { decodeXOAuth2Challenge } from '../auth/xoauth2';
import { Pop3AccessDisabledError, Pop3ConnectionError, Pop3ServerBusyError } from './errors';
import type { Pop3Status } from './responseReader';
import type { Pop3Wire } from './wire';

export interface Pop3ScanListing {
	messageNumber: number;
	size: number;
}

export interface Pop3UniqueId {
	messageNumber: number;
	uid: string;
}

/** What an RFC 2449 §8 / RFC 3206 response code says about the session or account (not about one message). */
export type ResponseCodeMeaning = 'permanent' | 'temporary' | 'credentials';

const CODE_MEANINGS: ReadonlyArray<readonly [string, ResponseCodeMeaning]> = [
	['SYS/PERM', 'permanent'], // Gmail: POP switched off for the account
	['SYS/TEMP', 'temporary'],
	['IN-USE', 'temporary'],
	['LOGIN-DELAY', 'temporary'],
	['AUTH', 'credentials'],
];

/**
 * The meaning of a response code (upper case, as the response reader gives it); a refinement means what its parent
 * means (codes are hierarchical: `SYS/TEMP/…` is SYS/TEMP). undefined: a code of one message, or unknown.
 */
export function meaningOf(responseCode: string | undefined): ResponseCodeMeaning | undefined {
	if (!responseCode) return undefined;
	return CODE_MEANINGS.find(([code]) => responseCode === code || responseCode.startsWith(`${code}/`))?.[1];
}

/** The refusal speaks of the session or account, so a close right after it is explained by it. */
export function isSessionLevelCode(responseCode: string | undefined): boolean {
	return meaningOf(responseCode) !== undefined;
}

export function greetingRefused(wire: Pop3Wire, status: Pop3Status): Error {
	const serverText = wire.clean(status.text);
	if (status.kind === 'err') {
		const responseCode = responseCodeOf(status);
		if (meaningOf(responseCode) === 'temporary') {
			return new Pop3ServerBusyError({ step: 'greeting', serverText, responseCode });
		}
		return new Pop3ConnectionError(`The POP3 server refused the connection: ${serverText}`, {
			step: 'greeting',
			serverText,
			responseCode,
		});
	}
	return wire.protocolError('greeting', status.text);
}

/** Classifies -ERR after AUTH by its RFC 3206 response code; never by the server's wording. */
export function authRefused(wire: Pop3Wire, status: Pop3Status, challenge?: ReturnType<typeof decodeXOAuth2Challenge>): Error {
	const serverText = wire.clean(status.text);
	const responseCode = responseCodeOf(status);
	const meaning = meaningOf(responseCode);
	const details = { step: 'AUTH XOAUTH2', serverText, responseCode };
	if (meaning === 'permanent') return wire.withTranscript(new Pop3AccessDisabledError(details));
	if (meaning === 'temporary') return wire.withTranscript(new Pop3ServerBusyError(details));
	return new TokenRejectedError('pop3', { challenge, serverText });
}

export function parseNumbers(wire: Pop3Wire, text: string, count: number, step: string): number[] {
	const words = text.trim().split(/\s+/).slice(0, count);
	const numbers = words.map((word) => (/^\d{1,15}$/.test(word) ? Number(word) : Number.NaN));
	if (numbers.length < count || numbers.some((value) => Number.isNaN(value))) {
		throw wire.withTranscript(wire.protocolError(step, text));
	}
	return numbers;
}

export function parseScanListing(wire: Pop3Wire, line: Buffer | string, step: string): Pop3ScanListing {
	const [messageNumber, size] = parseNumbers(wire, typeof line === 'string' ? line : line.toString('latin1'), 2, step);
	return { messageNumber, size };
}

export function parseUniqueId(wire: Pop3Wire, line: Buffer | string, step: string): Pop3UniqueId {
	const text = typeof line === 'string' ? line : line.toString('latin1');
	const [number, uid] = text.trim().split(/\s+/);
	// RFC 1939: 1 to 70 printable ASCII characters; allow longer ids but nothing that could not be stored as text.
	if (!number || !/^\d{1,15}$/.test(number) || !uid || !/^[\x21-\x7e]{1,512}$/.test(uid)) {
		throw wire.withTranscript(wire.protocolError(step, text));
	}
	return { messageNumber: Number(number), uid };
}

export function responseCodeOf(status: Pop3Status): string | undefined {
	return status.kind === 'err' ? status.responseCode : undefined;
}
