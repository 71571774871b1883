/**
 * Runs around every integration test file (setupFilesAfterEnv): a crash of the mail stack fails the file during
 * which it happened, next to the tests that caused it. The run's teardown fails as well (see globalTeardown.ts).
 */
import { getStack } from '../index';

let crashesBefore = 0;

beforeAll(() => {
	crashesBefore = getStack().crashes().length;
});

afterAll(() => {
	const crashes = getStack().crashes();
	if (crashes.length > crashesBefore) {
		throw new Error(`The mail stack crashed during this file (logs in ${getStack().dir}/logs):\n${crashes.slice(crashesBefore).join('\n')}`);
	}
});
