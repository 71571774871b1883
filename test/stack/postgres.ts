/**
 * A private PostgreSQL 15 for n8n's queue mode: the Debian package's binaries (installed with apt-get when missing,
 * as the mail stack installs Dovecot), a fresh cluster (initdb) in a data directory under the caller's folder, one
 * postmaster on 127.0.0.1 and a high free port, in its own process group. No systemd service, no /etc config, no
 * cluster of the system's: `stop()` ends the process group this module started, by its pid.
 *
 * Durability settings are off (fsync, synchronous_commit): the tests kill n8n, never the database, and a crash-safe
 * database on a shared 2-core machine only makes runs slower.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { isRoot, StackSetupError, userIds } from './packages';
import { processAlive } from './processes';

export const POSTGRES_VERSION = 15;
export const POSTGRES_PACKAGES = [`postgresql-${POSTGRES_VERSION}`, `postgresql-client-${POSTGRES_VERSION}`] as const;
const BIN_DIR = `/usr/lib/postgresql/${POSTGRES_VERSION}/bin`;
const POLICY_RC_D = '/usr/sbin/policy-rc.d';

export interface PostgresOptions {
	/** Folder under which the cluster (`<dir>/postgres/data`), its socket and its log live; must exist. */
	dir: string;
	/** Install the Debian packages when missing (default true; root only). */
	install?: boolean;
	log?: (line: string) => void;
}

export interface RunningPostgres {
	readonly host: '127.0.0.1';
	readonly port: number;
	readonly user: string;
	readonly password: string;
	readonly database: string;
	readonly dataDir: string;
	readonly logFile: string;
	readonly pid: number;
	/** The DB_POSTGRESDB_* variables n8n needs to use this database. */
	n8nEnvironment(): Record<string, string>;
	/** Runs SQL with psql (unaligned, tuples only, `\t` between fields); resolves with its output, throws on error. */
	query(sql: string): Promise<string>;
	/** Fast shutdown (SIGINT to the process group), SIGKILL after `graceMs`; resolves when the group is gone. */
	stop(graceMs?: number): Promise<void>;
}

/** Debian packages of POSTGRES_PACKAGES that dpkg does not report as installed. */
export function missingPostgresPackages(): string[] {
	return missingDebianPackages([...POSTGRES_PACKAGES]);
}

export function missingDebianPackages(names: string[]): string[] {
	const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...names], { encoding: 'utf8' });
	if (result.error) throw new StackSetupError(`dpkg-query could not run (${result.error.message}): a Debian machine is needed`);
	const installed = new Set(
		result.stdout
			.split('\n')
			.map((line) => line.trim().split(' '))
			.filter(([, status]) => status === 'installed')
			.map(([name]) => name),
	);
	return names.filter((name) => !installed.has(name));
}

/**
 * Installs missing Debian packages with apt-get (noninteractive, no recommends), with a policy-rc.d that stops their
 * maintainer scripts from starting system services. Without root: throws naming the command to run.
 */
export function installDebianPackages(names: string[], log: (line: string) => void): void {
	const missing = missingDebianPackages(names);
	if (missing.length === 0) return;
	if (!isRoot()) {
		throw new StackSetupError(
			`These Debian packages are needed: ${missing.join(' ')}\nInstall them as root with:\n` +
				`  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.join(' ')}`,
		);
	}
	log(`installing ${missing.join(' ')} (apt-get, noninteractive)`);
	const addedPolicy = !fs.existsSync(POLICY_RC_D);
	if (addedPolicy) fs.writeFileSync(POLICY_RC_D, '#!/bin/sh\n# temporary, written by the test stack installer\nexit 101\n', { mode: 0o755 });
	try {
		for (const args of [['update', '-q'], ['install', '-y', '-q', '--no-install-recommends', ...missing]]) {
			const result = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
			if (result.status !== 0) throw new StackSetupError(`apt-get ${args.join(' ')} failed (${String(result.status ?? result.error)})`);
		}
	} finally {
		if (addedPolicy) fs.rmSync(POLICY_RC_D, { force: true });
	}
	const still = missingDebianPackages(names);
	if (still.length > 0) throw new StackSetupError(`apt-get finished but these packages are still missing: ${still.join(' ')}`);
}

