/**
 * Starts a real n8n (the pinned install, Node 24) headless with this package installed as a community package, and
 * drives it the way an operator would: REST as the owner, the public API with an API key, and n8n's own CLI.
 *
 * Every instance gets its own user folder, ports and encryption key; nothing listens beyond 127.0.0.1 and the
 * outbound features (telemetry, templates, version checks, AI modules) are switched off so n8n calls no outside host.
 */
import { spawn, type ChildProcess } from 'child_process';
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { IRunExecutionData } from 'n8n-workflow';

import { ensureN8nInstalled, type N8nInstallation } from './install';
import { installPackageIntoUserFolder, type InstalledPackage } from './package';
import { e2eRunsRoot, packageName } from './paths';
import { readStoredApiKey, writeStoredApiKey } from './state-files';
import {
	freePort,
	portInUse,
	processesMentioning,
	runCommand,
	sleep,
	stopProcessGroup,
	type CommandResult,
} from './processes';

export interface StartOptions {
	/** Reuse a user folder (its database, credentials and installed package); default: a new one under .cache/e2e/runs. */
	userFolder?: string;
	/** HTTP port on 127.0.0.1; default: a free one. */
	port?: number;
	/** Encryption key for credentials; default: a random one fixed for this instance's life (restarts keep it). */
	encryptionKey?: string;
	/** Install the freshly built package into the user folder (default true; false keeps what is there). */
	installPackage?: boolean;
	/**
	 * Where the public API key is kept between starts (mode 0600): it is reused while n8n accepts it, so starts on a
	 * reused user folder do not pile up keys. Default: `<user folder>/e2e-api-key.json`.
	 */
	apiKeyFile?: string;
	/** Extra environment for n8n and its CLI (e.g. N8N_LOG_LEVEL=debug). */
	env?: Record<string, string>;
	/** Progress lines (install, start, ready). Default: none. */
	log?: (line: string) => void;
}

export interface Owner {
	email: string;
	password: string;
	firstName: string;
	lastName: string;
}

/** One credential for `n8n import:credentials`; `data` is plain and n8n encrypts it on import. */
export interface CredentialImport {
	id: string;
	name: string;
	type: string;
	data: Record<string, unknown>;
}

/** A workflow for `n8n import:workflow` (n8n's export format); `id` is generated when missing. */
export interface WorkflowImport {
	id?: string;
	name: string;
	nodes: Array<Record<string, unknown>>;
	connections: Record<string, unknown>;
	settings?: Record<string, unknown>;
	active?: boolean;
	[key: string]: unknown;
}

/** An execution as n8n's public API returns it. */
export interface Execution {
	/** Numeric, but the public API sends it as a string. */
	id: string;
	workflowId: string;
	mode: string;
	status: 'canceled' | 'crashed' | 'error' | 'new' | 'running' | 'success' | 'unknown' | 'waiting';
	finished: boolean;
	startedAt: string;
	stoppedAt: string | null;
	retryOf?: string | null;
	/** The execution that succeeded retrying this one (n8n sets it on the original). */
	retrySuccessId?: string | null;
	/** The trigger's deduplication key: only in getExecution() answers (the public API's list leaves it out). */
	deduplicationKey?: string | null;
	/** Present when listed with includeData. */
	data?: IRunExecutionData;
}

/** Filters for listExecutions(). */
export interface ExecutionListOptions {
	/**
	 * Only executions in this status. Without it n8n's public API leaves out the executions this n8n is running right
	 * now; `running` lists exactly those (and rows left `running` by a process that died, until the next start).
	 */
	status?: 'canceled' | 'error' | 'running' | 'success' | 'waiting';
}

/** `POST /rest/executions/:id/retry`: n8n answers once the new run has finished. */
export interface RetriedExecution {
	id: string;
	mode: string;
	status: Execution['status'];
	finished: boolean;
	retryOf: string;
	workflowId: string;
}

/**
 * What one `n8n execute` run did. On Node 24 the CLI often dies with SIGSEGV *after* the run has finished and been
 * saved: its `process.exit()` races the event-bus log writer's worker thread (gdb: V8 in the worker touches the
 * already torn-down platform). So the exit code may be a signal even for a clean run, and n8n's stored execution is
 * the record to judge by.
 */
export interface CliExecution {
	command: CommandResult;
	/** The execution this run created (mode `cli`), with data; undefined if n8n recorded none. */
	execution: Execution | undefined;
	/** Exit 0 or 1 as n8n intends, or the known segfault after the execution was already recorded as finished. */
	exitedAsExpected: boolean;
}

