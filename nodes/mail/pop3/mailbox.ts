import { Readable } from 'node:stream';

import { withTokenRetry, type TokenSource } from '../auth/tokens';
import { tlsOptionsFor, type MailEndpoint } from '../connection';
import { Pop3Client, type Pop3ClientOptions, type Pop3Stat, type Pop3TlsOptions, type Pop3Timeouts } from './client';
import { Pop3ConnectionError, Pop3ProtocolError } from './errors';
import { ReadAhead } from './readAhead';
import type { ListingEntry, SeenTracker } from './seenState';

/**
 * The POP node's mailbox operations on Pop3Client: one session, the listing (UIDL joined with LIST), "fetch what is
 * new", get/delete by UIDL, the end. No message lost, none returned twice: marked seen only after its item exists,
 * DELE only after that, deletions only at a clean QUIT (RFC 1939 §6); a failed run ends with destroy().
 */

/** Gmail's POP "recent mode": the last 30 days, whether or not already downloaded by another client. */
export const GMAIL_RECENT_MODE_PREFIX = 'recent:';

/**
 * The XOAUTH2 `user=` value. Gmail documents `recent:` in front of the username for POP logins with a password;
 * that it works the same in the XOAUTH2 user field is NOT verified here (no test may contact Google). Only Gmail
 * knows the prefix, so it is applied for the Google credential only.
 */
export function xoauth2LoginUser(email: string, options: { gmail: boolean; recentMode: boolean }): string {
	return options.gmail && options.recentMode ? `${GMAIL_RECENT_MODE_PREFIX}${email}` : email;
}

/** The UIDL asked for is not in the mailbox (deleted, or from another account). */
export class Pop3MessageNotFoundError extends Error {
	readonly code = 'POP3_MESSAGE_NOT_FOUND';

	constructor(readonly uidl: string) {
		super(`No message with UIDL "${uidl}" is in the POP3 mailbox`);
		this.name = 'Pop3MessageNotFoundError';
	}
}

/**
 * The message is larger (by LIST) than the node may download. It is not retrieved; the session stays usable.
 * `limitBytes` is the bound it exceeded.
 */
export class Pop3MessageTooLargeError extends Error {
	readonly code = 'POP3_MESSAGE_TOO_LARGE';

	constructor(
		readonly uidl: string,
		readonly size: number,
		readonly limitBytes: number,
		message: string = `Message "${uidl}" is ${size} bytes, more than the ${limitBytes} bytes allowed; it was not downloaded`,
	) {
		super(message);
		this.name = 'Pop3MessageTooLargeError';
	}
}

/** A deletion this session asked for (DELE) that the server never confirmed: the session ended without a confirmed QUIT. */
export class Pop3DeletionNotConfirmedError extends Error {
	readonly code = 'POP3_DELETION_NOT_CONFIRMED';

	constructor(readonly uidl: string) {
		super(`The POP3 server did not confirm the deletion of message "${uidl}"`);
		this.name = 'Pop3DeletionNotConfirmedError';
	}
}

/** How a session ended, as far as its deletions are concerned. */
export interface Pop3SessionEnd {
	/** UIDLs whose deletion the server confirmed with its +OK to QUIT; undefined when the session ended without one. */
	confirmedDeletions?: ReadonlySet<string>;
	/** A QUIT was sent and not confirmed (refused, timed out, connection cut): deletions may not have been applied. */
	quitError?: Error;
}

/** The error to report for a deletion the session asked for, or undefined when QUIT confirmed it. */
export function unconfirmedDeletion(end: Pop3SessionEnd, uidl: string): Pop3DeletionNotConfirmedError | undefined {
	return end.confirmedDeletions?.has(uidl) ? undefined : new Pop3DeletionNotConfirmedError(uidl);
}

