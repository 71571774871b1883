/**
 * Many triggers in one real n8n (not a test: it prints numbers and ratios, asserts nothing).
 *
 *   npx tsx test/bench/n8nScale.bench.ts [--triggers 200] [--idle-seconds 30] [--only ours|builtin] [--cpu-prof [--cpu-prof-phase activation]]
 *     [--n8n-env NAME=value]
 *
 * One mail stack; for each contender in turn a fresh n8n 2.41.1 (test/e2e/harness) with N workflows trigger → No
 * Operation on N mailboxes of their own: this package's trigger with its defaults (node version 2), then n8n's
 * built-in Email Trigger (IMAP) v2.2 with its defaults (password login on the same Dovecot port). For each:
 *   - activation: every workflow activated through the public API (8 requests at a time) → every trigger live
 *     (n8n's publication record), and the IMAP connections n8n holds then (`ss`, established to Dovecot's port);
 *     beside it, when the last activate request was answered and when N connections were first open;
 *   - steady state: n8n main process RSS before activation and after `--idle-seconds` of quiet, per trigger;
 *     CPU of n8n's process group over that quiet time;
 *   - one message delivered to each of the N mailboxes at once (LMTP, 20 at a time): time from the first delivery
 *     (and from the last) until every workflow has a finished execution holding its message; per message, delivery →
 *     execution created → started → stopped, and n8n's CPU seconds over that phase;
 *   - a restart of n8n with every workflow still active: from the start command until n8n answers, and until N IMAP
 *     sessions are open again (n8n activates active workflows at start-up; the positions are already saved);
 *   - with --cpu-prof, n8n runs with V8's CPU profiler and the main process's samples during that phase are summed
 *     by package / Node.js module and by function (with --cpu-prof-phase activation: those of the activation instead).
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { Execution, N8nInstance } from '../e2e/harness';
import { startStack, type RunningStack } from '../stack';
import { option, percentile, sleep } from './benchKit';
import {
	BUILTIN,
	OURS_DEFAULT,
	benchWorkflow,
	startBenchN8n,
	groupCpuSeconds,
	heapMetrics,
	importBenchMailboxes,
	machineLoad,
	mainRss,
	monotonicMicros,
	summarizeCpuProfile,
	run,
	type Contender,
} from './n8nSupport';

const log = (line: string): void => console.log(line);
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

interface ScaleOutcome {
	label: string;
	triggers: number;
	activationSeconds: number;
	activationDetail: string;
	failedActivations: number;
	connections: number;
	rssBefore: number;
	rssSteady: number;
	memoryDetail: string;
	idleCpuPercent: number;
	baselineCpuPercent: number;
	firstDeliveryToAll: number;
	lastDeliveryToAll: number;
	deliverySeconds: number;
	emitted: number;
	medianEmit: number;
	/** CPU seconds n8n's process group used from the first delivery until every workflow had run. */
	deliveryCpuSeconds: number;
	/** Where the time went, per message (lines for the report). */
	breakdown: string[];
	/** The main process's CPU profile over the delivery phase (with --cpu-prof). */
	profile: string[];
	/** After a restart of n8n with every workflow active: when n8n answered, and when N IMAP sessions were open again. */
	restart?: { readySeconds: number; connectedSeconds: number };
}

/**
 * n8n stopped and started again with every workflow active, as after an upgrade or a crash: n8n activates them all at
 * start-up. Timed from the start command: until the harness's start() returns (n8n answering, its owner login and API
 * key checked), and until `expected` IMAP sessions are established again (the triggers' side of the activation; n8n's
 * publication record still shows the previous run's triggers right after a restart). NaN: not reached in 300 s.
 * With --cpu-prof the restarted n8n runs under the profiler too.
 */
async function restartPhase(n8n: N8nInstance, stack: RunningStack, expected: number): Promise<{ readySeconds: number; connectedSeconds: number }> {
	await n8n.stop();
	const closedBy = Date.now() + 30_000;
	let left = await imapConnections(stack);
	while (left > 0 && Date.now() < closedBy) {
		await sleep(250);
		left = await imapConnections(stack);
	}
	if (left > 0) log(`  restart: ${left} IMAP connections still open 30 s after n8n stopped; they are counted out`);
	const target = expected + left;
	const started = Date.now();
	const sessions = watchConnections(stack, target, started);
	let readySeconds: number;
	try {
		await n8n.start();
		readySeconds = (Date.now() - started) / 1000;
		await sessions.done;
	} finally {
		sessions.stop();
	}
	return { readySeconds, connectedSeconds: sessions.seconds() };
}