/**
 * n8n 2.x's record of a workflow's publication (`GET /rest/workflows/:id/publication-status`): whether the triggers
 * of the published version were started. A trigger is `activated` once its `trigger()` has returned.
 */
export interface PublicationStatus {
	status: 'in_progress' | 'published' | 'partial' | 'failed' | 'not_published';
	liveVersionId: string | null;
	pendingVersionId: string | null;
	triggers: Array<{ nodeId: string; status: 'activated' | 'failed'; errorMessage: string | null }>;
}

export interface StopResult {
	/** Seconds from the stop request until n8n's process group was gone. */
	seconds: number;
	/** True when the group had to be killed with SIGKILL (n8n did not exit in time on SIGTERM). */
	forced: boolean;
}

/** A running (or stopped, restartable) n8n. */
export interface N8nInstance {
	readonly installation: N8nInstallation;
	readonly installedPackage: InstalledPackage;
	readonly baseUrl: string;
	readonly port: number;
	readonly userFolder: string;
	readonly encryptionKey: string;
	/** Folder holding this instance's log files (one per start, plus cli.log). */
	readonly logsDir: string;
	/** The current start's log file. */
	readonly logFile: string;
	readonly owner: Owner;
	/**
	 * Public API key (header X-N8N-API-KEY). Kept in `apiKeyFile` and reused across starts while n8n accepts it; a new
	 * one is created only when there is none or n8n refuses it.
	 */
	readonly apiKey: string;
	/** The owner's session cookie (`n8n-auth=...`), renewed by login on restart. */
	readonly ownerCookie: string;
	/** The pid of n8n's main process, which leads its process group (the task runner is in that group too). */
	readonly pid: number | undefined;
	/** Seconds from spawn until /healthz/readiness answered 200, for the current start. */
	readonly startSeconds: number;

	/** `/rest/...` as the logged-in owner; throws on a non-2xx answer. Returns the parsed body (REST wraps in data). */
	rest<T = unknown>(method: string, restPath: string, body?: unknown): Promise<T>;
	/** `/api/v1/...` with the API key; throws on a non-2xx answer. */
	api<T = unknown>(method: string, apiPath: string, body?: unknown): Promise<T>;
	/** The file the API key is kept in (see StartOptions.apiKeyFile). */
	readonly apiKeyFile: string;
	/** Raw HTTP request to n8n with the owner's cookie (for paths outside /rest, e.g. /types/credentials.json). */
	request(method: string, urlPath: string, options?: { body?: unknown; auth?: 'cookie' | 'apiKey' | 'none' }): Promise<Response>;
	/** Runs `n8n <args>` with this instance's environment and its own task-broker port. */
	cli(args: string[], options?: { timeoutMs?: number }): Promise<CommandResult>;