export interface OpenPop3MailboxOptions {
	endpoint: Pick<MailEndpoint, 'host' | 'port' | 'security' | 'tls'>;
	tokens: TokenSource;
	/** The XOAUTH2 `user=` value: the account address, with `recent:` in front for Gmail's recent mode. */
	user: string;
	/** Extra TLS settings over the endpoint's (a private CA for tests or self-hosted servers). */
	tls?: Pop3TlsOptions;
	timeouts?: Partial<Pop3Timeouts>;
	/** Protocol transcript, token redacted by the client. */
	logger?: (line: string) => void;
}

/**
 * Connects and logs in with XOAUTH2. A refused token is refreshed once and tried again on the same connection (the
 * client stays in the authorization state); if the server closed the connection after refusing, a new one is opened.
 * On any failure the connection is destroyed before the error is thrown.
 */
export async function openPop3Mailbox(options: OpenPop3MailboxOptions): Promise<Pop3Mailbox> {
	const tls: Pop3TlsOptions = { ...tlsOptionsFor(options.endpoint), ...options.tls };
	// A CA or minimum version given here replaces the credential's, and with them the context prepared for those.
	if (options.tls && ('ca' in options.tls || 'minVersion' in options.tls) && !options.tls.secureContext) delete tls.secureContext;
	const clientOptions: Pop3ClientOptions = {
		host: options.endpoint.host,
		port: options.endpoint.port,
		security: options.endpoint.security,
		tls,
		timeouts: options.timeouts,
		logger: options.logger,
	};
	let client: Pop3Client | undefined;
	const connectFresh = async (): Promise<Pop3Client> => {
		client?.destroy();
		const fresh = new Pop3Client(clientOptions);
		client = fresh;
		await fresh.connect();
		return fresh;
	};
	try {
		await withTokenRetry(options.tokens, async (accessToken) => {
			const reused = client?.usable === true ? client : undefined;
			const session = reused ?? (await connectFresh());
			try {
				await session.authenticateXOAuth2(options.user, accessToken);
			} catch (error) {
				// A server may hang up after refusing a token; its close can arrive after the refusal, when the retry
				// has already started on the old connection. Then the retry gets one new connection.
				// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the caller
				if (!reused || !(error instanceof Pop3ConnectionError)) throw error;
				await (await connectFresh()).authenticateXOAuth2(options.user, accessToken);
			}
		});
	} catch (error) {
		client?.destroy();
		// The caller (the node) turns protocol and token errors into n8n errors; this layer keeps their classes.
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error
		throw error;
	}
	if (!client) throw new Error('POP3 login finished without a connection');
	return new Pop3Mailbox(client);
}

export interface FetchNewOptions<T> {
	/** Most messages to return in this call; undefined = every new message. */
	limit?: number;
	/** DELE each message once its item exists (and earlier ones whose deletion was never confirmed). */
	deleteAfter: boolean;
	/**
	 * Turns one message into a result: the whole message as a Buffer (a small message, already read; see ReadAhead), or
	 * a stream that must be read to the end (or destroyed) before it resolves.
	 */
	consume: (source: Buffer | Readable, entry: ListingEntry) => Promise<T>;
	/**
	 * When consume fails but the session is still usable: true records the failure and goes on with the next message
	 * (the failed one stays unseen and is tried again next time); false throws.
	 */
	continueOnMessageError: boolean;
	/**
	 * Messages whose LIST size is above this are not retrieved: each gets a `handled` outcome with
	 * Pop3MessageTooLargeError (made by `tooLarge` when given, so the caller can word it). Undefined = no bound.
	 */
	maxMessageBytes?: number;
	tooLarge?: (entry: ListingEntry, limitBytes: number) => Error;
	/**
	 * True for a consume failure that is the message's own fault (it cannot be parsed): trying again can never help,
	 * so it gets a `handled` outcome whatever continueOnMessageError says.
	 */
	isMessageFault?: (error: unknown) => boolean;
}

/**
 * `handled`: the message's problem is its own (too large, cannot be parsed), so it is marked seen (not fetched again
 * on every run, which would repeat the same error item for ever and, with a limit, could block newer mail) but never
 * deleted, even with deleteAfter: it stays on the server, and the error item names its UIDL so it can be fetched with
 * the Get operation once the cause is dealt with. Other errors leave the message unseen, to be tried again.
 */
