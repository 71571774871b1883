/** The order of a POP3 session's commands: each runs after the one before has been answered (and its body read). */

export interface QueuedResult<T> {
	value: T;
	/** The next command starts only once this settles (a RETR body read to the end or destroyed). */
	settled?: Promise<unknown>;
}

const noop = (): undefined => undefined;

export class CommandQueue {
	private chain: Promise<unknown> = Promise.resolve();
	private waitingToBeSent = 0;

	/**
	 * Queued commands whose line is not written yet. A command may be written ahead of its turn (PIPELINING) only when
	 * this is 0: lines must reach the server in the order their replies are read.
	 */
	get unsent(): number {
		return this.waitingToBeSent;
	}

	/** Runs `task` after every command queued before it; `sentAhead`: its line was already written (pipelined). */
	run<T>(task: () => Promise<QueuedResult<T>>, options: { sentAhead?: boolean } = {}): Promise<T> {
		const waitsToBeSent = options.sentAhead !== true;
		if (waitsToBeSent) this.waitingToBeSent++;
		const run = this.chain.then(() => {
			// A task writes its command line in its first synchronous step, so from here on it counts as sent.
			if (waitsToBeSent) this.waitingToBeSent--;
			return task();
		});
		this.chain = run.then((result) => result.settled?.then(noop, noop), noop);
		return run.then((result) => result.value);
	}
}