	importCredentials(credentials: CredentialImport[]): Promise<void>;
	/** Imports a workflow and returns its id. */
	importWorkflow(workflow: WorkflowImport): Promise<string>;
	/** Imports several workflows with one CLI run (n8n's start-up costs seconds per run); returns their ids in order. */
	importWorkflows(workflows: WorkflowImport[]): Promise<string[]>;
	/** `n8n publish:workflow`: activates it in the database; a running n8n picks it up within ~10 s. */
	publishWorkflow(workflowId: string): Promise<void>;
	/**
	 * Public API activate. n8n 2.41 answers once the activation is recorded and starts the triggers moments later
	 * (through its publication outbox), so mail sent right after this returns may predate the trigger: call
	 * waitForTriggersLive() before relying on a running trigger.
	 */
	activateWorkflow(workflowId: string): Promise<void>;
	/** n8n's publication record of the workflow: which triggers it started, which failed and why. */
	publicationStatus(workflowId: string): Promise<PublicationStatus>;
	/**
	 * THE way to know that an activated workflow's triggers are live: waits until n8n's publication record reports
	 * every trigger as `activated` (publication `published`), which n8n writes once each trigger's `trigger()` has
	 * returned, so mail delivered from then on is new to the trigger. Throws at once when n8n reports a trigger as
	 * failed (with n8n's error message), or after `timeoutMs` (default 60 s).
	 *
	 * The record survives a restart of n8n: right after start() it still shows the previous run's triggers until n8n's
	 * start-up reconciliation has republished them, so after a restart this can answer before the triggers run again.
	 * (The Gmail IMAP Trigger keeps its position across restarts, so mail delivered meanwhile is still emitted.)
	 */
	waitForTriggersLive(workflowId: string, timeoutMs?: number): Promise<PublicationStatus>;
	/** Waits until n8n reports no started trigger for the workflow any more (after a deactivation). */
	waitForTriggersStopped(workflowId: string, timeoutMs?: number): Promise<PublicationStatus>;
	deactivateWorkflow(workflowId: string): Promise<void>;
	/**
	 * `n8n execute --id --rawOutput` (needs the server running: the result is read back through the public API).
	 * Judge the run by `execution.status`, n8n's own record: the command's exit code is not reliable (see CliExecution).
	 */
	executeWorkflow(workflowId: string, options?: { timeoutMs?: number }): Promise<CliExecution>;
	/** Every execution of the workflow (all pages), oldest first; see ExecutionListOptions for what is left out. */
	listExecutions(workflowId: string, includeData?: boolean, options?: ExecutionListOptions): Promise<Execution[]>;
	/** One execution through the public API, with its deduplicationKey (and data when asked). */
	getExecution(executionId: string, includeData?: boolean): Promise<Execution>;
	/**
	 * Retries an execution the way the editor's Retry button does (`POST /rest/executions/:id/retry` as the owner):
	 * with the workflow stored in the execution (`loadWorkflow` false) or the saved one (true). n8n answers once the
	 * retry has run; it refuses queued (`new`), aborted and finished executions.
	 */
	retryExecution(executionId: string, options?: { loadWorkflow?: boolean }): Promise<RetriedExecution>;
	/** Waits until at least `count` executions of the workflow have finished (any end status); returns all of them. */
	waitForExecutions(workflowId: string, count: number, timeoutMs: number, includeData?: boolean): Promise<Execution[]>;
	/** The credential's data as n8n stores it, decrypted by n8n itself (`n8n export:credentials --decrypted`). */
	readCredential(credentialId: string): Promise<CredentialImport>;
	/** `oauthTokenData` of the stored credential (undefined when it has none). */
	readCredentialTokenData(credentialId: string): Promise<Record<string, unknown> | undefined>;

	/** Graceful stop (SIGTERM, SIGKILL after `graceMs`); resolves when the process group is gone and the ports are free. */
	stop(options?: { graceMs?: number; hard?: boolean }): Promise<StopResult>;
	/** Stops and starts again with the same user folder, ports and encryption key; logs the owner back in. */
	restart(options?: { hard?: boolean }): Promise<void>;
	/**
	 * Starts again after stop(), like restart() but leaving the caller the time in between (e.g. to deliver mail
	 * while n8n is down). Throws if this instance is running.
	 */
	start(): Promise<void>;
}

const owner: Owner = {
	email: 'owner@e2e.test',
	// n8n's password rule: 8+ characters with a digit and an uppercase letter.
	password: 'E2eOwnerPassw0rd',
	firstName: 'End',
	lastName: 'ToEnd',
};

const readinessTimeoutMs = 180_000;