export type FetchOutcome<T> =
	| { entry: ListingEntry; value: T }
	| { entry: ListingEntry; error: Error; handled?: boolean };

export interface FetchNewResult<T> {
	outcomes: Array<FetchOutcome<T>>;
	/** New messages left for the next run because of the limit. */
	remaining: number;
	/** Messages from earlier runs deleted now (their deletion had not been confirmed). */
	retriedDeletions: number;
}

export class Pop3Mailbox {
	/** UIDLs marked with DELE in this session: gone once quit() succeeds. */
	private readonly markedForDeletion = new Set<string>();
	/**
	 * The listing, read once per session: a POP3 session works on a snapshot of the maildrop (RFC 1939 §5, message
	 * numbers do not change), and the only change during it, DELE, is applied to the copy as well.
	 */
	private cachedListing?: ListingEntry[];

	constructor(private readonly client: Pop3Client) {}

	get usable(): boolean {
		return this.client.usable;
	}

	/** STAT: messages in the mailbox (not counting those marked deleted in this session) and their total size. */
	stat(): Promise<Pop3Stat> {
		return this.client.stat();
	}

	/**
	 * Every message with its UIDL and size, oldest first. Both listings come from the same session snapshot, so they
	 * must name the same message numbers; anything else is a broken server.
	 */
	async listing(): Promise<ListingEntry[]> {
		this.cachedListing ??= await this.readListing();
		return [...this.cachedListing];
	}

	private async readListing(): Promise<ListingEntry[]> {
		const uids = await this.client.uidl();
		const sizes = await this.client.list();
		const sizeOf = new Map(sizes.map((entry) => [entry.messageNumber, entry.size]));
		const seenUidls = new Set<string>();
		const entries: ListingEntry[] = [];
		for (const { messageNumber, uid } of uids) {
			const size = sizeOf.get(messageNumber);
			if (size === undefined || seenUidls.has(uid)) {
				throw new Pop3ProtocolError(
					size === undefined
						? `The POP3 server listed message ${messageNumber} in UIDL but not in LIST`
						: `The POP3 server gave the same UIDL to two messages ("${uid}")`,
					{ step: 'UIDL' },
				);
			}
			seenUidls.add(uid);
			entries.push({ messageNumber, uidl: uid, size });
		}
		if (sizes.length !== uids.length) {
			throw new Pop3ProtocolError(
				`The POP3 server listed ${sizes.length} messages in LIST but ${uids.length} in UIDL`,
				{ step: 'LIST' },
			);
		}
		return entries.sort((a, b) => a.messageNumber - b.messageNumber);
	}

	/** @throws Pop3MessageNotFoundError */
	async find(uidl: string): Promise<ListingEntry> {
		const wanted = uidl.trim();
		const entry = (await this.listing()).find((candidate) => candidate.uidl === wanted);
		if (!entry) throw new Pop3MessageNotFoundError(wanted);
		return entry;
	}

	/** RETR the message and hand its stream to `consume`; the stream is destroyed if consume fails or leaves it open. */
	async retrieve<T>(entry: ListingEntry, consume: (stream: Readable, entry: ListingEntry) => Promise<T>): Promise<T> {
		const stream = await this.client.retr(entry.messageNumber);
		try {
			return await consume(stream, entry);
		} finally {
			// Releases the session either way: a finished stream is already closed, an abandoned one is skipped.
			if (!stream.destroyed) stream.destroy();
		}
	}

	/** Marks the message deleted; the server removes it at a successful quit(). */
	async delete(entry: ListingEntry): Promise<void> {
		await this.client.dele(entry.messageNumber);
		this.markedForDeletion.add(entry.uidl);
		this.cachedListing = this.cachedListing?.filter((listed) => listed.messageNumber !== entry.messageNumber);
	}

