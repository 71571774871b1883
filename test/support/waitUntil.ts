/**
 * Real-time polling for tests on real sockets and servers (suites on jest's fake clock use watcherHarness's waitFor).
 * Waits for the outcome itself, never a fixed pause: a stall of the event loop (a major GC late in the in-band run)
 * can make a fake server's timer and the test's timer due together, so a pause of any length can end before the
 * socket's I/O is read (docs/testing.md). The deadline is generous because a passing test never reaches it.
 */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await predicate())) {
		if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}
