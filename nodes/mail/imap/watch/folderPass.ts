/** One pass over every watched folder: STATUS or SELECT, reselect, missing-folder grace, UIDVALIDITY, after-run actions, catch-up. */
import type { FolderCheckpoint } from '../checkpoint';
import { isMailboxMissing } from '../client';
import type { ImapSession } from '../session';
import { alignCheckpoint } from './admission';
import type { Mailbox } from './admission';
import type { AfterRunQueue } from './afterRun';
import type { CatchUp } from './catchUp';
import type { WatcherConfig, WatcherDeps } from './config';
import { WatcherConfigurationError, errorText } from './errors';
import type { InFlightRecord } from './inFlight';
import type { WatcherLog } from './log';
import type { MessageReader } from './reader';
import type { Recovery } from './recovery';
import type { RetryList } from './retryList';

/** What a folder pass works with besides catch-up. */
export interface FolderPassParts {
	afterRun: AfterRunQueue;
	recovery: Recovery;
	catchUp: CatchUp;
	inFlight?: InFlightRecord;
	retries: RetryList;
	reader: MessageReader;
	log: WatcherLog;
	now: () => number;
	signal: AbortSignal;
	fatal: (error: unknown) => void;
}

type PassConfig = Pick<WatcherConfig, 'folders' | 'start' | 'missingFolderGraceMs'>;

export class FolderPass {
	/** The IDLE folder's path as the server spells it (INBOX is case-insensitive). */
	idlePath?: string;
	/** Since when each folder has been missing (absent: it exists). */
	private readonly missingSince = new Map<string, number>();
	/** How many times a session reported new mail (EXISTS growth) so far: see noteNewMail. */
	private newMailSignals = 0;
	/**
	 * The IDLE folder as its last complete catch-up left it: still selected on that session, nothing after `lastUid`
	 * then, and `signals` as counted before that pass's first command. Until another EXISTS, nothing new can be there.
	 */
	private quiet?: { session: ImapSession; folder: string; uidValidity: string; lastUid: number; signals: number };

	private readonly afterRun: AfterRunQueue;
	private readonly log: WatcherLog;
	private readonly now: () => number;
	private readonly signal: AbortSignal;

	constructor(
		private readonly config: PassConfig,
		private readonly deps: Pick<WatcherDeps, 'checkpoints'>,
		private readonly parts: FolderPassParts,
	) {
		this.idlePath = config.folders[0];
		this.afterRun = parts.afterRun;
		this.log = parts.log;
		this.now = parts.now;
		this.signal = parts.signal;
	}

	/**
	 * One pass over every folder. The IDLE folder comes last and is checked while SELECTed, and stays selected:
	 * a message that arrives after its SELECT produces an EXISTS (→ another pass), one that arrived before is found
	 * by the search, so nothing can slip between the check and the IDLE. If that folder is missing, IDLE moves to the
	 * first other folder that exists (checked again while selected, for the same reason). `verify`: reselect the
	 * IDLE folder by name first (see reselect).
	 */
	async run(session: ImapSession, verify: () => boolean): Promise<void> {
		const preferred = this.config.folders[0];
		const present: string[] = [];
		for (const folder of this.config.folders.slice(1)) {
			if (this.signal.aborted) return;
			if (await this.checkFolder(session, folder, false, verify)) present.push(folder);
		}
		if (this.signal.aborted) return;
		let idleFolder: string | undefined = preferred;
		if (!(await this.checkFolder(session, preferred, true, verify))) {
			idleFolder = present[0];
			if (idleFolder !== undefined && !this.signal.aborted) await this.checkFolder(session, idleFolder, true, verify);
		}
		if (idleFolder !== undefined && session.client.mailbox) this.idlePath = session.client.mailbox.path;
	}

	/** A session reported new mail (EXISTS growth, in any folder): the next pass searches the IDLE folder again. */
	noteNewMail(): void {
		this.newMailSignals++;
	}

