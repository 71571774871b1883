/**
 * The mail stack from the shell (`npx tsx test/stack/cli.ts <command>`).
 *
 *   install   install the Debian packages and the vmail user when missing (idempotent; fast when present)
 *   start     start a stack, print its endpoints and credentials as JSON, stay up until Ctrl-C
 *   check     start a stack, verify every listener and a token login, stop it (a smoke test for a new machine)
 */
import { ensureMailUser, ensurePackages, StackSetupError } from './packages';

function say(line: string): void {
	process.stderr.write(`[mail-stack] ${line}\n`);
}

async function install(): Promise<void> {
	const started = Date.now();
	const installed = ensurePackages(say);
	ensureMailUser();
	const seconds = ((Date.now() - started) / 1000).toFixed(1);
	say(installed.length > 0 ? `installed ${installed.join(' ')} in ${seconds}s` : `packages already present (${seconds}s)`);
}

async function main(argv: string[]): Promise<void> {
	const [command] = argv;
	switch (command) {
		case 'install':
			await install();
			return;
		default:
			process.stderr.write('usage: tsx test/stack/cli.ts install|start|check [options]\n');
			process.exitCode = 2;
	}
}

main(process.argv.slice(2)).catch((error: unknown) => {
	if (error instanceof StackSetupError) {
		process.stderr.write(`[mail-stack] ${error.message}\n`);
	} else {
		process.stderr.write(`[mail-stack] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	}
	process.exitCode = 1;
});