function restartText(restart: { readySeconds: number; connectedSeconds: number }): string {
	const connected = Number.isNaN(restart.connectedSeconds) ? 'not all open again within 300 s' : `all open again after ${restart.connectedSeconds.toFixed(1)} s`;
	return `n8n started (answering, owner login done) after ${restart.readySeconds.toFixed(1)} s; IMAP sessions ${connected}`;
}

/** p50 / p90 / max of a list of milliseconds, as text. */
function spread(values: number[]): string {
	if (values.length === 0) return 'n/a';
	const at = (p: number) => percentile(values, p).toFixed(0);
	return `p10 ${at(10)} / p50 ${at(50)} / p90 ${at(90)} / max ${Math.max(...values).toFixed(0)} ms`;
}

/** `--n8n-env NAME=value` (repeatable): environment for n8n, e.g. MALLOC_ARENA_MAX=2 to test where RSS goes. */
function extraEnv(): Record<string, string> {
	const env: Record<string, string> = {};
	process.argv.forEach((arg, index) => {
		const value = process.argv[index + 1];
		if (arg !== '--n8n-env' || !value?.includes('=')) return;
		env[value.slice(0, value.indexOf('='))] = value.slice(value.indexOf('=') + 1);
	});
	return env;
}

/** Runs `work` over `items`, `parallel` at a time. */
async function pool<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
	let next = 0;
	await Promise.all(Array.from({ length: parallel }, async () => {
		while (next < items.length) await work(items[next++]);
	}));
}

/** Established TCP connections from anything on this machine to Dovecot's IMAPS port. */
async function imapConnections(stack: RunningStack): Promise<number> {
	const out = await run('ss', ['-Htn', 'state', 'established', `( dport = :${stack.ports.imaps} )`]);
	return out.split('\n').filter((line) => line.trim() !== '').length;
}

/**
 * Polls the established IMAP sessions every 250 ms from `started` until `target` are open: `done` settles then, or
 * when stop() is called or `timeoutMs` has passed; seconds() is the time from `started` it took (NaN: not reached).
 */
function watchConnections(stack: RunningStack, target: number, started: number, timeoutMs = 300_000): { done: Promise<void>; stop: () => void; seconds: () => number } {
	let watching = true;
	let seconds = NaN;
	const done = (async () => {
		while (watching && Date.now() - started < timeoutMs) {
			if ((await imapConnections(stack)) >= target) {
				seconds = (Date.now() - started) / 1000;
				return;
			}
			await sleep(250);
		}
	})();
	return { done, stop: () => (watching = false), seconds: () => seconds };
}

/** Every execution of this n8n since `sinceId` (all workflows), through the public API, oldest first. */
async function executionsSince(n8n: N8nInstance, includeData: boolean): Promise<Execution[]> {
	const executions: Execution[] = [];
	let cursor: string | undefined;
	do {
		const query = new URLSearchParams({ includeData: String(includeData), limit: '250' });
		if (cursor) query.set('cursor', cursor);
		const page = await n8n.api<{ data: Execution[]; nextCursor: string | null }>('GET', `/api/v1/executions?${query.toString()}`);
		executions.push(...page.data);
		cursor = page.nextCursor ?? undefined;
	} while (cursor);
	return executions;
}

