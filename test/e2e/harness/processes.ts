/**
 * Small process and network helpers shared by the harness: run a command to completion, find free loopback ports,
 * and make sure a process group is gone.
 */
import { type ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';

export interface CommandResult {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	seconds: number;
}

export interface RunOptions {
	cwd: string;
	env?: NodeJS.ProcessEnv;
	/** Also append everything the command prints to this file (long installs: keep the test output short). */
	logFile?: string;
	/** Kill the command's whole process group after this long. */
	timeoutMs?: number;
}

/**
 * Runs a command in its own process group and resolves when it exits. Output is captured in full; on timeout the whole
 * group is killed so no grandchild (a task runner, a compiler) outlives it.
 */
export function runCommand(command: string, args: string[], options: RunOptions): Promise<CommandResult> {
	const started = Date.now();
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, {
			cwd: options.cwd,
			env: options.env ?? process.env,
			stdio: ['ignore', 'pipe', 'pipe'],
			detached: true,
		});
		const log = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : undefined;
		log?.write(`\n$ ${command} ${args.join(' ')}\n`);
		let stdout = '';
		let stderr = '';
		child.stdout.on('data', (chunk: Buffer) => {
			stdout += chunk.toString();
			log?.write(chunk);
		});
		child.stderr.on('data', (chunk: Buffer) => {
			stderr += chunk.toString();
			log?.write(chunk);
		});
		let timer: NodeJS.Timeout | undefined;
		if (options.timeoutMs !== undefined) {
			timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), options.timeoutMs);
		}
		child.on('error', (error) => {
			if (timer) clearTimeout(timer);
			log?.end();
			reject(error);
		});
		child.on('close', (code, signal) => {
			if (timer) clearTimeout(timer);
			// The command may have left children in its group (n8n's CLI starts a task runner); none may outlive it.
			killGroup(child.pid, 'SIGKILL');
			log?.end();
			resolve({ code, signal, stdout, stderr, seconds: (Date.now() - started) / 1000 });
		});
	});
}

/** Runs a command and throws with the tail of its output when it does not exit 0. */
export async function runChecked(command: string, args: string[], options: RunOptions): Promise<CommandResult> {
	const result = await runCommand(command, args, options);
	if (result.code !== 0) {
		const tail = (result.stdout + result.stderr).split('\n').slice(-40).join('\n');
		throw new Error(
			`${command} ${args.join(' ')} exited ${result.code ?? result.signal} after ${result.seconds.toFixed(1)}s` +
				(options.logFile ? ` (full log: ${options.logFile})` : '') +
				`\n${tail}`,
		);
	}
	return result;
}

/** Sends a signal to a whole process group; a group that is already gone is not an error. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
	if (pid === undefined) return;
	try {
		process.kill(-pid, signal);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
	}
}

/** True while the process `pid` exists (signal 0 reaches it). */
export function processAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

/** True while any process of the group still exists (zombies included until reaped). */
export function groupAlive(pid: number): boolean {
	try {
		process.kill(-pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code !== 'ESRCH';
	}
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops a process started as the leader of its own group: SIGKILL of the group (`hard`), or SIGTERM to the leader
 * (n8n shuts its task runner down itself) and SIGKILL of the group after `graceMs`; then whatever is left of the group.
 * Returns whether a SIGKILL was needed.
 */
export async function stopProcessGroup(
	child: ChildProcess,
	exited: Promise<unknown>,
	options: { hard?: boolean; graceMs?: number } = {},
): Promise<boolean> {
	const pid = child.pid;
	if (pid === undefined) return false;
	let forced = false;
	if (child.exitCode === null && child.signalCode === null) {
		if (options.hard) {
			forced = true;
			killGroup(pid, 'SIGKILL');
		} else {
			child.kill('SIGTERM');
		}
		let graceTimer: NodeJS.Timeout | undefined;
		const graceOver = new Promise<boolean>((resolve) => {
			graceTimer = setTimeout(() => resolve(true), options.graceMs ?? 45_000);
		});
		const timedOut = await Promise.race([exited.then(() => false), graceOver]);
		// A pending timer would keep the test process (jest) alive long after the process is gone.
		clearTimeout(graceTimer);
		if (timedOut) {
			forced = true;
			killGroup(pid, 'SIGKILL');
			await exited;
		}
	}
	// Anything it started and left behind (a task runner that missed the shutdown) goes with the group.
	const groupDeadline = Date.now() + 5000;
	while (groupAlive(pid) && Date.now() < groupDeadline) await sleep(100);
	if (groupAlive(pid)) {
		forced = true;
		killGroup(pid, 'SIGKILL');
		while (groupAlive(pid)) await sleep(100);
	}
	return forced;
}

/**
 * A port on 127.0.0.1 that nothing listens on right now. The OS picks it from the ephemeral range, so parallel runs
 * do not collide the way a fixed base port would; `avoid` keeps one run's ports distinct from each other.
 */
export async function freePort(avoid: number[] = []): Promise<number> {
	for (let attempt = 0; attempt < 20; attempt++) {
		const port = await new Promise<number>((resolve, reject) => {
			const server = net.createServer();
			server.once('error', reject);
			server.listen(0, '127.0.0.1', () => {
				const address = server.address();
				server.close(() => {
					if (address && typeof address === 'object') resolve(address.port);
					else reject(new Error('no port assigned'));
				});
			});
		});
		if (!avoid.includes(port)) return port;
	}
	throw new Error('could not find a free port');
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect({ host: '127.0.0.1', port });
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

/**
 * Pids of every process whose environment mentions `marker` (e.g. an n8n user folder: the server, its task runner and
 * any CLI run all carry N8N_USER_FOLDER). This finds leftovers even if one escaped its process group.
 */
export function processesMentioning(marker: string): number[] {
	const found: number[] = [];
	for (const entry of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
		try {
			const environment = fs.readFileSync(`/proc/${entry}/environ`, 'utf8');
			const state = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
			// A zombie has already exited; it only waits for its parent to collect it.
			if (/^\d+ \(.*\) Z /.test(state)) continue;
			if (environment.split('\0').some((variable) => variable.includes(marker))) found.push(Number(entry));
		} catch {
			// the process ended while we looked, or is not ours to read
		}
	}
	return found;
}
