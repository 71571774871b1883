/** When the next pass over the folders runs: new mail, the poll interval, a finished run, a rollover, or stop. */
import { onAbort } from './abort';

export class WakeScheduler {
	/** A pass over the folders has been asked for. */
	private dirty = true;
	/** The next pass asks STATUS about the selected folder too (poll passes and the first pass of a session). */
	verifySelected = true;
	/** Counts the asks for verification: a pass clears the ask only when none came while it ran (see verified). */
	private verifyAsks = 0;
	private wake?: () => void;
	private pollTimer?: NodeJS.Timeout;

	constructor(private readonly signal: AbortSignal) {
		onAbort(signal, () => {
			if (this.pollTimer) clearInterval(this.pollTimer);
			this.poke();
		});
	}

	/** Every folder is checked at this interval even without an IDLE notification (other folders rely on this). */
	startPolling(intervalMs: number): void {
		if (this.signal.aborted) return;
		this.pollTimer = setInterval(() => {
			this.askVerification();
			this.request();
		}, intervalMs);
	}

	/** Asks for a pass and ends the current wait. */
	request(): void {
		this.dirty = true;
		this.poke();
	}

	/** Asks for a pass without ending a wait (the caller is about to loop anyway). */
	markDirty(): void {
		this.dirty = true;
	}

	/** Ends the current wait without asking for a pass (rollover due, session ended, stop). */
	poke(): void {
		this.wake?.();
	}

	/** A new session: its first pass runs at once and verifies the selected folder. */
	restart(): void {
		this.dirty = true;
		this.askVerification();
	}

	/** Where the asks for verification stand, to pass to verified() once the pass that verified has run. */
	verificationMark(): number {
		return this.verifyAsks;
	}

	/**
	 * The pass that started at `mark` verified the selected folder. An ask that came while it ran (a poll tick during a
	 * long catch-up) stays for the next pass: that tick may have come after the pass's SELECT.
	 */
	verified(mark: number): void {
		if (this.verifyAsks === mark) this.verifySelected = false;
	}

	private askVerification(): void {
		this.verifySelected = true;
		this.verifyAsks++;
	}

	/**
	 * Takes the pending request: true when a pass is to run now. A request while passes are not `allowed` (emit
	 * limit reached) is dropped, as are pending after-run actions alone (those of a folder that cannot be selected
	 * would spin the loop).
	 */
	take(allowed: boolean): boolean {
		const run = this.dirty && allowed;
		this.dirty = false;
		return run;
	}

	/** Waits for the next request or poke; returns at once when one is pending, `ready()` holds, or on stop. */
	wait(ready: () => boolean): Promise<void> {
		return new Promise<void>((resolve) => {
			let settled = false;
			const finish = () => {
				if (settled) return;
				settled = true;
				this.wake = undefined;
				resolve();
			};
			this.wake = finish;
			if (this.dirty || ready() || this.signal.aborted) finish();
		});
	}
}
