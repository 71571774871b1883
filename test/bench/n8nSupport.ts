/**
 * Pieces of the real-n8n benchmarks (n8nBacklog.bench.ts, n8nScale.bench.ts): one mail stack and one n8n 2.41.1 with
 * this package installed as a community package (test/e2e/harness), credentials for this package's trigger (XOAUTH2,
 * tokens from the stack's token server) and for n8n's built-in Email Trigger (IMAP) (the stack's PLAIN password, same
 * Dovecot, same TLS port), workflows trigger → No Operation, numbered messages, and the reading of n8n's executions
 * back into "which message ran when".
 *
 * Benchmarks are scripts, not tests: they print numbers and ratios and assert nothing.
 */
import { randomBytes, randomUUID } from 'crypto';
import { execFile } from 'child_process';
import { readFileSync } from 'fs';

import { buildAndPack, startN8n, type Execution, type N8nInstance, type WorkflowImport } from '../e2e/harness';
import { stackCaFile } from '../e2e/scenarios/support';
import type { RunningStack } from '../stack';
import { sandboxCredentialData } from '../../scripts/demo';
import { packageName } from '../e2e/harness/paths';
import { sleep } from './benchKit';

// ---- n8n ------------------------------------------------------------------------------------------------------------

/**
 * Builds and packs the package (once per process, as the harness does) and checks that the tarball holds every node
 * and credential file it registers: other engineers' builds in the same tree empty dist/ for a moment, and a
 * tarball packed then would give an n8n without the trigger. Such a pack is cached for the process, so the only
 * remedy is another run.
 */
export async function checkedPack(): Promise<void> {
	const packed = await buildAndPack();
	const listing = await run('tar', ['-tzf', packed.tarball]);
	const missing = [...packed.n8n.nodes, ...packed.n8n.credentials].filter((file) => !listing.includes(`package/${file}`));
	if (missing.length > 0) {
		throw new Error(`the packed package lacks ${missing.join(', ')} (a concurrent build emptied dist/?): run the benchmark again`);
	}
}

/** n8n with the package (checked) and the stack's CA trusted; `env` adds to the harness's environment. */
export async function startBenchN8n(stack: RunningStack, log: (line: string) => void, env: Record<string, string> = {}): Promise<N8nInstance> {
	await checkedPack();
	return await startN8n({ env: { NODE_EXTRA_CA_CERTS: stackCaFile(stack), ...env }, log });
}

// ---- the contenders -------------------------------------------------------------------------------------------------

/** One trigger configuration to compare: this package's trigger with some options, or n8n's built-in. */
export interface Contender {
	label: string;
	kind: 'ours' | 'builtin';
	/** Options of this package's trigger (`parameters.options`); unused for the built-in. */
	options?: Record<string, unknown>;
}

export const OURS_DEFAULT: Contender = { label: 'Gmail IMAP Trigger, defaults (v2 Automatic)', kind: 'ours', options: {} };
export const OURS_PER_MESSAGE: Contender = { label: 'Gmail IMAP Trigger, One Run per Message', kind: 'ours', options: { outputMode: 'perMessage' } };
export const OURS_BATCH_20: Contender = { label: 'Gmail IMAP Trigger, Batches of 20', kind: 'ours', options: { outputMode: 'batch', batchSize: 20 } };
export const BUILTIN: Contender = { label: "n8n's Email Trigger (IMAP) v2.2", kind: 'builtin' };

const OAUTH_TYPE = 'mailServerOAuth2Api';
const IMAP_TYPE = 'imap';

export interface BenchMailbox {
	user: string;
	credentialId: string;
	credentialName: string;
	credentialType: string;
}

const newId = (): string => randomBytes(12).toString('hex').slice(0, 16);

/**
 * One credential per mailbox, of the type the contender needs, all imported in one CLI run (each run costs n8n's
 * start-up). OAuth tokens come from the stack's token server (lifetime one hour, longer than any benchmark phase).
 */
