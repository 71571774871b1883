/**
 * Entry point of the token server's own process: `node --require tsx/cjs main.ts <config.json>`.
 *
 * Prints `ready <port>` on stdout once listening. It also watches its parent: if the process that started the stack
 * dies without stopping it (jest killed, a crashed CLI), it stops Dovecot and Postfix by their recorded PIDs and exits,
 * so an aborted run does not leave mail servers behind on a shared machine.
 */
import * as fs from 'node:fs';
import { TokenServer, type TokenServerConfig } from './tokenServer';

const configFile = process.argv[2];
if (!configFile) {
	process.stderr.write('usage: main.ts <token server config.json>\n');
	process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as TokenServerConfig & { pidsFile?: string };
const server = new TokenServer(config, (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));

function stopOrphanedServers(): void {
	if (!config.pidsFile || !fs.existsSync(config.pidsFile)) return;
	const pids = JSON.parse(fs.readFileSync(config.pidsFile, 'utf8')) as Record<string, number>;
	for (const [name, pid] of Object.entries(pids)) {
		if (pid === process.pid) continue;
		try {
			process.kill(pid, 'SIGTERM');
			process.stdout.write(`parent gone: sent SIGTERM to ${name} (pid ${pid})\n`);
		} catch {
			// already gone
		}
	}
	// Stale PIDs could later name unrelated processes.
	fs.rmSync(config.pidsFile, { force: true });
}

const parentAtStart = process.ppid;
const parentWatch = setInterval(() => {
	if (process.ppid === parentAtStart) return;
	clearInterval(parentWatch);
	stopOrphanedServers();
	void server.close().then(() => process.exit(0));
}, 1000);
parentWatch.unref();

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
	process.on(signal, () => {
		clearInterval(parentWatch);
		void server.close().then(() => process.exit(0));
	});
}

server
	.listen()
	.then((port) => {
		process.stdout.write(`ready ${port}\n`);
	})
	.catch((error: unknown) => {
		process.stderr.write(`token server could not listen on 127.0.0.1:${config.port}: ${String(error)}\n`);
		process.exit(1);
	});
