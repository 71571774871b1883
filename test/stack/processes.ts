/**
 * Process and socket plumbing for the stack: greeting probes (readiness), process trees from /proc, and stopping
 * by PID with verification. Everything here addresses processes by the PIDs this stack recorded, never by name:
 * other stacks of the same programs may be running on the machine.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface GreetingProbe {
	name: string;
	port: number;
	/** Implicit TLS: the greeting only counts if it arrives over a verified TLS session. */
	tls: boolean;
	/** The first line that proves the service is ready, e.g. /^\* OK/ for IMAP. */
	expect: RegExp;
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One attempt: connect, read the first line, close. Resolves with the line or rejects. */
function readGreeting(probe: GreetingProbe, caCertPem: string, timeoutMs: number): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket: net.Socket = probe.tls
			? tls.connect({ host: '127.0.0.1', port: probe.port, ca: caCertPem, servername: 'localhost' })
			: net.connect({ host: '127.0.0.1', port: probe.port });
		let buffer = '';
		const finish = (error: Error | undefined, line?: string): void => {
			clearTimeout(timer);
			socket.removeAllListeners('data');
			socket.on('error', () => undefined);
			socket.destroy();
			if (error) reject(error);
			else resolve(line ?? '');
		};
		const timer = setTimeout(() => finish(new Error(`no greeting within ${timeoutMs} ms`)), timeoutMs);
		socket.setEncoding('utf8');
		socket.on('data', (chunk: string) => {
			buffer += chunk;
			const end = buffer.indexOf('\n');
			if (end >= 0) finish(undefined, buffer.slice(0, end).replace(/\r$/, ''));
		});
		socket.on('error', (error) => finish(error));
		socket.on('close', () => finish(new Error('closed before a greeting')));
	});
}

/**
 * Waits until the service sends its greeting. Dovecot accepts TCP before its auth process is ready, so an open port
 * is not readiness; the greeting is.
 */
export async function waitForGreeting(probe: GreetingProbe, caCertPem: string, deadline: number): Promise<string> {
	let lastError: unknown;
	while (Date.now() < deadline) {
		try {
			const line = await readGreeting(probe, caCertPem, Math.max(100, Math.min(2000, deadline - Date.now())));
			if (probe.expect.test(line)) return line;
			lastError = new Error(`unexpected greeting: ${line}`);
		} catch (error) {
			lastError = error;
			if (process.env.GX_STACK_DEBUG) process.stderr.write(`${Date.now() % 100000} ${probe.name}: ${error instanceof Error ? error.message : String(error)}\n`);
		}
		await sleep(25);
	}
	throw new Error(`${probe.name} on 127.0.0.1:${probe.port} did not greet in time (${lastError instanceof Error ? lastError.message : String(lastError)})`);
}

export function processAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
	} catch {
		return false;
	}
	// A zombie still answers kill(0) but has exited; /proc tells them apart.
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
	} catch {
		return false;
	}
}

/** All descendants of `rootPid` (children, grandchildren, ...) from /proc. */
export function descendantsOf(rootPid: number): number[] {
	const parentOf = new Map<number, number>();
	for (const entry of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
			// Field 4 (ppid) follows the command name, which may itself contain spaces and parentheses.
			const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			parentOf.set(Number(entry), Number(fields[1]));
		} catch {
			// the process ended while we looked
		}
	}
	const result: number[] = [];
	const queue = [rootPid];
	while (queue.length > 0) {
		const parent = queue.shift() as number;
		for (const [pid, ppid] of parentOf) {
			if (ppid === parent && !result.includes(pid)) {
				result.push(pid);
				queue.push(pid);
			}
		}
	}
	return result;
}

export async function waitForExit(pids: number[], timeoutMs: number): Promise<number[]> {
	const deadline = Date.now() + timeoutMs;
	let alive = pids.filter(processAlive);
	while (alive.length > 0 && Date.now() < deadline) {
		await sleep(20);
		alive = alive.filter(processAlive);
	}
	return alive;
}

function processGroupOf(pid: number): number | undefined {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
	} catch {
		return undefined;
	}
}

/**
 * SIGTERM the process and wait for it and every descendant it had to go; SIGKILL what remains after `graceMs`.
 * The stack starts each server as the leader of its own process group, and then the whole group gets the SIGTERM:
 * Dovecot's master alone takes a second to exit and leaves its log, stats and auth processes running for 30 s more.
 * Returns the PIDs that had to be killed hard (empty when the shutdown was clean). Throws if anything survives.
 */
export async function stopProcessTree(name: string, pid: number, graceMs = 5000): Promise<number[]> {
	const tree = [pid, ...descendantsOf(pid)];
	try {
		process.kill(processGroupOf(pid) === pid ? -pid : pid, 'SIGTERM');
	} catch {
		// already gone
	}
	const survivors = await waitForExit(tree, graceMs);
	for (const survivor of survivors) {
		try {
			process.kill(survivor, 'SIGKILL');
		} catch {
			// gone meanwhile
		}
	}
	const stubborn = await waitForExit(survivors, 2000);
	if (stubborn.length > 0) throw new Error(`${name}: processes ${stubborn.join(', ')} are still running after SIGKILL`);
	return survivors;
}

/** True when nothing accepts connections on the port any more. */
export function portClosed(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect({ host: '127.0.0.1', port });
		socket.once('connect', () => {
			socket.destroy();
			resolve(false);
		});
		socket.once('error', () => resolve(true));
	});
}