	/** Catches one folder up. Returns false when the folder does not exist (right now). */
	private async checkFolder(session: ImapSession, folder: string, select: boolean, verify: () => boolean): Promise<boolean> {
		const client = session.client;
		const checkpoint = this.deps.checkpoints.get(folder);
		// Read before any command: new mail reported from here on makes the next pass search.
		const signals = this.newMailSignals;
		try {
			if (
				!select &&
				checkpoint?.uidValidity !== undefined &&
				!checkpoint.backlog &&
				!this.afterRun.has(folder) &&
				!this.parts.recovery.hasDue(folder)
			) {
				const status = await client.status(folder, { uidNext: true, uidValidity: true });
				// Nothing new exactly when UIDNEXT is right after the last UID judged; below it the server went back (a
				// restore), which the SELECT below deals with.
				if (
					status &&
					String(status.uidValidity) === checkpoint.uidValidity &&
					status.uidNext !== undefined &&
					status.uidNext === checkpoint.lastUid + 1
				) {
					this.folderFound(folder);
					return true;
				}
			}
			// A folder deleted and recreated while it is selected: Dovecot does not tell the session, keeps answering for
			// the old folder (even STATUS gives the old UIDVALIDITY), and sometimes ends it later with "session state is
			// inconsistent". Selecting the folder again by name opens whatever now has that name; the UIDVALIDITY rule
			// does the rest. Done on poll passes and the first pass of each session (a SELECT is cheap).
			const reselected = select && verify();
			if (reselected) await client.mailboxOpen(folder);
			const selectedBefore = reselected ? undefined : client.mailbox;
			const lock = await client.getMailboxLock(folder);
			try {
				// imapflow makes a new mailbox object at every SELECT, and keeps UIDNEXT current only there.
				const fresh = reselected || client.mailbox !== selectedBefore;
				this.folderFound(folder);
				const mailbox = client.mailbox;
				if (!mailbox) throw new Error(`Folder "${folder}" could not be selected`);
				// Between SELECTs imapflow raises its UIDNEXT only from FETCH answers, so it lags behind a message judged
				// without a FETCH (rejected by the filter, gone meanwhile): a lower bound, never a sign the folder went back.
				const sameFolder = checkpoint !== undefined && checkpoint.uidValidity === String(mailbox.uidValidity);
				const uidNext = !fresh && sameFolder ? Math.max(mailbox.uidNext, checkpoint.lastUid + 1) : mailbox.uidNext;
				const current = { uidValidity: String(mailbox.uidValidity), uidNext };
				const aligned = this.align(folder, checkpoint, current);
				await this.afterRun.run(session, folder, current.uidValidity);
				await this.parts.recovery.run(session, folder, current.uidValidity);
				if (this.signal.aborted) return true;
				// Recovery may have moved the stored checkpoint (its recent ring): catch up from the stored one.
				const from = this.deps.checkpoints.get(folder) ?? aligned;
				// Once per session, at its first pass: can small messages come with their attributes?
				if (select) await this.parts.reader.partialRanges.learn(session);
				// Only the IDLE folder stays selected (and announces new mail) between passes.
				const quietAt = (lastUid: number) => (this.quiet = { session, folder, uidValidity: current.uidValidity, lastUid, signals });
				if (this.nothingNew(session, folder, from, current, fresh)) {
					if (select && fresh) quietAt(from.lastUid);
					return true;
				}
				const complete = await this.parts.catchUp.run(session, folder, from);
				if (select) {
					const stored = this.deps.checkpoints.get(folder);
					if (complete && stored) quietAt(stored.lastUid);
					else this.quiet = undefined;
				}
			} finally {
				lock.release();
			}
			return true;
		} catch (error) {
			// Anything but a missing folder ends this session's pass; the supervisor reconnects.
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error
			if (!isMailboxMissing(error) || !session.isOpen) throw error;
			this.folderMissing(folder, error);
			return false;
		}
	}

	/**
	 * Whether the folder's search can be skipped. Just selected, with UIDNEXT right after the last UID judged: nothing
	 * new at the SELECT, and anything after it comes as EXISTS (the IDLE folder: another pass) or shows at the next
	 * poll (other folders, as STATUS lets them skip it). Or the IDLE folder, selected since a complete catch-up on this
	 * session with no EXISTS since (a pass for an after-run action only): nothing can have arrived unannounced.
	 */
	private nothingNew(session: ImapSession, folder: string, from: FolderCheckpoint, current: Mailbox, fresh: boolean): boolean {
		if (from.backlog || from.uidValidity !== current.uidValidity) return false;
		if (fresh) return current.uidNext === from.lastUid + 1;
		const quiet = this.quiet;
		return (
			quiet !== undefined &&
			quiet.session === session &&
			quiet.folder === folder &&
			quiet.uidValidity === current.uidValidity &&
			quiet.lastUid === from.lastUid &&
			quiet.signals === this.newMailSignals
		);
	}

	/** Applies the UIDVALIDITY rule and fills in positions that were taken without the server. */
	private align(folder: string, checkpoint: FolderCheckpoint | undefined, mailbox: Mailbox): FolderCheckpoint {
		const aligned = alignCheckpoint(checkpoint, mailbox, this.config.start, this.now());
		if (!aligned.change) return aligned.checkpoint;
		if (aligned.change === 'uidValidity' || aligned.change === 'uidNextBackwards') {
			if (aligned.change === 'uidValidity') {
				this.log.warn(
					`folder "${folder}" has a new UIDVALIDITY (it was recreated or the server was migrated); emitting only messages newer than the last one seen`,
					{ previous: checkpoint?.uidValidity, current: mailbox.uidValidity },
				);
			} else {
				this.log.warn(
					`folder "${folder}" went back: its UIDNEXT ${mailbox.uidNext} is at or below UID ${checkpoint?.lastUid}, already seen, under the same UIDVALIDITY (the server was restored from a backup?); handled like a new UIDVALIDITY: emitting only messages newer than the last one seen`,
					{ uidValidity: mailbox.uidValidity },
				);
			}
			// Everything kept by UID for this folder would hit different messages now.
			const reason = aligned.change === 'uidValidity' ? 'the folder was recreated' : 'the folder went back to older UIDs';
			this.afterRun.drop(folder, reason);
			this.parts.inFlight?.dropFolder(folder, reason);
			this.parts.retries.dropFolder(folder, reason);
			this.parts.reader.forget(folder);
		}
		this.deps.checkpoints.set(folder, aligned.checkpoint);
		return aligned.checkpoint;
	}

	private folderFound(folder: string): void {
		if (this.missingSince.has(folder)) {
			this.log.info(`folder "${folder}" is back`);
			this.missingSince.delete(folder);
		}
	}

	/** A missing folder is checked again on every pass; missing for longer than the grace period, it ends the trigger. */
	private folderMissing(folder: string, error: unknown): void {
		const now = this.now();
		// Pending after-run actions of this folder are void: a folder created again under its name holds other messages.
		this.afterRun.drop(folder, 'the folder does not exist any more');
		const since = this.missingSince.get(folder);
		if (since === undefined) {
			this.missingSince.set(folder, now);
			this.log.warn(`folder "${folder}" does not exist (any more); checking again`, { error: errorText(error) });
			return;
		}
		if (now - since >= this.config.missingFolderGraceMs) {
			this.parts.fatal(
				new WatcherConfigurationError(
					`The watched folder "${folder}" has not existed for ${Math.round((now - since) / 1000)} s. Create it again or remove it from the trigger.`,
				),
			);
		}
	}
}
