/**
 * Jest global teardown: stop the run's stack by PID, and fail the run loudly if Dovecot or Postfix crashed during it
 * (Dovecot 2.3.19's auth process can SIGSEGV on some JWT shapes; such a crash must never pass as a flaky login).
 */
import type { RunningStack } from '../index';
import { RUNNING_STACK_KEY } from './globalSetup';

export default async function globalTeardown(): Promise<void> {
	const holder = globalThis as typeof globalThis & { [RUNNING_STACK_KEY]?: RunningStack };
	const stack = holder[RUNNING_STACK_KEY];
	if (!stack) return;
	holder[RUNNING_STACK_KEY] = undefined;
	const crashes = stack.crashes();
	await stack.stop();
	if (crashes.length > 0) {
		throw new Error(`The mail stack crashed during the run (logs in ${stack.dir}/logs):\n${crashes.join('\n')}`);
	}
}
