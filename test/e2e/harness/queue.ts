/**
 * n8n in queue mode for the end-to-end tests: a private PostgreSQL 15 and Redis 7 (test/stack/postgres.ts, redis.ts),
 * one n8n main (`n8n start`, the existing harness's startN8n with queue-mode environment) and N workers (`n8n worker`),
 * all with one encryption key, `EXECUTIONS_MODE=queue`, binary data in the database, and the package installed as a
 * community package into each process's own user folder.
 *
 * Which process ran an execution, from n8n 2.41's own logs (node_modules/n8n/dist/scaling/):
 *   - main, `scaling.service.js` `addJob`: "Enqueued execution <id> (job <job>)";
 *   - a worker, `job-processor.js` `processJob`: "Worker started execution <id> (job <job>)" (and "Worker finished
 *     execution ..."). A main in queue mode runs no trigger or webhook execution itself (`workflow-runner.js`:
 *     `shouldEnqueue` for every mode but `manual`), so an execution "ran on main" only if no worker logged it.
 * Killing and restarting: main is the harness's N8nInstance (`stop({ hard })` = SIGKILL of its process group,
 * `stop()` = SIGTERM, then `start()`); a worker here the same way (its process group holds its task runner).
 */
import { spawn, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { startPostgres, type RunningPostgres } from '../../stack/postgres';
import { startRedis, type RunningRedis } from '../../stack/redis';
import { ensureN8nInstalled, type N8nInstallation } from './install';
import { newRunFolder, startN8n, type N8nInstance, type StopResult } from './n8n';
import { installPackageIntoUserFolder } from './package';
import { freePort, portInUse, sleep, stopProcessGroup } from './processes';

export interface QueueModeOptions {
	/** Number of `n8n worker` processes (default 2). */
	workers?: number;
	/** Extra environment for main and every worker (e.g. NODE_EXTRA_CA_CERTS for the mail stack's certificate). */
	env?: Record<string, string>;
	/** Bull's lock and stall timings (ms); defaults below make a killed worker's job fail within ~30 s, not minutes. */
	lockDurationMs?: number;
	stalledIntervalMs?: number;
	log?: (line: string) => void;
}

export interface QueueWorker {
	readonly name: string;
	readonly userFolder: string;
	readonly logsDir: string;
	/** The current start's log file. */
	readonly logFile: string;
	readonly pid: number | undefined;
	/** The worker's own HTTP server (health checks), on 127.0.0.1. */
	readonly healthPort: number;
	start(): Promise<void>;
	/** SIGTERM (n8n waits for its running jobs) or, hard, SIGKILL of the whole process group. */
	stop(options?: { hard?: boolean; graceMs?: number }): Promise<StopResult>;
	/** Execution ids this worker logged as started, over all its starts, in log order. */
	startedExecutions(): string[];
}

export interface QueueCluster {
	/** The test run's temp folder: Postgres data, Redis working dir (removed by stop()). */
	readonly dir: string;
	readonly postgres: RunningPostgres;
	readonly redis: RunningRedis;
	readonly main: N8nInstance;
	readonly workers: QueueWorker[];
	readonly encryptionKey: string;
	/** execution id → names of the processes that logged "Worker started execution <id>" (a worker's name). */
	executionsRunBy(): Map<string, string[]>;
	/** Execution ids main logged as enqueued ("Enqueued execution <id>"), over all its starts. */
	enqueuedByMain(): string[];
	/** Execution ids main logged as run by a worker; must stay empty in queue mode (main runs none). */
	startedOnMain(): string[];
	/** Stops workers, main, Redis and Postgres (in that order) and removes the temp folder. */
	stop(): Promise<void>;
}

const STARTED = /Worker started execution (\d+) \(job/g;
const ENQUEUED = /Enqueued execution (\d+) \(job/g;

function logFilesIn(dir: string, prefix: string): string[] {
	if (!fs.existsSync(dir)) return [];
	return fs
		.readdirSync(dir)
		.filter((name) => name.startsWith(prefix) && name.endsWith('.log'))
		.sort((a, b) => Number(/(\d+)\.log$/.exec(a)?.[1] ?? 0) - Number(/(\d+)\.log$/.exec(b)?.[1] ?? 0))
		.map((name) => path.join(dir, name));
}

function idsIn(files: string[], pattern: RegExp): string[] {
	const ids: string[] = [];
	for (const file of files) for (const match of fs.readFileSync(file, 'utf8').matchAll(pattern)) ids.push(match[1]);
	return ids;
}

/** The environment the harness gives main (a public method of its instance class, not of the N8nInstance type). */
function environmentOf(main: N8nInstance, brokerPort: number): NodeJS.ProcessEnv {
	const candidate = (main as unknown as { environment?: (port: number) => NodeJS.ProcessEnv }).environment;
	if (typeof candidate !== 'function') throw new Error('the e2e harness instance no longer exposes environment(brokerPort)');
	return candidate.call(main, brokerPort);
}

class Worker implements QueueWorker {
	readonly logsDir: string;
	logFile = '';
	private child: ChildProcess | undefined;
	private exited: Promise<void> = Promise.resolve();
	private startCount = 0;

	constructor(
		readonly name: string,
		private readonly installation: N8nInstallation,
		readonly userFolder: string,
		private readonly environment: NodeJS.ProcessEnv,
		readonly healthPort: number,
		private readonly brokerPort: number,
		private readonly log: (line: string) => void,
	) {
		this.logsDir = path.join(userFolder, 'logs');
		fs.mkdirSync(this.logsDir, { recursive: true });
	}

	get pid(): number | undefined {
		return this.child?.pid;
	}

	async start(): Promise<void> {
		if (this.child) throw new Error(`${this.name} (pid ${this.child.pid}) is already running`);
		for (const port of [this.healthPort, this.brokerPort]) {
			if (await portInUse(port)) throw new Error(`port ${port} is in use; cannot start ${this.name}`);
		}
		this.startCount += 1;
		this.logFile = path.join(this.logsDir, `worker-start-${this.startCount}.log`);
		const out = fs.openSync(this.logFile, 'a');
		const started = Date.now();
		const child = spawn(this.installation.nodeExecutable, [this.installation.n8nEntry, 'worker'], {
			cwd: this.userFolder,
			env: this.environment,
			stdio: ['ignore', out, out],
			detached: true,
		});
		fs.closeSync(out);
		this.child = child;
		let exitCode: number | null | undefined;
		this.exited = new Promise((resolve) =>
			child.once('exit', (code, signal) => {
				exitCode = code ?? (signal ? -1 : null);
				resolve();
			}),
		);
		const deadline = started + 180_000;
		for (;;) {
			if (exitCode !== undefined) throw new Error(`${this.name} exited (${exitCode}) during start; log ${this.logFile}`);
			if (Date.now() > deadline) {
				await this.stop({ hard: true });
				throw new Error(`${this.name} not ready within 180 s; log ${this.logFile}`);
			}
			try {
				// The worker server's readiness: database and Redis connected (scaling/worker-server.js).
				const response = await fetch(`http://127.0.0.1:${this.healthPort}/healthz/readiness`);
				// Ready means the queue is set up too: the worker logs this once it takes jobs.
				if (response.status === 200 && /n8n worker is now ready/i.test(fs.readFileSync(this.logFile, 'utf8'))) break;
			} catch {
				// not listening yet
			}
			await sleep(250);
		}
		this.log(`${this.name} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (log ${this.logFile})`);
	}

	async stop(options: { hard?: boolean; graceMs?: number } = {}): Promise<StopResult> {
		const child = this.child;
		const started = Date.now();
		if (!child?.pid) return { seconds: 0, forced: false };
		const forced = await stopProcessGroup(child, this.exited, options);
		this.child = undefined;
		const seconds = (Date.now() - started) / 1000;
		this.log(`${this.name} stopped in ${seconds.toFixed(1)}s${forced ? ' (forced)' : ''}`);
		return { seconds, forced };
	}

	startedExecutions(): string[] {
		return idsIn(logFilesIn(this.logsDir, 'worker-start-'), STARTED);
	}
}

/**
 * Starts Postgres, Redis, n8n main and the workers (each with the freshly built package installed). The caller must
 * `stop()` the cluster (also on failure paths, e.g. in afterAll); a failed start stops what it had started.
 */
export async function startQueueMode(options: QueueModeOptions = {}): Promise<QueueCluster> {
	const log = options.log ?? (() => undefined);
	const installation = await ensureN8nInstalled(log);
	// Postgres runs as its own system user, which must traverse the folder: under the system temp dir, mode 755.
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-queue-'));
	fs.chmodSync(dir, 0o755);
	let postgres: RunningPostgres | undefined;
	let redis: RunningRedis | undefined;
	let main: N8nInstance | undefined;
	const workers: Worker[] = [];
	const stopAll = async (): Promise<void> => {
		const errors: unknown[] = [];
		const attempt = async (action: () => Promise<unknown>): Promise<void> => {
			await action().catch((error: unknown) => errors.push(error));
		};
		// Main first: on SIGTERM it waits for the executions it enqueued, which only the workers can finish.
		if (main) await attempt(() => (main as N8nInstance).stop({ graceMs: 20_000 }));
		for (const worker of workers) await attempt(() => worker.stop({ graceMs: 20_000 }));
		if (redis) await attempt(() => (redis as RunningRedis).stop());
		if (postgres) await attempt(() => (postgres as RunningPostgres).stop());
		fs.rmSync(dir, { recursive: true, force: true });
		if (errors.length > 0) throw errors[0];
	};
	try {
		[postgres, redis] = await Promise.all([startPostgres({ dir, log }), startRedis({ dir, log })]);
		const encryptionKey = randomBytes(24).toString('hex');
		const shared: Record<string, string> = {
			EXECUTIONS_MODE: 'queue',
			...postgres.n8nEnvironment(),
			...redis.n8nEnvironment(),
			// Queue mode cannot share binary data through the filesystem of one process; the database can.
			N8N_DEFAULT_BINARY_DATA_MODE: 'database',
			QUEUE_WORKER_LOCK_DURATION: String(options.lockDurationMs ?? 15_000),
			QUEUE_WORKER_LOCK_RENEW_TIME: String(Math.floor((options.lockDurationMs ?? 15_000) / 3)),
			QUEUE_WORKER_STALLED_INTERVAL: String(options.stalledIntervalMs ?? 10_000),
			// Each process would otherwise ask Postgres for a pool of 2; fine, but keep it explicit for the docs.
			DB_POSTGRESDB_POOL_SIZE: '4',
			...(options.env ?? {}),
		};
		const count = options.workers ?? 2;
		// The workers' user folders get the package while main starts (main builds and packs it once per process).
		const folders = Array.from({ length: count }, (_, index) => newRunFolder(`queue-worker${index + 1}`));
		const startedAt = Date.now();
		const mainStart = startN8n({ encryptionKey, env: shared, log: (line) => log(`main: ${line}`) });
		const installs = Promise.all(folders.map((folder) => installPackageIntoUserFolder(installation, folder, log)));
		const [started] = await Promise.allSettled([mainStart, installs]).then((results) => {
			const failed = results.find((result) => result.status === 'rejected');
			if (results[0].status === 'fulfilled') main = results[0].value;
			if (failed) throw (failed as PromiseRejectedResult).reason;
			return [(results[0] as PromiseFulfilledResult<N8nInstance>).value];
		});
		log(`main ready in ${((Date.now() - startedAt) / 1000).toFixed(1)}s (migrations on a fresh Postgres included)`);
		const taken = [started.port];
		for (let index = 0; index < count; index++) {
			const name = `worker${index + 1}`;
			const healthPort = await freePort(taken);
			const brokerPort = await freePort([...taken, healthPort]);
			taken.push(healthPort, brokerPort);
			const environment: NodeJS.ProcessEnv = {
				...environmentOf(started, brokerPort),
				N8N_USER_FOLDER: folders[index],
				QUEUE_HEALTH_CHECK_ACTIVE: 'true',
				QUEUE_HEALTH_CHECK_PORT: String(healthPort),
				N8N_WORKER_SERVER_ADDRESS: '127.0.0.1',
			};
			workers.push(new Worker(name, installation, folders[index], environment, healthPort, brokerPort, log));
		}
		// Workers start side by side: each spends most of its start loading n8n's modules.
		await Promise.all(workers.map((worker) => worker.start()));
	} catch (error) {
		await stopAll().catch(() => undefined);
		throw error;
	}
	if (!main || !postgres || !redis) throw new Error('queue mode did not start');
	const running = { main, postgres, redis };
	const mainLogs = (): string[] => logFilesIn(running.main.logsDir, 'n8n-start-');
	return {
		dir,
		postgres: running.postgres,
		redis: running.redis,
		main: running.main,
		workers,
		encryptionKey: running.main.encryptionKey,
		executionsRunBy(): Map<string, string[]> {
			const byExecution = new Map<string, string[]>();
			for (const worker of workers) {
				for (const id of worker.startedExecutions()) byExecution.set(id, [...(byExecution.get(id) ?? []), worker.name]);
			}
			for (const id of idsIn(mainLogs(), STARTED)) byExecution.set(id, [...(byExecution.get(id) ?? []), 'main']);
			return byExecution;
		},
		enqueuedByMain(): string[] {
			return idsIn(mainLogs(), ENQUEUED);
		},
		startedOnMain(): string[] {
			return idsIn(mainLogs(), STARTED);
		},
		stop: stopAll,
	};
}
