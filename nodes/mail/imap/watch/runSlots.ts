/** Backpressure: at most maxRunsInFlight unfinished runs; a run n8n never reports stops holding its slot after a timeout. */
import { onAbort } from './abort';
import type { WatcherLog } from './log';

export class RunSlots {
	/** Runs emitted and not yet reported finished. */
	private inFlight = 0;
	private readonly waiters: Array<() => void> = [];
	private readonly timers = new Set<NodeJS.Timeout>();
	private warnedTimeout = false;

	constructor(
		private readonly maxInFlight: number,
		private readonly timeoutMs: number,
		private readonly log: WatcherLog,
		private readonly signal: AbortSignal,
	) {
		onAbort(signal, () => {
			for (const timer of this.timers) clearTimeout(timer);
			this.timers.clear();
			// An emit waiting for a run slot gives up (and emits nothing).
			for (const resume of this.waiters.splice(0)) resume();
		});
	}

	/** Waits until fewer than maxInFlight runs are unfinished, or stop. */
	async acquire(): Promise<void> {
		while (!this.signal.aborted && this.inFlight >= this.maxInFlight) {
			await new Promise<void>((resolve) => this.waiters.push(resolve));
		}
	}

	/** Takes a slot for a run that starts now; the returned function gives it back (once; later calls do nothing). */
	hold(): () => void {
		let released = false;
		const timeout = setTimeout(() => {
			if (!this.warnedTimeout) {
				this.warnedTimeout = true;
				this.log.warn(
					`a workflow run has not finished after ${Math.round(this.timeoutMs / 1000)} s; it no longer holds back the next messages`,
				);
			}
			release();
		}, this.timeoutMs);
		timeout.unref?.();
		this.timers.add(timeout);
		const release = () => {
			if (released) return;
			released = true;
			clearTimeout(timeout);
			this.timers.delete(timeout);
			this.inFlight = Math.max(0, this.inFlight - 1);
			this.waiters.shift()?.();
		};
		this.inFlight++;
		return release;
	}
}