/** A port nothing listens on, below Linux's ephemeral range (as the mail stack picks its ports). */
export async function freeHighPort(): Promise<number> {
	for (let attempt = 0; attempt < 200; attempt++) {
		const candidate = 20000 + Math.floor(Math.random() * 12000);
		const free = await new Promise<boolean>((resolve) => {
			const server = net.createServer();
			server.once('error', () => resolve(false));
			server.listen({ port: candidate, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
		});
		if (free) return candidate;
	}
	throw new Error('no free port on 127.0.0.1');
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

function groupAlive(pid: number): boolean {
	try {
		process.kill(-pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code !== 'ESRCH';
	}
}

/** Sends `signal` to the process group led by `pid` and waits for the group to be gone (SIGKILL after graceMs). */
export async function stopGroup(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<void> {
	try {
		process.kill(-pid, signal);
	} catch {
		return;
	}
	const deadline = Date.now() + graceMs;
	while (groupAlive(pid) && Date.now() < deadline) await sleep(50);
	if (groupAlive(pid)) {
		try {
			process.kill(-pid, 'SIGKILL');
		} catch {
			// gone meanwhile
		}
		const killDeadline = Date.now() + 5000;
		while (groupAlive(pid) && Date.now() < killDeadline) await sleep(50);
		if (groupAlive(pid)) throw new Error(`process group ${pid} survived SIGKILL`);
	}
}

function runAs(ids: { uid: number; gid: number } | undefined, command: string, args: string[], input?: string): string {
	const result = spawnSync(command, args, { encoding: 'utf8', input, uid: ids?.uid, gid: ids?.gid, cwd: '/' });
	if (result.error) throw new StackSetupError(`${command} could not run: ${result.error.message}`);
	if (result.status !== 0) throw new StackSetupError(`${command} ${args.join(' ')} failed (${String(result.status)}):\n${result.stdout}${result.stderr}`);
	return result.stdout;
}

/** Starts a private PostgreSQL 15 and creates the database `n8n` owned by user `n8n` (password authentication). */
export async function startPostgres(options: PostgresOptions): Promise<RunningPostgres> {
	const log = options.log ?? (() => undefined);
	if (options.install !== false) installDebianPackages([...POSTGRES_PACKAGES], log);
	if (!fs.existsSync(path.join(BIN_DIR, 'postgres'))) throw new StackSetupError(`${BIN_DIR}/postgres is missing`);
	// PostgreSQL refuses to run as root: as root, the cluster belongs to the package's `postgres` user.
	const ids = isRoot() ? userIds('postgres') : undefined;
	const root = path.join(options.dir, 'postgres');
	const dataDir = path.join(root, 'data');
	const socketDir = path.join(root, 'socket');
	const logFile = path.join(root, 'postgres.log');
	fs.mkdirSync(socketDir, { recursive: true });
	// The postgres user must traverse every parent of its folders; the caller's folder is made for that (mode 755).
	fs.chmodSync(root, 0o755);
	const password = randomBytes(12).toString('hex');
	const pwFile = path.join(root, 'pwfile');
	fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
	if (ids) {
		fs.chownSync(socketDir, ids.uid, ids.gid);
		fs.chownSync(pwFile, ids.uid, ids.gid);
		fs.writeFileSync(logFile, '');
		fs.chownSync(logFile, ids.uid, ids.gid);
		fs.chownSync(root, ids.uid, ids.gid);
	}
	const started = Date.now();
	runAs(ids, path.join(BIN_DIR, 'initdb'), [
		'-D', dataDir, '-U', 'n8n', `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync',
	]);
	fs.rmSync(pwFile, { force: true });
	const port = await freeHighPort();
	const out = fs.openSync(logFile, 'a');
	const child: ChildProcess = spawn(
		path.join(BIN_DIR, 'postgres'),
		[
			'-D', dataDir, '-p', String(port), '-k', socketDir,
			'-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
			'-c', 'max_connections=200', '-c', 'shared_buffers=64MB',
		],
		{ cwd: '/', uid: ids?.uid, gid: ids?.gid, stdio: ['ignore', out, out], detached: true },
	);
	fs.closeSync(out);
	const pid = child.pid;
	if (pid === undefined) throw new StackSetupError('postgres did not start');
	let exited = false;
	child.once('exit', () => {
		exited = true;
	});
	const psqlEnv = { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' };
	const psql = (sql: string, database = 'postgres'): Promise<string> =>
		new Promise((resolve, reject) => {
			const proc = spawn(
				path.join(BIN_DIR, 'psql'),
				['-h', '127.0.0.1', '-p', String(port), '-U', 'n8n', '-d', database, '-X', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql],
				{ env: psqlEnv, stdio: ['ignore', 'pipe', 'pipe'] },
			);
			let stdout = '';
			let stderr = '';
			proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
			proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
			proc.on('error', reject);
			proc.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`psql: ${stderr.trim() || `exit ${String(code)}`}`))));
		});
	const stop = async (graceMs = 10_000): Promise<void> => {
		if (exited && !groupAlive(pid)) return;
		// SIGINT = PostgreSQL's fast shutdown (disconnects clients, no waiting for them).
		await stopGroup(pid, 'SIGINT', graceMs);
	};
	try {
		const deadline = Date.now() + 60_000;
		for (;;) {
			if (exited) throw new StackSetupError(`postgres exited during start; log ${logFile}:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
			try {
				await psql('SELECT 1');
				break;
			} catch (error) {
				if (Date.now() > deadline) throw error;
			}
			await sleep(100);
		}
		await psql('CREATE DATABASE n8n OWNER n8n');
	} catch (error) {
		await stop(2000).catch(() => undefined);
		throw error;
	}
	log(`postgres ${POSTGRES_VERSION} on 127.0.0.1:${port} (pid ${pid}, data ${dataDir}) ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
	return {
		host: '127.0.0.1',
		port,
		user: 'n8n',
		password,
		database: 'n8n',
		dataDir,
		logFile,
		pid,
		n8nEnvironment: () => ({
			DB_TYPE: 'postgresdb',
			DB_POSTGRESDB_HOST: '127.0.0.1',
			DB_POSTGRESDB_PORT: String(port),
			DB_POSTGRESDB_DATABASE: 'n8n',
			DB_POSTGRESDB_USER: 'n8n',
			DB_POSTGRESDB_PASSWORD: password,
		}),
		query: (sql: string) => psql(sql, 'n8n'),
		stop,
	};
}

/** True while the postmaster this module started is alive (for assertions in tests). */
export function postgresAlive(running: RunningPostgres): boolean {
	return processAlive(running.pid);
}