export async function importBenchMailboxes(
	n8n: N8nInstance,
	stack: RunningStack,
	entries: Array<{ user: string; kind: Contender['kind'] }>,
): Promise<BenchMailbox[]> {
	const mailboxes: BenchMailbox[] = [];
	const credentials = [];
	for (const { user, kind } of entries) {
		const mailbox: BenchMailbox = {
			user,
			credentialId: newId(),
			credentialName: `bench ${kind} ${user}`,
			credentialType: kind === 'ours' ? OAUTH_TYPE : IMAP_TYPE,
		};
		let data: Record<string, unknown>;
		if (kind === 'ours') {
			const obtainedAt = Date.now();
			data = sandboxCredentialData(stack, user, await stack.issueTokens(user), obtainedAt);
		} else {
			// n8n's built-in IMAP credential: password login over implicit TLS, the stack's CA trusted through
			// NODE_EXTRA_CA_CERTS (certificate not ignored).
			data = { user, password: stack.info.plainPassword, host: stack.host, port: stack.ports.imaps, secure: true, allowUnauthorizedCerts: false };
		}
		mailboxes.push(mailbox);
		credentials.push({ id: mailbox.credentialId, name: mailbox.credentialName, type: mailbox.credentialType, data });
	}
	await n8n.importCredentials(credentials);
	return mailboxes;
}

const TRIGGER_NAME = 'New mail';
const NOOP_NAME = 'No Operation';

/**
 * Trigger → No Operation, the trigger as a user adds it: this package's trigger at node version 2 with the contender's
 * options (startFrom added by the caller where a backlog must count), or the built-in at version 2.2 with its
 * defaults (UNSEEN, Mark as Read, simple format).
 */
export function benchWorkflow(name: string, contender: Contender, mailbox: BenchMailbox, extraOptions: Record<string, unknown> = {}): WorkflowImport {
	const credentials = { [mailbox.credentialType]: { id: mailbox.credentialId, name: mailbox.credentialName } };
	const trigger =
		contender.kind === 'ours'
			? {
					id: randomUUID(),
					name: TRIGGER_NAME,
					type: `${packageName}.gmailImapTrigger`,
					typeVersion: 2,
					position: [0, 0],
					parameters: { authentication: OAUTH_TYPE, options: { ...contender.options, ...extraOptions } },
					credentials,
				}
			: {
					id: randomUUID(),
					name: TRIGGER_NAME,
					type: 'n8n-nodes-base.emailReadImap',
					typeVersion: 2.2,
					position: [0, 0],
					parameters: {},
					credentials,
				};
	return {
		name,
		settings: { executionOrder: 'v1' },
		nodes: [trigger, { id: randomUUID(), name: NOOP_NAME, type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [240, 0], parameters: {} }],
		connections: { [TRIGGER_NAME]: { main: [[{ node: NOOP_NAME, type: 'main', index: 0 }]] } },
	};
}

// ---- messages -------------------------------------------------------------------------------------------------------

/** Numbered small messages, subject `bench-<tag>-<n>`; found again in any execution's saved data by that subject. */
export class BenchSeries {
	readonly tag = `bench${randomBytes(4).toString('hex')}`;
	private readonly pattern = new RegExp(`${this.tag}-(\\d+)(?!\\d)`, 'g');

	subject(index: number): string {
		return `${this.tag}-${index}`;
	}

	async deliver(stack: RunningStack, to: string, index: number): Promise<number> {
		await stack.deliver(
			{ to, from: `sender@${stack.domain}`, subject: this.subject(index), text: `Message ${index} of a benchmark.\n${'lorem ipsum '.repeat(20)}` },
			{ via: 'lmtp' },
		);
		return Date.now();
	}

	/** Delivers messages `from`..`to-1` to `user`, `parallel` at a time; returns when Dovecot stored every one. */
	async deliverMany(stack: RunningStack, user: string, from: number, to: number, parallel = 8): Promise<void> {
		let next = from;
		await Promise.all(
			Array.from({ length: parallel }, async () => {
				while (next < to) await this.deliver(stack, user, next++);
			}),
		);
	}

	/** The message numbers an execution's saved data names. */
	indicesIn(execution: Execution): number[] {
		const found = new Set<number>();
		for (const match of JSON.stringify(execution.data ?? {}).matchAll(this.pattern)) found.add(Number(match[1]));
		return [...found];
	}
}

// ---- executions -----------------------------------------------------------------------------------------------------

const UNFINISHED = new Set<Execution['status']>(['new', 'running', 'waiting', 'unknown']);

