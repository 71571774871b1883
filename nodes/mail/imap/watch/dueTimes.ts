/** When each pending piece of work is due again, with one timer per entry that asks for a pass at that moment. */
import { onAbort } from './abort';

export class DueTimes {
	private readonly due = new Map<string, number>();
	private readonly timers = new Map<string, NodeJS.Timeout>();

	constructor(
		private readonly now: () => number,
		/** Asks for a pass over the folders (the work is done there). */
		private readonly wake: () => void,
		private readonly signal: AbortSignal,
		/** Longest single timer wait; a later due time is still kept, only its wake-up comes early (a harmless pass). */
		private readonly maxTimerWaitMs: number,
	) {
		onAbort(signal, () => {
			for (const timer of this.timers.values()) clearTimeout(timer);
			this.timers.clear();
		});
	}

	/** Due at `at` (epoch ms); a pass is asked for then. */
	set(key: string, at: number): void {
		this.due.set(key, at);
		this.clearTimer(key);
		if (this.signal.aborted) return;
		const wait = Math.max(0, Math.min(at - this.now(), this.maxTimerWaitMs));
		const timer = setTimeout(() => {
			this.timers.delete(key);
			this.wake();
		}, wait);
		timer.unref?.();
		this.timers.set(key, timer);
	}

	isDue(key: string): boolean {
		const at = this.due.get(key);
		return at !== undefined && at <= this.now();
	}

	has(key: string): boolean {
		return this.due.has(key);
	}

	delete(key: string): void {
		this.due.delete(key);
		this.clearTimer(key);
	}

	private clearTimer(key: string): void {
		const timer = this.timers.get(key);
		if (timer) clearTimeout(timer);
		this.timers.delete(key);
	}
}
