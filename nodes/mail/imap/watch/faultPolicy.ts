/** One policy for retried faults: backoff with jitter, a log line per failure, one report when the fault lasts. */
import type { WatcherLog } from './log';

export interface FaultPolicyOptions {
	/** Delay before jitter after `failures` consecutive failures (≥ 1). */
	baseDelayMs(failures: number): number;
	/** Logged at warn from this many failures on; before that at `quietLevel` (or not at all). */
	warnFrom: number;
	quietLevel?: 'debug';
	logText: string;
	/** Reported once when failing for this long, or (if set) after this many failures. */
	reportAfterMs: number;
	reportAfterAttempts?: number;
	reportText(failingForMs: number, attempts: number, lastError: string): string;
}

export interface Clock {
	now(): number;
	random(): number;
}

export class FaultPolicy {
	private failures = 0;
	private failingSince?: number;
	private reported = false;

	constructor(
		private readonly options: FaultPolicyOptions,
		private readonly clock: Clock,
		private readonly log: WatcherLog,
		private readonly report: (error: Error) => void,
	) {}

	/** One more failure: logged, and reported (once per fault) when it has lasted. */
	fail(reason: string): void {
		this.failures++;
		const now = this.clock.now();
		this.failingSince ??= now;
		const failingFor = now - this.failingSince;
		const level = this.failures >= this.options.warnFrom ? 'warn' : this.options.quietLevel;
		if (level) this.log[level](this.options.logText, { attempts: this.failures, error: reason });
		const lasting =
			failingFor >= this.options.reportAfterMs ||
			(this.options.reportAfterAttempts !== undefined && this.failures >= this.options.reportAfterAttempts);
		if (lasting && !this.reported) {
			this.reported = true;
			this.report(new Error(this.options.reportText(failingFor, this.failures, reason)));
		}
	}

	/** The wait before the next attempt: 0 without failures, else the base delay between half and all of it (jitter). */
	delayMs(): number {
		if (this.failures === 0) return 0;
		// Jitter: between half and the full delay, so many triggers do not retry in lockstep.
		return Math.round(this.options.baseDelayMs(this.failures) * (0.5 + this.clock.random() * 0.5));
	}

	/** The fault is over. */
	reset(): void {
		this.failures = 0;
		this.failingSince = undefined;
		this.reported = false;
	}
}
