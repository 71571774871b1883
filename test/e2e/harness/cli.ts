/**
 * Command line for the e2e harness (`npx tsx test/e2e/harness/cli.ts <command>`):
 *
 *   install                      install (or reuse) the pinned n8n + Node 24 and print what and how long
 *   start [--port N] [--user-folder DIR]
 *                                build + install the package, start n8n, print URL / login, run until Ctrl-C
 *
 * `start` with an existing --user-folder keeps its database (workflows, credentials, owner) but reinstalls the freshly
 * built package; its encryption key is kept in <user folder>/e2e-encryption-key so credentials stay readable.
 */
import * as fs from 'fs';
import * as path from 'path';

import { optionValue as option } from './args';
import { ensureN8nInstalled } from './install';
import { startN8n } from './n8n';
import { readOrCreateEncryptionKey } from './state-files';

const log = (line: string): void => {
	process.stdout.write(`[e2e] ${line}\n`);
};

async function install(): Promise<void> {
	const installation = await ensureN8nInstalled(log);
	log(
		`n8n ${installation.n8nVersion} on Node ${installation.nodeVersion} at ${installation.dir}: ` +
			`${installation.freshlyInstalled ? 'installed' : 'reused'} in ${installation.seconds.toFixed(1)}s`,
	);
}

async function start(args: string[]): Promise<void> {
	const portText = option(args, '--port');
	const userFolderOption = option(args, '--user-folder');
	let encryptionKey: string | undefined;
	if (userFolderOption) {
		fs.mkdirSync(userFolderOption, { recursive: true });
		encryptionKey = readOrCreateEncryptionKey(path.join(path.resolve(userFolderOption), 'e2e-encryption-key'));
	}
	const n8n = await startN8n({
		port: portText ? Number(portText) : undefined,
		userFolder: userFolderOption ? path.resolve(userFolderOption) : undefined,
		encryptionKey,
		log,
	});
	log(`editor:     ${n8n.baseUrl}`);
	log(`login:      ${n8n.owner.email} / ${n8n.owner.password}`);
	log(`user folder ${n8n.userFolder}`);
	log(`n8n log:    ${n8n.logFile}`);
	log('Ctrl-C stops n8n');
	let stopping = false;
	const shutdown = (): void => {
		if (stopping) return;
		stopping = true;
		n8n.stop().then(
			() => process.exit(0),
			(error: unknown) => {
				log(`stop failed: ${String(error)}`);
				process.exit(1);
			},
		);
	};
	process.on('SIGINT', shutdown);
	process.on('SIGTERM', shutdown);
}

async function main(): Promise<void> {
	const [command, ...args] = process.argv.slice(2);
	if (command === 'install') return await install();
	if (command === 'start') return await start(args);
	process.stderr.write('usage: tsx test/e2e/harness/cli.ts install | start [--port N] [--user-folder DIR]\n');
	process.exitCode = 2;
}

main().catch((error: unknown) => {
	process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	process.exit(1);
});