	/**
	 * Returns the messages `tracker` has not seen, oldest first, up to `limit`, marking each seen once consumed.
	 * With deleteAfter, each consumed message is marked for deletion, and so is every message of an earlier run whose
	 * deletion the server never confirmed.
	 */
	async fetchNew<T>(tracker: SeenTracker, options: FetchNewOptions<T>): Promise<FetchNewResult<T>> {
		const { unseen, awaitingDeletion } = tracker.observe(await this.listing());
		let retriedDeletions = 0;
		if (options.deleteAfter) {
			for (const entry of awaitingDeletion) {
				await this.delete(entry);
				retriedDeletions++;
			}
		}
		const limit = options.limit === undefined ? unseen.length : Math.max(0, Math.floor(options.limit));
		const batch = unseen.slice(0, limit);
		const outcomes: Array<FetchOutcome<T>> = [];
		const tooLarge = (entry: ListingEntry) => options.maxMessageBytes !== undefined && entry.size > options.maxMessageBytes;
		const retrievable = batch.filter((entry) => !tooLarge(entry));
		const readAhead = new ReadAhead(this.client, retrievable);
		try {
			for (const entry of batch) {
				if (tooLarge(entry)) {
					const limitBytes = options.maxMessageBytes as number;
					const error = options.tooLarge?.(entry, limitBytes) ?? new Pop3MessageTooLargeError(entry.uidl, entry.size, limitBytes);
					tracker.markSeen(entry.uidl);
					outcomes.push({ entry, error, handled: true });
					continue;
				}
				let value: T;
				try {
					value = await readAhead.consume(entry, options.consume);
				} catch (error) {
					if (this.client.usable && options.isMessageFault?.(error) === true) {
						tracker.markSeen(entry.uidl);
						outcomes.push({ entry, error: error instanceof Error ? error : new Error(String(error)), handled: true });
						continue;
					}
					// A broken session (timeout, closed connection) ends the run, with the error that broke it; a message
					// the consumer could not turn into an item is skipped only when the caller asked for that, and stays unseen.
					if (!this.client.usable) throw await readAhead.cause(error);
					// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- the node maps it, see openPop3Mailbox
					if (!options.continueOnMessageError) throw error;
					outcomes.push({ entry, error: error instanceof Error ? error : new Error(String(error)) });
					continue;
				}
				tracker.markSeen(entry.uidl, { deletionPending: options.deleteAfter });
				outcomes.push({ entry, value });
				if (options.deleteAfter) await readAhead.sendingAfter(() => this.delete(entry));
			}
		} finally {
			readAhead.abandon();
		}
		return { outcomes, remaining: unseen.length - batch.length, retriedDeletions };
	}

	/**
	 * QUIT: the server now applies the deletions (and Gmail marks downloaded messages as popped). Returns the UIDLs
	 * whose deletion is thereby confirmed. Throws if the server does not confirm; the connection is closed either way.
	 */
	async quit(): Promise<string[]> {
		await this.client.quit();
		return [...this.markedForDeletion];
	}

	/**
	 * Ends the session after a run whose items exist. With `quit` (and a connection still usable) sends QUIT, and the
	 * server applies this session's deletions; a QUIT it does not confirm is returned as `quitError`, not thrown,
	 * because the run's items are already made and only the deletions are in doubt. Without `quit` the connection is
	 * dropped and the server applies nothing. The connection is closed either way.
	 */
	async end(options: { quit: boolean }): Promise<Pop3SessionEnd> {
		if (!this.client.usable || !options.quit) {
			this.destroy();
			return {};
		}
		try {
			return { confirmedDeletions: new Set(await this.quit()) };
		} catch (error) {
			this.destroy();
			return { quitError: error instanceof Error ? error : new Error(String(error)) };
		}
	}

	/**
	 * Ends the session without QUIT: the server applies no deletion and (Gmail) marks nothing as popped.
	 * Used after a failure, and by runs that must leave the mailbox as it was.
	 */
	destroy(): void {
		this.client.destroy();
	}
}

export { PIPELINE_MAX_BYTES, PIPELINE_MAX_MESSAGES, READ_AHEAD_MAX_BYTES } from './readAhead';
