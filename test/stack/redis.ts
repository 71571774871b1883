/**
 * A private Redis 7 for n8n's queue mode (Bull's queue and n8n's pub/sub): the Debian package's `redis-server`
 * (installed with apt-get when missing), started with its whole configuration on the command line (nothing from
 * /etc/redis), on 127.0.0.1 and a high free port, with its working directory under the caller's folder, in its own
 * process group. `stop()` ends that group by its pid; no system service is involved.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { StackSetupError } from './packages';
import { freeHighPort, installDebianPackages, stopGroup } from './postgres';

export const REDIS_PACKAGES = ['redis-server'] as const;
const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisOptions {
	/** Folder under which `redis/` (working directory, log) is made; must exist. */
	dir: string;
	/** Install the Debian package when missing (default true; root only). */
	install?: boolean;
	log?: (line: string) => void;
}

export interface RunningRedis {
	readonly host: '127.0.0.1';
	readonly port: number;
	readonly pid: number;
	readonly logFile: string;
	/** The QUEUE_BULL_REDIS_* variables n8n needs. */
	n8nEnvironment(): Record<string, string>;
	/** One command over RESP (e.g. ['PING'], ['KEYS', 'bull:*']); resolves with the raw reply text. */
	command(args: string[]): Promise<string>;
	stop(graceMs?: number): Promise<void>;
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The index just past one complete RESP value starting at `at`, or -1 when more bytes are needed. */
function respEnd(text: string, at: number): number {
	const lineEnd = text.indexOf('\r\n', at);
	if (lineEnd === -1) return -1;
	const kind = text[at];
	const head = text.slice(at + 1, lineEnd);
	if (kind === '+' || kind === '-' || kind === ':') return lineEnd + 2;
	if (kind === '$') {
		const length = Number(head);
		if (length < 0) return lineEnd + 2;
		const end = lineEnd + 2 + length + 2;
		return Buffer.byteLength(text) >= end ? end : -1;
	}
	if (kind === '*') {
		let position = lineEnd + 2;
		for (let index = 0; index < Math.max(0, Number(head)); index++) {
			position = respEnd(text, position);
			if (position === -1) return -1;
		}
		return position;
	}
	return -1;
}

function respComplete(text: string): boolean {
	return text.length > 0 && respEnd(text, 0) === text.length;
}

/** Sends one RESP command and returns the reply as text once a complete reply has arrived (or the socket closed). */
function redisCommand(port: number, args: string[], timeoutMs = 3000): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = net.connect({ host: '127.0.0.1', port });
		let reply = '';
		const timer = setTimeout(() => {
			socket.destroy();
			reject(new Error(`redis ${args[0]}: no reply within ${timeoutMs} ms`));
		}, timeoutMs);
		socket.once('connect', () => {
			socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
		});
		socket.on('data', (chunk: Buffer) => {
			reply += chunk.toString();
			if (respComplete(reply)) {
				clearTimeout(timer);
				socket.end();
				resolve(reply.trimEnd());
			}
		});
		socket.once('error', (error) => {
			clearTimeout(timer);
			reject(error);
		});
		socket.once('close', () => {
			clearTimeout(timer);
			resolve(reply.trimEnd());
		});
	});
}

export async function startRedis(options: RedisOptions): Promise<RunningRedis> {
	const log = options.log ?? (() => undefined);
	if (options.install !== false) installDebianPackages([...REDIS_PACKAGES], log);
	if (!fs.existsSync(REDIS_SERVER)) throw new StackSetupError(`${REDIS_SERVER} is missing`);
	const dir = path.join(options.dir, 'redis');
	fs.mkdirSync(dir, { recursive: true });
	const logFile = path.join(dir, 'redis.log');
	const port = await freeHighPort();
	const started = Date.now();
	const child: ChildProcess = spawn(
		REDIS_SERVER,
		[
			'--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--logfile', logFile,
			'--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes', '--databases', '2',
		],
		{ cwd: dir, stdio: 'ignore', detached: true },
	);
	const pid = child.pid;
	if (pid === undefined) throw new StackSetupError('redis-server did not start');
	let exited = false;
	child.once('exit', () => {
		exited = true;
	});
	const stop = async (graceMs = 5000): Promise<void> => {
		if (exited) return;
		await stopGroup(pid, 'SIGTERM', graceMs);
	};
	const deadline = Date.now() + 30_000;
	for (;;) {
		if (exited) throw new StackSetupError(`redis-server exited during start; log ${logFile}`);
		const pong = await redisCommand(port, ['PING'], 1000).catch(() => '');
		if (pong === '+PONG') break;
		if (Date.now() > deadline) {
			await stop(1000).catch(() => undefined);
			throw new StackSetupError(`redis-server did not answer PING within 30 s; log ${logFile}`);
		}
		await sleep(50);
	}
	log(`redis on 127.0.0.1:${port} (pid ${pid}) ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
	return {
		host: '127.0.0.1',
		port,
		pid,
		logFile,
		n8nEnvironment: () => ({ QUEUE_BULL_REDIS_HOST: '127.0.0.1', QUEUE_BULL_REDIS_PORT: String(port) }),
		command: (args: string[]) => redisCommand(port, args),
		stop,
	};
}