async function scale(stack: RunningStack, contender: Contender, count: number, idleSeconds: number, cpuProfile: boolean): Promise<ScaleOutcome> {
	// --cpu-prof: n8n's processes write V8 CPU profiles when they exit; the main process's is cut to the delivery phase.
	const profileDir = cpuProfile ? fs.mkdtempSync(path.join(os.tmpdir(), 'scale-prof-')) : undefined;
	const n8n = await startBenchN8n(
		stack,
		(line) => log(`  n8n: ${line}`),
		{ ...extraEnv(), N8N_METRICS: 'true', ...(profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir} --cpu-prof-interval=500` } : {}) },
	);
	let profileWindow: [number, number] | undefined;
	let mainPid: number | undefined;
	let outcome: ScaleOutcome | undefined;
	try {
		const users = Array.from({ length: count }, (_, index) => stack.newMailbox(`scale${index}`));
		const mailboxes = await importBenchMailboxes(n8n, stack, users.map((user) => ({ user, kind: contender.kind })));
		const workflows = mailboxes.map((mailbox, index) => ({ id: undefined as string | undefined, ...benchWorkflow(`scale ${index}`, contender, mailbox) }));
		const ids = await n8n.importWorkflows(workflows);
		// n8n's own idle CPU, before any trigger runs: the baseline for the idle CPU below.
		await sleep(5000);
		const baselineCpuStart = await groupCpuSeconds(n8n);
		const baselineStarted = Date.now();
		await sleep(10_000);
		const baselineCpuPercent = ((await groupCpuSeconds(n8n)) - baselineCpuStart) / ((Date.now() - baselineStarted) / 1000) * 100;
		const rssBefore = await mainRss(n8n);
		const heapBefore = await heapMetrics(n8n);

		const activationStarted = Date.now();
		const activationStartedMicros = monotonicMicros();
		// Beside n8n's own record: when the IMAP connections were there (the trigger's side of the activation), and when
		// the last activate request was answered (n8n's API side).
		const sessions = watchConnections(stack, count, activationStarted);
		await pool(ids, 8, async (id) => await n8n.activateWorkflow(id));
		const answeredSeconds = (Date.now() - activationStarted) / 1000;
		// A trigger n8n could not start (e.g. Dovecot dropping a connection while 200 log in) is counted, not fatal.
		let failedActivations = 0;
		await pool(ids, 8, async (id) => {
			try {
				await n8n.waitForTriggersLive(id, 300_000);
			} catch (error) {
				failedActivations++;
				log(`  activation failed: ${(error as Error).message.slice(0, 300)}`);
			}
		});
		const activationSeconds = (Date.now() - activationStarted) / 1000;
		const activationWindow: [number, number] = [activationStartedMicros, activationStartedMicros + activationSeconds * 1e6];
		await Promise.race([sessions.done, sleep(5000)]);
		sessions.stop();
		// trigger() may return before its session is in IDLE: give every one a moment, then count.
		await sleep(3000);
		const connections = await imapConnections(stack);
		const activationDetail =
			`activate requests answered after ${answeredSeconds.toFixed(1)} s, ${count} IMAP connections open after ${sessions.seconds().toFixed(1)} s`;
		log(`  ${contender.label}: ${count - failedActivations}/${count} triggers live in ${activationSeconds.toFixed(1)} s (${activationDetail}), ${connections} IMAP connections`);

		await sleep(5000);
		const cpuBefore = await groupCpuSeconds(n8n);
		const idleStarted = Date.now();
		// Memory along the quiet time: V8 gives back heap it reserved during the activation only after a while.
		while (Date.now() - idleStarted < idleSeconds * 1000) {
			await sleep(Math.min(30_000, idleSeconds * 1000 - (Date.now() - idleStarted)));
			const heap = await heapMetrics(n8n);
			log(
				`  quiet +${Math.round((Date.now() - idleStarted) / 1000)} s: RSS ${mb(await mainRss(n8n))} MB` +
					(heap ? `, V8 heap in use ${mb(heap.heapUsed)} MB of ${mb(heap.heapTotal)} MB reserved` : ''),
			);
		}
		const idleCpuPercent = ((await groupCpuSeconds(n8n)) - cpuBefore) / ((Date.now() - idleStarted) / 1000) * 100;
		const rssSteady = await mainRss(n8n);
		const heapSteady = await heapMetrics(n8n);
		const memoryDetail =
			heapBefore && heapSteady
				? `V8 heap in use ${mb(heapBefore.heapUsed)} → ${mb(heapSteady.heapUsed)} MB (${mb((heapSteady.heapUsed - heapBefore.heapUsed) / count)} MB per trigger), ` +
					`heap reserved ${mb(heapBefore.heapTotal)} → ${mb(heapSteady.heapTotal)} MB, outside the heap ${mb(heapBefore.external)} → ${mb(heapSteady.external)} MB`
				: 'no heap metrics (n8n /metrics unavailable)';

		// One message to each mailbox, at once.
		const tag = `scale-${randomUUID().slice(0, 8)}`;
		const deliveredAt = new Map<string, number>();
		const cpuAtDelivery = await groupCpuSeconds(n8n);
		const firstDeliveryMicros = monotonicMicros();
		const firstDelivery = Date.now();
		await pool(users, 20, async (user) => {
			await stack.deliver({ to: user, from: `sender@${stack.domain}`, subject: `${tag} ${user}`, text: 'one message' }, { via: 'lmtp' });
			deliveredAt.set(user, Date.now());
		});
		const lastDelivery = Date.now();
		const deadline = Date.now() + 5 * 60_000;
		let finished: Execution[] = [];
		for (;;) {
			finished = (await executionsSince(n8n, false)).filter((execution) => execution.stoppedAt);
			if (new Set(finished.map((execution) => execution.workflowId)).size >= count - failedActivations || Date.now() > deadline) break;
			await sleep(500);
		}
		const deliveryCpuSeconds = (await groupCpuSeconds(n8n)) - cpuAtDelivery;
		const phaseIndex = process.argv.indexOf('--cpu-prof-phase');
		profileWindow = phaseIndex >= 0 && process.argv[phaseIndex + 1] === 'activation'
			? activationWindow
			: [firstDeliveryMicros, firstDeliveryMicros + (Date.now() - firstDelivery) * 1000];
		const withData = await executionsSince(n8n, true);
		const emittedAt: number[] = [];
		const lastEnds: number[] = [];
		// Per message: delivery → execution row created (the trigger's emit, plus n8n reading the workflow), created →
		// started (n8n's queueing), started → stopped (the run); and when, after the first delivery, runs were created.
		const toCreated: number[] = [];
		const createdToStarted: number[] = [];
		const runs: number[] = [];
		const createdOffsets: number[] = [];
		for (const user of users) {
			const execution = withData.find((entry) => JSON.stringify(entry.data ?? {}).includes(`${tag} ${user}`));
			if (!execution?.stoppedAt) continue;
			const delivered = deliveredAt.get(user) ?? lastDelivery;
			const created = Date.parse((execution as Execution & { createdAt?: string }).createdAt ?? execution.startedAt);
			const started = Date.parse(execution.startedAt);
			emittedAt.push(started - delivered);
			lastEnds.push(Date.parse(execution.stoppedAt));
			toCreated.push(created - delivered);
			createdToStarted.push(started - created);
			runs.push(Date.parse(execution.stoppedAt) - started);
			createdOffsets.push(created - firstDelivery);
		}
		const lastEnd = Math.max(...lastEnds);
		emittedAt.sort((a, b) => a - b);
		const breakdown = [
			`delivery → execution created: ${spread(toCreated)}`,
			`created → started: ${spread(createdToStarted)}; run (started → stopped): ${spread(runs)}`,
			`executions created between +${(Math.min(...createdOffsets) / 1000).toFixed(1)} s and +${(Math.max(...createdOffsets) / 1000).toFixed(1)} s after the first delivery (deliveries took ${((lastDelivery - firstDelivery) / 1000).toFixed(1)} s)`,
			`n8n CPU over the delivery phase: ${deliveryCpuSeconds.toFixed(1)} s = ${((deliveryCpuSeconds * 1000) / Math.max(1, lastEnds.length)).toFixed(0)} ms per message (main process + task runner)`,
		];
		mainPid = n8n.pid;
		const restart = await restartPhase(n8n, stack, count - failedActivations);
		log(`  after a restart of n8n with all ${count - failedActivations} active: ${restartText(restart)}`);
		await pool(ids, 8, async (id) => await n8n.deactivateWorkflow(id));
		outcome = {
			label: contender.label,
			triggers: count,
			activationSeconds,
			activationDetail,
			failedActivations,
			connections,
			rssBefore,
			rssSteady,
			memoryDetail,
			idleCpuPercent,
			baselineCpuPercent,
			firstDeliveryToAll: (lastEnd - firstDelivery) / 1000,
			lastDeliveryToAll: (lastEnd - lastDelivery) / 1000,
			deliverySeconds: (lastDelivery - firstDelivery) / 1000,
			emitted: lastEnds.length,
			medianEmit: emittedAt[Math.floor(emittedAt.length / 2)] ?? NaN,
			deliveryCpuSeconds,
			breakdown,
			profile: [],
			restart,
		};
	} finally {
		await n8n.stop();
	}
	if (profileDir && profileWindow && mainPid) {
		const file = fs.readdirSync(profileDir).find((name) => name.includes(`.${mainPid}.`) && name.endsWith('.cpuprofile'));
		outcome.profile = file
			? summarizeCpuProfile(path.join(profileDir, file), ...profileWindow)
			: [`no CPU profile of n8n's main process (pid ${mainPid}) in ${profileDir}`];
		if (file) outcome.profile.push(`(profile: ${path.join(profileDir, file)})`);
	}
	return outcome;
}

async function main(): Promise<void> {
	const count = option('--triggers', 200);
	const idleSeconds = option('--idle-seconds', 30);
	const onlyIndex = process.argv.indexOf('--only');
	const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
	const contenders = [OURS_DEFAULT, BUILTIN].filter((contender) => !only || only === contender.kind);
	const cpuProfile = process.argv.includes('--cpu-prof');
	const stack = await startStack({ log: () => undefined });
	try {
		log(`Real-n8n scale benchmark, ${count} triggers, ${new Date().toISOString()}, ${await machineLoad()}${Object.keys(extraEnv()).length > 0 ? `, n8n env ${JSON.stringify(extraEnv())}` : ''}`);
		const outcomes: ScaleOutcome[] = [];
		for (const contender of contenders) {
			outcomes.push(await scale(stack, contender, count, idleSeconds, cpuProfile));
			log(`  done: ${contender.label} (${await machineLoad()})`);
			await sleep(5000);
		}
		log('');
		for (const outcome of outcomes) {
			log(`${outcome.label}:`);
			log(`  ${outcome.triggers - outcome.failedActivations}/${outcome.triggers} live in ${outcome.activationSeconds.toFixed(1)} s (${outcome.failedActivations} failed to activate; ${outcome.activationDetail}); ${outcome.connections} IMAP connections`);
			if (outcome.restart) log(`  after a restart of n8n with all active: ${restartText(outcome.restart)}`);
			log(
				`  n8n RSS ${mb(outcome.rssBefore)} → ${mb(outcome.rssSteady)} MB = ${mb((outcome.rssSteady - outcome.rssBefore) / outcome.triggers)} MB per trigger; ` +
					`idle CPU ${outcome.idleCpuPercent.toFixed(2)} % of one core (n8n without triggers: ${outcome.baselineCpuPercent.toFixed(2)} %, ` +
					`so the triggers add ${(outcome.idleCpuPercent - outcome.baselineCpuPercent).toFixed(2)} %)`,
			);
			log(
				`  one message to each (delivered in ${outcome.deliverySeconds.toFixed(1)} s): ${outcome.emitted}/${outcome.triggers} ran; ` +
					`last execution end ${outcome.firstDeliveryToAll.toFixed(1)} s after the first delivery, ${outcome.lastDeliveryToAll.toFixed(1)} s after the last; ` +
					`median delivery → execution start ${outcome.medianEmit} ms`,
			);
			for (const line of [outcome.memoryDetail, ...outcome.breakdown, ...outcome.profile]) log(`  ${line}`);
		}
		const [ours, builtin] = outcomes;
		if (ours && builtin) {
			log(
				`\nratios ours/built-in: time to all emitted ${(ours.firstDeliveryToAll / builtin.firstDeliveryToAll).toFixed(2)}×, ` +
					`RSS per trigger ${((ours.rssSteady - ours.rssBefore) / (builtin.rssSteady - builtin.rssBefore)).toFixed(2)}×, ` +
					`activation ${(ours.activationSeconds / builtin.activationSeconds).toFixed(2)}×, ` +
					`n8n CPU per delivered message ${((ours.deliveryCpuSeconds / ours.emitted) / (builtin.deliveryCpuSeconds / builtin.emitted)).toFixed(2)}×`,
			);
		}
		log(`\n${await machineLoad()}`);
	} finally {
		await stack.stop();
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