/** Variables of the calling environment that n8n must not inherit (jest sets NODE_ENV=test, which changes n8n). */
function baseEnvironment(): NodeJS.ProcessEnv {
	const keep = ['HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'TZ', 'USER', 'PATH'];
	const env: NodeJS.ProcessEnv = {};
	for (const name of keep) if (process.env[name] !== undefined) env[name] = process.env[name];
	return env;
}

class RunningN8n implements N8nInstance {
	readonly baseUrl: string;
	readonly logsDir: string;
	readonly owner = owner;
	logFile = '';
	apiKey = '';
	ownerCookie = '';
	startSeconds = 0;
	private child: ChildProcess | undefined;
	private exited: Promise<void> = Promise.resolve();
	private startCount = 0;
	/** Sent with every owner request: n8n binds the session cookie to the browser id it was issued with. */
	private readonly browserId = randomUUID();

	constructor(
		readonly installation: N8nInstallation,
		readonly installedPackage: InstalledPackage,
		readonly userFolder: string,
		readonly port: number,
		private readonly brokerPort: number,
		readonly encryptionKey: string,
		private readonly extraEnv: Record<string, string>,
		private readonly log: (line: string) => void,
		readonly apiKeyFile: string,
	) {
		this.baseUrl = `http://127.0.0.1:${port}`;
		this.logsDir = path.join(userFolder, 'logs');
		fs.mkdirSync(this.logsDir, { recursive: true });
	}

	get pid(): number | undefined {
		return this.child?.pid;
	}

	/** The environment of the server and of every CLI run (the CLI needs the same database and key). */
	environment(brokerPort: number): NodeJS.ProcessEnv {
		return {
			...baseEnvironment(),
			PATH: `${this.installation.nodeBinDir}${path.delimiter}${process.env.PATH ?? ''}`,
			NODE_ENV: 'production',
			N8N_USER_FOLDER: this.userFolder,
			N8N_PORT: String(this.port),
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_HOST: '127.0.0.1',
			N8N_PROTOCOL: 'http',
			N8N_EDITOR_BASE_URL: this.baseUrl,
			N8N_WEBHOOK_URL: `${this.baseUrl}/`,
			N8N_ENCRYPTION_KEY: this.encryptionKey,
			DB_TYPE: 'sqlite',
			N8N_RUNNERS_BROKER_PORT: String(brokerPort),
			N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
			// Nothing may call an outside host: telemetry, version checks, templates, personalisation, AI modules.
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_HIRING_BANNER_ENABLED: 'false',
			// The editor's community-node list is fetched from n8n's API host otherwise.
			N8N_VERIFIED_PACKAGES_ENABLED: 'false',
			N8N_DISABLED_MODULES:
				'mcp-registry,instance-ai,agents,agent-evals,chat-hub,workflow-builder,insights,mcp,quick-connect',
			N8N_SECURE_COOKIE: 'false',
			N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
			N8N_LOG_LEVEL: 'info',
			N8N_LOG_OUTPUT: 'console',
			...this.extraEnv,
		};
	}

	async start(): Promise<void> {
		if (this.child) throw new Error(`n8n (pid ${this.child.pid}) is already running; stop it first`);
		for (const port of [this.port, this.brokerPort]) {
			if (await portInUse(port)) throw new Error(`port ${port} is already in use; cannot start n8n there`);
		}
		// Numbered per start; a reused user folder continues its numbering rather than mixing two starts in one file.
		do {
			this.startCount += 1;
			this.logFile = path.join(this.logsDir, `n8n-start-${this.startCount}.log`);
		} while (fs.existsSync(this.logFile));
		const logStream = fs.openSync(this.logFile, 'a');
		const started = Date.now();
		const child = spawn(this.installation.nodeExecutable, [this.installation.n8nEntry, 'start'], {
			cwd: this.userFolder,
			env: this.environment(this.brokerPort),
			stdio: ['ignore', logStream, logStream],
			// Its own process group, so stop() can end the task runner and anything else n8n spawned with it.
			detached: true,
		});
		fs.closeSync(logStream);
		this.child = child;
		this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
		let exitCode: number | null | undefined;
		child.once('exit', (code, signal) => {
			exitCode = code ?? (signal ? -1 : null);
		});

		const deadline = started + readinessTimeoutMs;
		for (;;) {
			if (exitCode !== undefined) {
				throw new Error(`n8n exited (${exitCode}) before it was ready; log ${this.logFile}:\n${this.logTail()}`);
			}
			if (Date.now() > deadline) {
				await this.stop({ hard: true });
				throw new Error(`n8n was not ready within ${readinessTimeoutMs / 1000}s; log ${this.logFile}:\n${this.logTail()}`);
			}
			try {
				// /healthz answers before migrations finish; readiness means the database is up and migrated.
				const response = await fetch(`${this.baseUrl}/healthz/readiness`);
				if (response.status === 200) break;
			} catch {
				// not listening yet
			}
			await sleep(250);
		}
		this.startSeconds = (Date.now() - started) / 1000;
		this.log(`n8n ready at ${this.baseUrl} in ${this.startSeconds.toFixed(1)}s (log ${this.logFile})`);
		await this.signIn();
	}

	/**
	 * First start on a new user folder: create the owner. Otherwise (restart, reused folder): log in. The API key is
	 * the stored one while n8n accepts it (see reusableApiKey); n8n keeps it valid across restarts.
	 */
	private async signIn(): Promise<void> {
		const setup = await this.request('POST', '/rest/owner/setup', { body: owner, auth: 'none' });
		if (setup.ok) {
			this.ownerCookie = sessionCookie(setup);
		} else {
			const login = await this.request('POST', '/rest/login', {
				body: { emailOrLdapLoginId: owner.email, password: owner.password },
				auth: 'none',
			});
			if (!login.ok) {
				throw new Error(
					`neither owner setup (${setup.status} ${await setup.text()}) nor login (${login.status} ${await login.text()}) worked`,
				);
			}
			this.ownerCookie = sessionCookie(login);
		}
		if (this.apiKey === '') this.apiKey = await this.reusableApiKey();
	}

	/**
	 * The stored API key while n8n still accepts it; otherwise (no key stored, or n8n refuses it: another database, a
	 * deleted key) a new one, stored in its place, and the refused one deleted if n8n still lists it.
	 */
	private async reusableApiKey(): Promise<string> {
		const stored = readStoredApiKey(this.apiKeyFile);
		if (stored) {
			const probe = await this.request('GET', '/api/v1/workflows?limit=1', { auth: 'none', apiKey: stored.apiKey });
			if (probe.ok) {
				this.log(`API key reused (${this.apiKeyFile})`);
				return stored.apiKey;
			}
			if (probe.status !== 401 && probe.status !== 403) {
				throw new Error(`n8n answered ${probe.status} when the stored API key was tried: ${(await probe.text()).slice(0, 500)}`);
			}
		}
		const scopes = await this.rest<string[]>('GET', '/rest/api-keys/scopes');
		const created = await this.rest<{ id: string; rawApiKey: string }>('POST', '/rest/api-keys', {
			label: `e2e harness ${randomUUID()}`,
			expiresAt: null,
			scopes,
		});
		writeStoredApiKey(this.apiKeyFile, { id: created.id, apiKey: created.rawApiKey });
		this.log(`API key created (${stored ? 'the stored one was refused' : 'none stored'}), kept in ${this.apiKeyFile}`);
		if (stored && stored.id !== created.id) {
			const listed = await this.listApiKeyIds();
			if (listed.includes(stored.id)) {
				await this.rest('DELETE', `/rest/api-keys/${stored.id}`);
				this.log(`refused API key ${stored.id} deleted`);
			}
		}
		return created.rawApiKey;
	}

	/** Ids of the API keys n8n lists for the owner. */
	private async listApiKeyIds(): Promise<string[]> {
		const listed = await this.rest<Array<{ id: string }> | { items?: Array<{ id: string }> }>('GET', '/rest/api-keys');
		const keys = Array.isArray(listed) ? listed : (listed.items ?? []);
		return keys.map((key) => key.id);
	}

	private logTail(lines = 40): string {
		try {
			return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
		} catch {
			return '(no log)';
		}
	}

	async request(
		method: string,
		urlPath: string,
		options: { body?: unknown; auth?: 'cookie' | 'apiKey' | 'none'; apiKey?: string } = {},
	): Promise<Response> {
		const headers: Record<string, string> = { 'browser-id': this.browserId };
		const auth = options.auth ?? 'cookie';
		if (auth === 'cookie') headers.cookie = this.ownerCookie;
		if (auth === 'apiKey') headers['X-N8N-API-KEY'] = this.apiKey;
		if (options.apiKey !== undefined) headers['X-N8N-API-KEY'] = options.apiKey;
		if (options.body !== undefined) headers['content-type'] = 'application/json';
		return await fetch(`${this.baseUrl}${urlPath}`, {
			method,
			headers,
			body: options.body === undefined ? undefined : JSON.stringify(options.body),
		});
	}

	async rest<T>(method: string, restPath: string, body?: unknown): Promise<T> {
		const response = await this.request(method, restPath, { body, auth: 'cookie' });
		const text = await response.text();
		if (!response.ok) throw new Error(`${method} ${restPath}: ${response.status} ${text.slice(0, 500)}`);
		const parsed = (text ? JSON.parse(text) : {}) as { data?: T };
		return (parsed.data ?? parsed) as T;
	}

	async api<T>(method: string, apiPath: string, body?: unknown): Promise<T> {
		const response = await this.request(method, apiPath, { body, auth: 'apiKey' });
		const text = await response.text();
		if (!response.ok) throw new Error(`${method} ${apiPath}: ${response.status} ${text.slice(0, 500)}`);
		return (text ? JSON.parse(text) : {}) as T;
	}

	async cli(args: string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
		// A CLI run starts its own task broker; with the server running it needs a port of its own.
		const brokerPort = await freePort([this.port, this.brokerPort]);
		// A CLI run also starts n8n's event bus, whose start-up recovery reads the event log and marks executions it
		// finds unfinished there as crashed. On the server's log that would hit the server's in-flight executions (and
		// parsing a long log in its worker thread races process exit: Node 24 segfaults). So each run gets a fresh log.
		const eventLogDir = fs.mkdtempSync(path.join(this.logsDir, 'cli-events-'));
		try {
			return await runCommand(this.installation.nodeExecutable, [this.installation.n8nEntry, ...args], {
				cwd: this.userFolder,
				env: {
					...this.environment(brokerPort),
					N8N_EVENTBUS_LOGWRITER_LOGFULLPATH: path.join(eventLogDir, 'n8nEventLog.log'),
				},
				logFile: path.join(this.logsDir, 'cli.log'),
				timeoutMs: options.timeoutMs ?? 5 * 60 * 1000,
			});
		} finally {
			fs.rmSync(eventLogDir, { recursive: true, force: true });
		}
	}

	private async cliChecked(args: string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
		const result = await this.cli(args, options);
		if (result.code !== 0) {
			const tail = (result.stdout + result.stderr).split('\n').slice(-30).join('\n');
			throw new Error(`n8n ${args.join(' ')} exited ${result.code ?? result.signal}:\n${tail}`);
		}
		return result;
	}

	private scratchFile(name: string, content: unknown): string {
		const dir = fs.mkdtempSync(path.join(this.userFolder, 'import-'));
		const file = path.join(dir, name);
		fs.writeFileSync(file, JSON.stringify(content, null, 2));
		return file;
	}

	async importCredentials(credentials: CredentialImport[]): Promise<void> {
		const file = this.scratchFile('credentials.json', credentials);
		try {
			await this.cliChecked(['import:credentials', `--input=${file}`]);
		} finally {
			// The file holds plain secrets; n8n has its encrypted copy now.
			fs.rmSync(path.dirname(file), { recursive: true, force: true });
		}
	}

	async importWorkflow(workflow: WorkflowImport): Promise<string> {
		const id = workflow.id ?? newWorkflowId();
		const file = this.scratchFile('workflow.json', { active: false, settings: {}, ...workflow, id });
		try {
			await this.cliChecked(['import:workflow', `--input=${file}`]);
		} finally {
			fs.rmSync(path.dirname(file), { recursive: true, force: true });
		}
		return id;
	}

	async importWorkflows(workflows: WorkflowImport[]): Promise<string[]> {
		const complete = workflows.map((workflow) => ({ active: false, settings: {}, ...workflow, id: workflow.id ?? newWorkflowId() }));
		// Without --separate, import:workflow takes a file holding an array of workflows.
		const file = this.scratchFile('workflows.json', complete);
		try {
			await this.cliChecked(['import:workflow', `--input=${file}`]);
		} finally {
			fs.rmSync(path.dirname(file), { recursive: true, force: true });
		}
		return complete.map((workflow) => workflow.id);
	}

	async publishWorkflow(workflowId: string): Promise<void> {
		await this.cliChecked(['publish:workflow', `--id=${workflowId}`]);
	}

	async activateWorkflow(workflowId: string): Promise<void> {
		await this.api('POST', `/api/v1/workflows/${workflowId}/activate`);
	}

	async publicationStatus(workflowId: string): Promise<PublicationStatus> {
		return await this.rest<PublicationStatus>('GET', `/rest/workflows/${workflowId}/publication-status`);
	}

	async waitForTriggersLive(workflowId: string, timeoutMs = 60_000): Promise<PublicationStatus> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const publication = await this.publicationStatus(workflowId);
			const failed = publication.triggers.filter((trigger) => trigger.status === 'failed');
			if (failed.length > 0 || publication.status === 'failed' || publication.status === 'partial') {
				const reasons = failed.map((trigger) => `${trigger.nodeId}: ${trigger.errorMessage ?? '(no message)'}`);
				throw new Error(`workflow ${workflowId}: n8n could not start its trigger(s): ${reasons.join('; ') || publication.status}`);
			}
			if (publication.status === 'published' && publication.triggers.length > 0) return publication;
			if (Date.now() > deadline) {
				throw new Error(`workflow ${workflowId}: triggers not started within ${timeoutMs / 1000}s (publication ${publication.status})`);
			}
			await sleep(200);
		}
	}

	async waitForTriggersStopped(workflowId: string, timeoutMs = 60_000): Promise<PublicationStatus> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const publication = await this.publicationStatus(workflowId);
			if (publication.status !== 'in_progress' && publication.triggers.length === 0) return publication;
			if (Date.now() > deadline) {
				throw new Error(
					`workflow ${workflowId}: triggers still reported after ${timeoutMs / 1000}s (publication ${publication.status}, ` +
						`${publication.triggers.length} trigger(s))`,
				);
			}
			await sleep(200);
		}
	}

	async deactivateWorkflow(workflowId: string): Promise<void> {
		await this.api('POST', `/api/v1/workflows/${workflowId}/deactivate`);
	}

	async executeWorkflow(workflowId: string, options: { timeoutMs?: number } = {}): Promise<CliExecution> {
		const before = new Set((await this.listExecutions(workflowId)).map((execution) => execution.id));
		const command = await this.cli(['execute', `--id=${workflowId}`, '--rawOutput'], options);
		const created = (await this.listExecutions(workflowId, true)).filter(
			(execution) => !before.has(execution.id) && execution.mode === 'cli',
		);
		if (created.length > 1) throw new Error(`one n8n execute run created ${created.length} executions`);
		const execution = created[0];
		const finished = execution !== undefined && !['new', 'running', 'waiting'].includes(execution.status);
		const exitedAsExpected =
			command.code === 0 || command.code === 1 || (command.signal === 'SIGSEGV' && finished);
		if (command.signal === 'SIGSEGV') {
			this.log(`n8n execute ${workflowId} segfaulted on exit (execution ${execution?.id ?? 'none'}: ${execution?.status ?? 'not recorded'})`);
		}
		return { command, execution, exitedAsExpected };
	}

	async listExecutions(workflowId: string, includeData = false, options: ExecutionListOptions = {}): Promise<Execution[]> {
		const executions: Execution[] = [];
		let cursor: string | undefined;
		do {
			const query = new URLSearchParams({ workflowId, includeData: String(includeData), limit: '250' });
			if (options.status) query.set('status', options.status);
			if (cursor) query.set('cursor', cursor);
			const page = await this.api<{ data: Execution[]; nextCursor: string | null }>(
				'GET',
				`/api/v1/executions?${query.toString()}`,
			);
			executions.push(...page.data);
			cursor = page.nextCursor ?? undefined;
		} while (cursor);
		return executions.sort((a, b) => Number(a.id) - Number(b.id));
	}

	async getExecution(executionId: string, includeData = false): Promise<Execution> {
		return await this.api<Execution>('GET', `/api/v1/executions/${executionId}?includeData=${String(includeData)}`);
	}

	async retryExecution(executionId: string, options: { loadWorkflow?: boolean } = {}): Promise<RetriedExecution> {
		const retried = await this.rest<RetriedExecution>('POST', `/rest/executions/${executionId}/retry`, {
			loadWorkflow: options.loadWorkflow ?? false,
		});
		return { ...retried, id: String(retried.id), retryOf: String(retried.retryOf) };
	}

	async waitForExecutions(
		workflowId: string,
		count: number,
		timeoutMs: number,
		includeData = false,
	): Promise<Execution[]> {
		const deadline = Date.now() + timeoutMs;
		const unfinished = new Set(['new', 'running', 'waiting']);
		let seen: Execution[] = [];
		for (;;) {
			seen = await this.listExecutions(workflowId, includeData);
			if (seen.filter((execution) => !unfinished.has(execution.status)).length >= count) return seen;
			if (Date.now() > deadline) {
				const statuses = seen.map((execution) => `${execution.id}:${execution.status}`).join(', ');
				throw new Error(
					`workflow ${workflowId}: wanted ${count} finished executions within ${timeoutMs / 1000}s, saw [${statuses}]`,
				);
			}
			await sleep(500);
		}
	}

	async readCredential(credentialId: string): Promise<CredentialImport> {
		const dir = fs.mkdtempSync(path.join(this.userFolder, 'export-'));
		const file = path.join(dir, 'credentials.json');
		try {
			await this.cliChecked(['export:credentials', `--id=${credentialId}`, '--decrypted', `--output=${file}`]);
			const exported = JSON.parse(fs.readFileSync(file, 'utf8')) as CredentialImport[] | CredentialImport;
			const credential = Array.isArray(exported) ? exported[0] : exported;
			if (!credential || credential.id !== credentialId) throw new Error(`credential ${credentialId} not exported`);
			return credential;
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	}

	async readCredentialTokenData(credentialId: string): Promise<Record<string, unknown> | undefined> {
		const credential = await this.readCredential(credentialId);
		return credential.data.oauthTokenData as Record<string, unknown> | undefined;
	}

	async stop(options: { graceMs?: number; hard?: boolean } = {}): Promise<StopResult> {
		const child = this.child;
		const started = Date.now();
		if (!child?.pid) return { seconds: 0, forced: false };
		const pid = child.pid;
		const forced = await stopProcessGroup(child, this.exited, options);
		for (const port of [this.port, this.brokerPort]) {
			const portDeadline = Date.now() + 5000;
			while ((await portInUse(port)) && Date.now() < portDeadline) await sleep(100);
			if (await portInUse(port)) throw new Error(`port ${port} still answers after n8n (pid ${pid}) stopped`);
		}
		this.child = undefined;
		const seconds = (Date.now() - started) / 1000;
		this.log(`n8n stopped in ${seconds.toFixed(1)}s${forced ? ' (forced)' : ''}`);
		return { seconds, forced };
	}

	async restart(options: { hard?: boolean } = {}): Promise<void> {
		await this.stop(options);
		await this.start();
	}
}

