/** The watcher's error classes and the small helpers that classify and describe errors (no n8n). */
import { TokenRejectedError } from '../../auth/errors';
import { AccessTokenRejectedError, TokenRefreshFailedError } from '../../auth/tokenErrors';
import { isMessageContentError } from '../../message/errors';
import { imapErrorFields } from '../client';
import type { SessionEnd } from '../session';

/** Thrown for problems with what the user configured (surfaced at activation, or as the fatal error). */
export class WatcherConfigurationError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'WatcherConfigurationError';
	}
}

/**
 * For WatcherDeps.buildItem: a failure that is not the message's fault (e.g. storing an attachment failed because
 * the disk is full). The message is then read again after a backoff instead of becoming an error item.
 */
export class ItemNotBuiltError extends Error {
	constructor(message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'ItemNotBuiltError';
	}
}

export class SessionEndedError extends Error {
	constructor(readonly end: SessionEnd) {
		super(`IMAP session ended${end.byeReason ? `: ${end.byeReason}` : end.error ? `: ${end.error.message}` : ''}`);
		this.name = 'SessionEndedError';
	}
}

/**
 * A command got no answer because the connection went away under it. imapflow 2.10 reports that for some commands
 * with an empty result instead of an error (search() → undefined, download() → {}), which must never be read as
 * "no such message": the session is given up, and the next one catches up from the checkpoint.
 */
export class SessionLostError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'SessionLostError';
	}
}

/** The server refused a command (NO/BAD) while the session stayed open. */
export class ServerRefusedError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'ServerRefusedError';
	}
}

/**
 * Wraps the step that stores attachments (n8n's prepareBinaryData) so that its failures are ItemNotBuiltError: a full
 * disk must not turn a good message into an error item.
 */
export function storageStep<A extends unknown[], R>(store: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
	return async (...args: A) => {
		try {
			return await store(...args);
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- classified by the watcher (retry, not an error item)
			throw new ItemNotBuiltError(`Storing an attachment failed: ${errorText(error)}`, { cause: error });
		}
	};
}

/**
 * Only a failure of the message's content may turn it into an error item (which consumes it). Errors of the machine
 * (Node system errors: ENOSPC, EIO, ERR_STREAM_PREMATURE_CLOSE, ...) and ItemNotBuiltError are not.
 */
export function isMessageParseFailure(error: unknown): boolean {
	if (isMessageContentError(error)) return true;
	if (error instanceof ItemNotBuiltError) return false;
	if (!error || typeof error !== 'object') return true;
	const fields = error as { code?: unknown; errno?: unknown; syscall?: unknown };
	if (typeof fields.errno === 'number' || typeof fields.syscall === 'string') return false;
	return !(typeof fields.code === 'string' && /^(E[A-Z0-9]+|ERR_[A-Z0-9_]+)$/.test(fields.code));
}

/** The server refused the token, or the token endpoint refused the client. */
export function isCredentialProblem(error: unknown): boolean {
	return (
		error instanceof AccessTokenRejectedError || error instanceof TokenRefreshFailedError || error instanceof TokenRejectedError
	);
}

/** A UID SEARCH result: only an array is an answer; false is a refusal, undefined a lost connection (imapflow 2.10). */
export function uidsFrom(result: number[] | false | undefined, what: string): number[] {
	if (Array.isArray(result)) return result;
	if (result === false) throw new ServerRefusedError(`The mail server refused ${what}`);
	throw new SessionLostError(`No answer to ${what}: the connection closed`);
}

/** An IMAP error with the server's own words (imapflow keeps them in responseText, the message is just "Command failed"). */
export function describeImapError(error: unknown): string {
	const responseText = imapErrorFields(error).responseText;
	const text = errorText(error);
	return responseText && !text.includes(responseText) ? `${text} (${responseText})` : text;
}

export function errorText(error: unknown): string {
	if (error instanceof Error) return error.message;
	return String(error);
}
