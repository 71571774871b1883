/** Activation: configuration checks that need the server, first positions of new folders, and start errors worded for the user. */
import type { FolderCheckpoint } from '../checkpoint';
import { initialCheckpoint } from '../checkpoint';
import type { ImapClient } from '../client';
import { isMailboxMissing } from '../client';
import { postActionProblem } from '../postActions';
import { andSearch, usesGmailOnlyKeys } from '../search';
import type { ImapSession } from '../session';
import { toEpoch } from './admission';
import type { WatcherConfig, WatcherDeps } from './config';
import { WatcherConfigurationError, errorText, isCredentialProblem, uidsFrom } from './errors';
import { fetchMetadata } from './reader';

type ActivationDeps = Pick<WatcherDeps, 'checkpoints' | 'isUnrecoverable' | 'isOwnError'>;

export class Activation {
	constructor(
		private readonly config: WatcherConfig,
		private readonly deps: ActivationDeps,
		private readonly now: () => number,
	) {}

	/** Checks the configuration against the server and writes a checkpoint for every folder seen for the first time. */
	async prepare(session: ImapSession, gmail: boolean): Promise<void> {
		const client = session.client;
		const problem = postActionProblem(this.config.postActions, client.capabilities, this.config.folders);
		if (problem) throw new WatcherConfigurationError(problem);
		if (usesGmailOnlyKeys(this.config.filter) && !client.capabilities.has('X-GM-EXT-1')) {
			throw new WatcherConfigurationError('The Gmail search (X-GM-RAW / labels) needs a Gmail server; this server does not offer X-GM-EXT-1');
		}
		const checkpoints = this.deps.checkpoints;
		let newest: { folder: string; uid: number; date: number } | undefined;
		for (const folder of this.config.folders) {
			const status = await client.status(folder, { uidNext: true, uidValidity: true });
			if (!status || status.uidNext === undefined || status.uidValidity === undefined) {
				throw new WatcherConfigurationError(`The server did not report the state of folder "${folder}"`);
			}
			const mailbox = { uidValidity: String(status.uidValidity), uidNext: status.uidNext };
			if (this.config.startAtNewestMatch) {
				// Manual "Test step": nothing is saved; every folder starts at "now" and the newest match is found below.
				checkpoints.set(folder, initialCheckpoint({ mode: 'new' }, this.now(), mailbox));
				const match = await this.newestMatch(client, folder, gmail);
				if (match && (!newest || match.date > newest.date)) newest = { folder, ...match };
				continue;
			}
			if (!checkpoints.get(folder)) checkpoints.set(folder, initialCheckpoint(this.config.start, this.now(), mailbox));
		}
		if (newest) {
			const checkpoint = checkpoints.get(newest.folder) as FolderCheckpoint;
			checkpoints.set(newest.folder, { ...checkpoint, lastUid: newest.uid - 1 });
		}
		if (this.config.filter) {
			// Let the server judge the filter once now, so a rejected search fails the activation, not a later pass.
			const lock = await client.getMailboxLock(this.config.folders[0]);
			try {
				const result = await client.search(andSearch({ uid: '*' }, this.config.filter), { uid: true });
				if (result === false) throw new WatcherConfigurationError('The mail server rejected the search filter');
				uidsFrom(result, 'the check of the search filter');
			} finally {
				lock.release();
			}
		}
	}

	/** No server at activation: folders without a checkpoint start by time (see initialCheckpoint). */
	positionOffline(): void {
		for (const folder of this.config.folders) {
			if (!this.deps.checkpoints.get(folder)) this.deps.checkpoints.set(folder, initialCheckpoint(this.config.start, this.now()));
		}
	}

	/** Whether a failed activation ends the activation, rather than letting the watcher retry in the background. */
	isPermanent(error: unknown, failFast: boolean): boolean {
		return failFast || error instanceof WatcherConfigurationError || isMailboxMissing(error) || this.deps.isUnrecoverable(error);
	}

	/** The error a failed activation reports. */
	startError(error: unknown): Error {
		// The caller's own errors and the token source's (reconnect needed, token refused after refresh, ...) already say
		// what to do.
		if (error instanceof WatcherConfigurationError || this.deps.isOwnError?.(error)) return error as Error;
		if (this.deps.isUnrecoverable(error)) return error as Error;
		if (isMailboxMissing(error)) {
			return new WatcherConfigurationError(`A watched folder does not exist on the server: ${errorText(error)}`);
		}
		if (isCredentialProblem(error)) return error as Error;
		return new Error(`Could not connect to the IMAP server: ${errorText(error)}`);
	}

	/** Manual mode: the newest message of a folder that matches the filter, with its INTERNALDATE. */
	private async newestMatch(client: ImapClient, folder: string, gmail: boolean): Promise<{ uid: number; date: number } | undefined> {
		const lock = await client.getMailboxLock(folder);
		try {
			const matches = uidsFrom(await client.search(this.config.filter ?? { all: true }, { uid: true }), `the search in folder "${folder}"`);
			if (matches.length === 0) return undefined;
			const uid = Math.max(...matches);
			const metadata = await fetchMetadata(client, [uid], gmail);
			return { uid, date: toEpoch(metadata.get(uid)?.internalDate) ?? 0 };
		} finally {
			lock.release();
		}
	}
}