/** n8n's `n8n-auth` cookie from a login or owner-setup answer, as a Cookie header value. */
function sessionCookie(response: Response): string {
	const cookies = response.headers.getSetCookie();
	const auth = cookies.find((cookie) => cookie.startsWith('n8n-auth='));
	if (!auth) throw new Error('n8n answered without an n8n-auth session cookie');
	return auth.split(';')[0];
}

/** n8n workflow ids are 16 alphanumeric characters. */
function newWorkflowId(): string {
	const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
	return Array.from(randomBytes(16), (byte) => alphabet[byte % alphabet.length]).join('');
}

/** Run folders kept for their logs; older ones are removed when a new run starts. */
const keptRunFolders = 12;

/** A new folder under .cache/e2e/runs for one n8n instance. */
export function newRunFolder(label = 'n8n'): string {
	fs.mkdirSync(e2eRunsRoot, { recursive: true });
	pruneOldRunFolders();
	const stamp = new Date().toISOString().replace(/[:.]/g, '-');
	return fs.mkdtempSync(path.join(e2eRunsRoot, `${stamp}-${label}-`));
}

/**
 * Installs n8n when needed, installs the freshly built package into the user folder, starts n8n, waits until ready,
 * creates the owner and an API key. The caller must `stop()` it (also on failure paths, e.g. in afterAll).
 */
