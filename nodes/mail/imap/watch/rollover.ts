/** Token rollover: a new session opened before the current one's token expires (then the old one is retired). */
import type { ImapSession } from '../session';
import { onAbort } from './abort';
import type { WatcherConfig } from './config';
import { errorText } from './errors';
import type { Clock } from './faultPolicy';
import { FaultPolicy } from './faultPolicy';
import type { WatcherLog } from './log';

type RolloverConfig = Pick<
	WatcherConfig,
	'rolloverLeadFraction' | 'rolloverMinLeadMs' | 'rolloverMaxLeadMs' | 'maxTimerWaitMs' | 'initialBackoffMs' | 'persistentFaultMs'
>;

export interface RolloverHooks {
	open(label: string, minTokenValidityMs: number): Promise<ImapSession>;
	/** The new session replaces the old one (before the old one is retired). */
	adopt(next: ImapSession): void;
	isUnrecoverable(error: unknown): boolean;
	fatal(error: unknown): void;
	/** The rollover became due: end the serving loop's wait. */
	poke(): void;
	reportPersistentFault(error: Error): void;
}

/** How long before its token expires a session is replaced: a fraction of the token's lifetime, clamped. */
export function rolloverLead(session: Pick<ImapSession, 'tokenExpiresAt' | 'openedAt'>, config: RolloverConfig): number {
	const lifetime = Math.max(0, (session.tokenExpiresAt ?? session.openedAt) - session.openedAt);
	return Math.min(config.rolloverMaxLeadMs, Math.max(config.rolloverMinLeadMs, lifetime * config.rolloverLeadFraction));
}

export class Rollover {
	/** Set when the rollover is due; the serving loop clears it and calls renew(). */
	due = false;
	private timer?: NodeJS.Timeout;
	private readonly failures: FaultPolicy;

	constructor(
		private readonly config: RolloverConfig,
		private readonly clock: Clock,
		private readonly log: WatcherLog,
		private readonly signal: AbortSignal,
		private readonly hooks: RolloverHooks,
	) {
		this.failures = new FaultPolicy(
			{
				// The token endpoint is not hammered: doubling up to 30 s.
				baseDelayMs: (failures) => Math.min(30_000, config.initialBackoffMs * 2 ** (failures - 1)),
				warnFrom: 3,
				quietLevel: 'debug',
				logText: 'could not open the next session before the token expires, retrying',
				reportAfterMs: config.persistentFaultMs,
				reportText: (failingFor, _attempts, reason) =>
					`Renewing the mailbox session has failed for ${Math.round(failingFor / 1000)} s; the trigger keeps watching on the current session and retrying. Last error: ${reason}`,
			},
			clock,
			log,
			(error) => hooks.reportPersistentFault(error),
		);
		onAbort(signal, () => this.cancel());
	}

	/** Arms the rollover for this session's token (nothing when its expiry is unknown). */
	schedule(session: ImapSession): void {
		this.cancel();
		const expiresAt = session.tokenExpiresAt;
		if (expiresAt === undefined) return;
		this.arm(expiresAt - rolloverLead(session, this.config));
	}

	cancel(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = undefined;
		this.due = false;
	}

	/**
	 * Opens the next session with a token that outlives the current one, adopts it, and retires the old one. The old
	 * session keeps IDLEing while the new one logs in, so there is no gap; the next pass on the new session catches
	 * up anything that arrived meanwhile. Undefined: the old session stays (not due yet, or retried later).
	 */
	async renew(old: ImapSession): Promise<ImapSession | undefined> {
		const now = this.clock.now();
		const expiresAt = old.tokenExpiresAt ?? now;
		if (old.tokenExpiresAt !== undefined && expiresAt - now > rolloverLead(old, this.config) + this.config.rolloverMinLeadMs) {
			// Not due yet (a timer that fired early): asking for a token that outlives this one would force a refresh.
			this.schedule(old);
			return undefined;
		}
		const lead = Math.max(this.config.rolloverMinLeadMs, expiresAt - this.clock.now());
		let next: ImapSession;
		try {
			next = await this.hooks.open('rollover', lead + this.config.rolloverMinLeadMs);
		} catch (error) {
			if (this.signal.aborted) return undefined;
			if (this.hooks.isUnrecoverable(error)) {
				this.hooks.fatal(error);
				return undefined;
			}
			// Keep the old session (it works until the server ends it) and try again with backoff: the token endpoint
			// may be down, and hammering it would not bring it back sooner.
			this.retryLater(errorText(error));
			return undefined;
		}
		this.hooks.adopt(next);
		this.log.debug('rolled over to a new session before the token expired', { old: old.description, new: next.description });
		void old.retire(1000);
		if (old.tokenExpiresAt !== undefined && next.tokenExpiresAt !== undefined && next.tokenExpiresAt <= old.tokenExpiresAt) {
			// The token endpoint handed out a token that expires no later than the old one (a cached token). Renewing
			// again at once would only repeat that in a loop: keep the new session and retry with backoff. Should the
			// token run out meanwhile, the server ends the session and the watcher reconnects.
			this.retryLater('the token endpoint returned a token that expires no later than the current one');
		} else {
			this.failures.reset();
			this.schedule(next);
		}
		return next;
	}

	/** Sets `due` at `dueAt`, in steps of at most maxTimerWaitMs (setTimeout overflows above ~24.8 days). */
	private arm(dueAt: number): void {
		const wait = Math.max(0, dueAt - this.clock.now());
		this.timer = setTimeout(
			() => {
				if (this.signal.aborted) return;
				if (this.clock.now() < dueAt) {
					this.arm(dueAt);
					return;
				}
				this.becomeDue();
			},
			Math.min(wait, this.config.maxTimerWaitMs),
		);
	}

	/** A renewal that did not work: retried with backoff, reported if it lasts. */
	private retryLater(reason: string): void {
		this.failures.fail(reason);
		this.timer = setTimeout(() => this.becomeDue(), this.failures.delayMs());
	}

	private becomeDue(): void {
		this.due = true;
		this.hooks.poke();
	}
}
