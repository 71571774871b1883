/** Waits that end early when the watcher stops (its AbortSignal). */

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
	return new Promise<void>((resolve) => {
		if (signal.aborted) return resolve();
		const finish = () => {
			clearTimeout(timer);
			signal.removeEventListener('abort', finish);
			resolve();
		};
		const timer = setTimeout(finish, ms);
		signal.addEventListener('abort', finish, { once: true });
	});
}

/** Runs `callback` when `signal` aborts (at once if it already has). */
export function onAbort(signal: AbortSignal, callback: () => void): void {
	if (signal.aborted) callback();
	else signal.addEventListener('abort', callback, { once: true });
}

/** A timer that does not keep the process alive (for bounded waits after a stop). */
export function unrefDelay(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