export interface Drained {
	executions: Execution[];
	/** Messages of the series found in finished executions. */
	covered: number;
	/** Latest `stoppedAt` over the executions (ms since epoch). */
	lastEnd: number;
	complete: boolean;
}

/**
 * Waits until `count` messages of the series are found in finished executions of the workflow. Polls the light list
 * (no data) once a second and reads the executions' data only when nothing ran and nothing changed for two polls, so
 * the benchmark's own reading disturbs n8n as little as possible while it works.
 */
export async function waitUntilDrained(
	n8n: N8nInstance,
	workflowId: string,
	series: BenchSeries,
	count: number,
	timeoutMs: number,
): Promise<Drained> {
	const deadline = Date.now() + timeoutMs;
	let signature = '';
	let stable = 0;
	let covered = 0;
	for (;;) {
		const [listed, running] = await Promise.all([
			n8n.listExecutions(workflowId),
			n8n.listExecutions(workflowId, false, { status: 'running' }),
		]);
		const now = `${listed.map((execution) => `${execution.id}:${execution.status}`).join(',')}|${running.length}`;
		stable = now === signature ? stable + 1 : 0;
		signature = now;
		const finished = listed.filter((execution) => !UNFINISHED.has(execution.status));
		if (running.length === 0 && finished.length === listed.length && listed.length > 0 && stable >= 1) {
			const withData = await n8n.listExecutions(workflowId, true);
			const found = new Set(withData.filter((execution) => !UNFINISHED.has(execution.status)).flatMap((execution) => series.indicesIn(execution)));
			covered = found.size;
			if (covered >= count || Date.now() > deadline) return drained(withData, series, covered >= count);
			stable = -2; // the next data read only after the list changed or stayed quiet for three more polls
		}
		if (Date.now() > deadline) return drained(await n8n.listExecutions(workflowId, true), series, false);
		await sleep(1000);
	}
}

function drained(executions: Execution[], series: BenchSeries, complete: boolean): Drained {
	const found = new Set(executions.flatMap((execution) => series.indicesIn(execution)));
	const lastEnd = Math.max(0, ...executions.map((execution) => (execution.stoppedAt ? Date.parse(execution.stoppedAt) : 0)));
	return { executions, covered: found.size, lastEnd, complete };
}

// ---- processes ------------------------------------------------------------------------------------------------------

export function run(command: string, args: string[]): Promise<string> {
	return new Promise((resolve, reject) => {
		execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
	});
}

/** Every process of n8n's process group (main process, task runner). */
async function groupPids(n8n: N8nInstance): Promise<number[]> {
	if (!n8n.pid) return [];
	const out = await run('ps', ['-o', 'pid=', '-g', String(n8n.pid)]);
	return out.split('\n').map((line) => Number(line.trim())).filter((pid) => pid > 0);
}

