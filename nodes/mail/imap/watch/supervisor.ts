/** The session supervisor: keeps one session serving passes; reconnects with backoff, rolls over, stops at abort. */
import type { ImapSession } from '../session';
import type { WatcherConfig, WatcherDeps } from './config';
import { SessionEndedError, WatcherConfigurationError, errorText, isCredentialProblem } from './errors';
import type { Clock } from './faultPolicy';
import { FaultPolicy } from './faultPolicy';
import { sleep } from './abort';
import type { WatcherLog } from './log';
import { Rollover } from './rollover';
import type { WakeScheduler } from './wake';

export interface SupervisorHooks {
	/** One pass over every folder on this session. */
	pass(session: ImapSession): Promise<void>;
	/** False once no more passes may run (manual mode's emit limit). */
	passesAllowed(): boolean;
	/** New mail in this folder (IDLE 'exists'). */
	onExists(path: string, count: number, prevCount: number): void;
	fatal(error: unknown): void;
}

export class SessionSupervisor {
	current?: ImapSession;
	/** The server is Gmail (X-GM-EXT-1): metadata includes labels and thread ids. */
	gmail = false;
	readonly rollover: Rollover;
	private readonly outage: FaultPolicy;
	private consecutiveTokenRejections = 0;

	constructor(
		private readonly config: WatcherConfig,
		private readonly deps: Pick<WatcherDeps, 'openSession' | 'isUnrecoverable' | 'reportPersistentFault'>,
		clock: Clock,
		private readonly log: WatcherLog,
		private readonly signal: AbortSignal,
		private readonly wake: WakeScheduler,
		private readonly hooks: SupervisorHooks,
	) {
		const report = (error: Error) => deps.reportPersistentFault(error);
		this.outage = new FaultPolicy(
			{
				baseDelayMs: (failures) =>
					failures === 1 ? config.firstRetryMs : Math.min(config.maxBackoffMs, config.initialBackoffMs * 2 ** (failures - 2)),
				warnFrom: 3,
				logText: 'still cannot reach the mailbox, retrying',
				reportAfterMs: config.persistentFaultMs,
				reportAfterAttempts: config.persistentFaultAttempts,
				reportText: (failingFor, attempts, lastError) =>
					`The mailbox has been unreachable for ${Math.round(failingFor / 1000)} s (${attempts} attempts); the trigger keeps retrying. Last error: ${lastError}`,
			},
			clock,
			log,
			report,
		);
		this.rollover = new Rollover(config, clock, log, signal, {
			open: async (label, minTokenValidityMs) => await this.open(label, minTokenValidityMs),
			adopt: (next) => (this.current = next),
			isUnrecoverable: (error) => deps.isUnrecoverable(error),
			fatal: (error) => hooks.fatal(error),
			poke: () => wake.poke(),
			reportPersistentFault: report,
		});
	}

	/** Opens a session; one that opens after stop is destroyed at once. */
	async open(label: string, minTokenValidityMs?: number): Promise<ImapSession> {
		const session = await this.deps.openSession(label, {
			minTokenValidityMs,
			onExists: (path, count, prevCount) => this.hooks.onExists(path, count, prevCount),
		});
		if (this.signal.aborted) {
			session.destroy();
			throw new Error('stopped');
		}
		this.gmail = session.client.capabilities.has('X-GM-EXT-1');
		return session;
	}

	/** Serves passes until stop: on the current session, then on each new one. */
	async run(): Promise<void> {
		while (!this.signal.aborted) {
			let session = this.current;
			if (!session || !session.isOpen) {
				session = await this.reconnect();
				if (!session) return;
				this.current = session;
			}
			try {
				await this.serve(session);
			} catch (error) {
				if (this.signal.aborted) return;
				// After a rollover serve() works on the newer session (this.current): that is the one that failed. Ending
				// the old one instead would leave the failing session in place and retry on it at once, without backoff.
				this.handleSessionFailure(this.current ?? session, error);
			}
		}
	}

	/** Runs passes on one session until it ends (or is replaced by a rollover). */
	private async serve(session: ImapSession): Promise<void> {
		this.wakeOnEnd(session);
		this.rollover.schedule(session);
		this.wake.restart();
		let active = session;
		while (!this.signal.aborted) {
			if (!active.isOpen) throw new SessionEndedError(await active.ended);
			if (this.rollover.due) {
				this.rollover.due = false;
				const next = await this.rollover.renew(active);
				if (next) {
					active = next;
					this.wakeOnEnd(next);
					this.wake.restart();
				}
				continue;
			}
			if (this.wake.take(this.hooks.passesAllowed())) {
				await this.hooks.pass(active);
				this.madeProgress();
				continue;
			}
			await this.wake.wait(() => this.rollover.due || !active.isOpen);
		}
	}

	/** One listener per session (not per wait, which would pile up closures on a long-lived session). */
	private wakeOnEnd(session: ImapSession): void {
		void session.ended.then(() => this.wake.poke());
	}

	private madeProgress(): void {
		this.consecutiveTokenRejections = 0;
		this.outage.reset();
	}

	private handleSessionFailure(session: ImapSession, error: unknown): void {
		session.destroy();
		this.rollover.cancel();
		if (this.current === session) this.current = undefined;
		if (this.deps.isUnrecoverable(error) || error instanceof WatcherConfigurationError) {
			this.hooks.fatal(error);
			return;
		}
		const end = error instanceof SessionEndedError ? error.end : undefined;
		this.log.debug('session ended, reconnecting', {
			session: session.description,
			reason: end?.byeReason ?? errorText(end?.error ?? error),
		});
		this.outage.fail(errorText(error));
	}

	/** Opens a new session after backoff; undefined when stopped or after a fatal error. */
	private async reconnect(): Promise<ImapSession | undefined> {
		while (!this.signal.aborted) {
			const wait = this.outage.delayMs();
			// Only stop() cuts the wait short (mail notifications cannot arrive without a session anyway).
			if (wait > 0) await sleep(wait, this.signal);
			if (this.signal.aborted) return undefined;
			try {
				const session = await this.open('watch');
				this.consecutiveTokenRejections = 0;
				return session;
			} catch (error) {
				if (this.signal.aborted) return undefined;
				if (this.deps.isUnrecoverable(error)) {
					this.hooks.fatal(error);
					return undefined;
				}
				if (isCredentialProblem(error)) {
					// The server refused a freshly refreshed token, or the token endpoint refused the client: a retry
					// rarely helps, but one glitch should not end the trigger. A few in a row do (bounded token requests).
					this.consecutiveTokenRejections++;
					if (this.consecutiveTokenRejections >= this.config.maxConsecutiveTokenRejections) {
						this.hooks.fatal(error);
						return undefined;
					}
				}
				this.outage.fail(errorText(error));
			}
		}
		return undefined;
	}
}
