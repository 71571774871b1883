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

const BUSY_CODES = new Set(['SYS/TEMP', 'IN-USE', 'LOGIN-DELAY']);

export function greetingRefused(wire: Pop3Wire, status: Pop3Status): Error {
	const serverText = wire.clean(status.text);
	if (status.kind === 'err') {
		const responseCode = responseCodeOf(status);
		if (responseCode && BUSY_CODES.has(baseCode(responseCode))) {
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
	const code = responseCode ? baseCode(responseCode) : undefined;
	const details = { step: 'AUTH XOAUTH2', serverText, responseCode };
	if (code === 'SYS/PERM') return wire.withTranscript(new Pop3AccessDisabledError(details));
	if (code && BUSY_CODES.has(code)) return wire.withTranscript(new Pop3ServerBusyError(details));
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

/** `SYS/TEMP` stays whole; hierarchical codes (RFC 2449 §8) are compared by their first two levels at most. */
function baseCode(responseCode: string): string {
	return responseCode.split('/').slice(0, 2).join('/');
}

/** Response codes that speak of the session or account (RFC 2449 §8, RFC 3206), not of one message. */
export function isSessionLevelCode(responseCode: string | undefined): boolean {
	if (!responseCode) return false;
	const code = responseCode.toUpperCase();
	return ['SYS/PERM', 'SYS/TEMP', 'IN-USE', 'LOGIN-DELAY', 'AUTH'].some((known) => code === known || code.startsWith(`${known}/`));
}