/** RSS (bytes) of n8n's main process. */
export async function mainRss(n8n: N8nInstance): Promise<number> {
	if (!n8n.pid) return 0;
	const status = await run('cat', [`/proc/${n8n.pid}/status`]);
	return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * n8n's main process memory as its own Prometheus endpoint reports it (needs N8N_METRICS=true): V8 heap in use and
 * memory outside the heap (Buffers, TLS, zlib), in bytes. Tells a trigger's own objects from heap growth not yet
 * collected, which RSS alone cannot.
 */
export async function heapMetrics(n8n: N8nInstance): Promise<{ heapUsed: number; heapTotal: number; external: number } | undefined> {
	try {
		const response = await fetch(`${n8n.baseUrl}/metrics`);
		if (!response.ok) return undefined;
		const text = await response.text();
		const value = (name: string) => Number(new RegExp(`^n8n_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
		return { heapUsed: value('nodejs_heap_size_used_bytes'), heapTotal: value('nodejs_heap_size_total_bytes'), external: value('nodejs_external_memory_bytes') };
	} catch {
		return undefined;
	}
}

/** CPU time (user + system, seconds) used so far by n8n's process group. */
export async function groupCpuSeconds(n8n: N8nInstance): Promise<number> {
	const ticks = Number((await run('getconf', ['CLK_TCK'])).trim()) || 100;
	let total = 0;
	for (const pid of await groupPids(n8n)) {
		const stat = await run('cat', [`/proc/${pid}/stat`]).catch(() => '');
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		// After the command: state(0) … utime(11) stime(12).
		if (fields.length > 12) total += (Number(fields[11]) + Number(fields[12])) / ticks;
	}
	return total;
}

/** How busy the machine is (1-minute load average, cores), to say it beside the numbers. */
export async function machineLoad(): Promise<string> {
	const loadavg = (await run('cat', ['/proc/loadavg'])).split(' ').slice(0, 3).join(' ');
	const cores = (await run('nproc', [])).trim();
	return `load average ${loadavg} on ${cores} cores`;
}

// ---- CPU profiles ---------------------------------------------------------------------------------------------------

/**
 * Now on the clock V8 stamps CPU profiles with (CLOCK_MONOTONIC, µs): profile samples of another process on this
 * machine can be cut to a window the benchmark marked with this.
 */
export function monotonicMicros(): number {
	return Number(process.hrtime.bigint() / 1000n);
}

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}

interface CpuProfile {
	nodes: ProfileNode[];
	startTime: number;
	samples: number[];
	timeDeltas: number[];
}

/** Where a frame's code lives: this package, a dependency (by package name), n8n itself, Node.js, or V8's own. */
function frameArea(url: string, functionName: string): string {
	if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
	if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/')[0];
	const modules = url.split('/node_modules/');
	if (modules.length > 1) {
		const last = modules[modules.length - 1].split('/');
		const name = last[0].startsWith('@') ? `${last[0]}/${last[1]}` : last[0];
		if (name === packageName) return `${packageName}/${last.slice(1, -1).slice(-2).join('/')}`;
		return name;
	}
	return url;
}

/**
 * The samples of a V8 CPU profile (`--cpu-prof`) that fall between `fromUs` and `toUs` (monotonicMicros()): busy
 * share, the areas (package, Node.js module) that were on the stack (inclusive) and that ran (self), and the
 * functions with the most self time. Lines of text, for the benchmark's report.
 */
export function summarizeCpuProfile(file: string, fromUs: number, toUs: number, top = 20): string[] {
	const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
	const byId = new Map<number, ProfileNode>();
	const parent = new Map<number, number>();
	for (const node of profile.nodes) {
		byId.set(node.id, node);
		for (const child of node.children ?? []) parent.set(child, node.id);
	}
	const self = new Map<string, number>();
	const selfArea = new Map<string, number>();
	const inclusiveArea = new Map<string, number>();
	const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
	let time = profile.startTime;
	let total = 0;
	let idle = 0;
	for (let index = 0; index < profile.samples.length; index++) {
		time += profile.timeDeltas[index];
		if (time < fromUs || time > toUs) continue;
		const us = profile.timeDeltas[index + 1] ?? 0;
		const node = byId.get(profile.samples[index]);
		if (!node) continue;
		total += us;
		const { functionName, url, lineNumber } = node.callFrame;
		if (functionName === '(idle)') {
			idle += us;
			continue;
		}
		const area = frameArea(url, functionName);
		add(selfArea, area, us);
		add(self, `${functionName || '(anonymous)'} ${area}:${lineNumber + 1}`, us);
		const seen = new Set<string>();
		for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
			const frame = byId.get(id)?.callFrame;
			if (frame && frame.functionName !== '(root)') seen.add(frameArea(frame.url, frame.functionName));
		}
		for (const key of seen) add(inclusiveArea, key, us);
	}
	const busy = total - idle;
	const share = (us: number) => `${((us / Math.max(1, busy)) * 100).toFixed(1)}%`;
	const sorted = (map: Map<string, number>, count: number) => [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
	const lines = [
		`profile window ${((toUs - fromUs) / 1e6).toFixed(1)} s: main thread busy ${(busy / 1e6).toFixed(1)} s (${((busy / Math.max(1, total)) * 100).toFixed(0)}% of the window)`,
		`on the stack (inclusive, share of busy): ${sorted(inclusiveArea, 14).map(([key, us]) => `${key} ${share(us)}`).join(', ')}`,
		`running (self): ${sorted(selfArea, 12).map(([key, us]) => `${key} ${share(us)}`).join(', ')}`,
		'top functions (self):',
		...sorted(self, top).map(([key, us]) => `  ${share(us).padStart(6)} ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`),
	];
	return lines;
}
