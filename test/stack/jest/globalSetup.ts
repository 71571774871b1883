/**
 * Jest global setup: ONE stack for the whole run, shared by every integration (and e2e) test file through the
 * connection file named in GX_STACK_INFO. Safe to list in several projects: a second call reuses the first stack.
 */
import * as path from 'node:path';
import { STACK_INFO_ENV, startStack, type RunningStack } from '../index';

export const RUNNING_STACK_KEY = '__gxMailStack';

export default async function globalSetup(): Promise<void> {
	const holder = globalThis as typeof globalThis & { [RUNNING_STACK_KEY]?: RunningStack };
	if (holder[RUNNING_STACK_KEY]) return;
	const stack = await startStack({ log: (line) => process.stderr.write(`\n[mail-stack] ${line}\n`) });
	const infoFile = path.join(stack.dir, 'connection.json');
	stack.writeInfo(infoFile);
	// Workers are started after global setup and inherit this environment.
	process.env[STACK_INFO_ENV] = infoFile;
	holder[RUNNING_STACK_KEY] = stack;
}