export async function startN8n(options: StartOptions = {}): Promise<N8nInstance> {
	const log = options.log ?? (() => undefined);
	const installation = await ensureN8nInstalled(log);
	log(
		`n8n ${installation.n8nVersion} on Node ${installation.nodeVersion}: ` +
			`${installation.freshlyInstalled ? 'installed' : 'reused'} in ${installation.seconds.toFixed(1)}s`,
	);
	const userFolder = options.userFolder ?? newRunFolder();
	fs.mkdirSync(userFolder, { recursive: true });
	const installedPackage =
		options.installPackage === false
			? describeInstalledPackage(userFolder)
			: await installPackageIntoUserFolder(installation, userFolder, log);
	const port = options.port ?? (await freePort());
	const brokerPort = await freePort([port]);
	const encryptionKey = options.encryptionKey ?? randomBytes(24).toString('hex');
	const instance = new RunningN8n(
		installation,
		installedPackage,
		userFolder,
		port,
		brokerPort,
		encryptionKey,
		options.env ?? {},
		log,
		options.apiKeyFile ?? path.join(userFolder, 'e2e-api-key.json'),
	);
	try {
		await instance.start();
	} catch (error) {
		// Never leave a half-started n8n behind: the caller gets no handle to stop it.
		await instance.stop({ hard: true }).catch(() => undefined);
		throw error;
	}
	return instance;
}

/**
 * Each run leaves its user folder (logs, database, installed package: ~10 MB) for post-mortems. Keep the newest few,
 * never one that a live process still uses (a parallel run, a `cli.ts start` session).
 */
function pruneOldRunFolders(): void {
	const folders = fs
		.readdirSync(e2eRunsRoot, { withFileTypes: true })
		.filter((entry) => entry.isDirectory())
		.map((entry) => path.join(e2eRunsRoot, entry.name))
		.sort()
		.reverse();
	for (const folder of folders.slice(keptRunFolders)) {
		if (processesMentioning(folder).length === 0) fs.rmSync(folder, { recursive: true, force: true });
	}
}

function describeInstalledPackage(userFolder: string): InstalledPackage {
	const dir = path.join(userFolder, '.n8n', 'nodes', 'node_modules', packageName);
	const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
		version: string;
		n8n?: { credentials?: string[]; nodes?: string[] };
	};
	return {
		dir,
		tarball: '',
		version: manifest.version,
		n8n: { credentials: manifest.n8n?.credentials ?? [], nodes: manifest.n8n?.nodes ?? [] },
	};
}
