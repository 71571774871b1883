/**
 * Many triggers in one real n8n (not a test: it prints numbers and ratios, asserts nothing).
 *
 *   npx tsx test/bench/n8nScale.bench.ts [--triggers 200] [--idle-seconds 30] [--only ours|builtin]
 *
 * One mail stack; for each contender in turn a fresh n8n 2.41.1 (test/e2e/harness) with N workflows trigger → No
 * Operation on N mailboxes of their own: this package's trigger with its defaults (node version 2), then n8n's
 * built-in Email Trigger (IMAP) v2.2 with its defaults (password login on the same Dovecot port). For each:
 *   - activation: every workflow activated through the public API (8 requests at a time) → every trigger live
 *     (n8n's publication record), and the IMAP connections n8n holds then (`ss`, established to Dovecot's port);
 *   - steady state: n8n main process RSS before activation and after `--idle-seconds` of quiet, per trigger;
 *     CPU of n8n's process group over that quiet time;
 *   - one message delivered to each of the N mailboxes at once (LMTP, 20 at a time): time from the first delivery
 *     (and from the last) until every workflow has a finished execution holding its message.
 */
import { randomUUID } from 'crypto';

import type { Execution, N8nInstance } from '../e2e/harness';
import { startStack, type RunningStack } from '../stack';
import {
	BUILTIN,
	OURS_DEFAULT,
	benchWorkflow,
	startBenchN8n,
	groupCpuSeconds,
	importBenchMailboxes,
	machineLoad,
	mainRss,
	option,
	run,
	sleep,
	type Contender,
} from './n8nSupport';

const log = (line: string): void => console.log(line);
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

interface ScaleOutcome {
	label: string;
	triggers: number;
	activationSeconds: number;
	failedActivations: number;
	connections: number;
	rssBefore: number;
	rssSteady: number;
	idleCpuPercent: number;
	firstDeliveryToAll: number;
	lastDeliveryToAll: number;
	deliverySeconds: number;
	emitted: number;
	medianEmit: number;
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

async function scale(stack: RunningStack, contender: Contender, count: number, idleSeconds: number): Promise<ScaleOutcome> {
	const n8n = await startBenchN8n(stack, (line) => log(`  n8n: ${line}`));
	try {
		const users = Array.from({ length: count }, (_, index) => stack.newMailbox(`scale${index}`));
		const mailboxes = await importBenchMailboxes(n8n, stack, users.map((user) => ({ user, kind: contender.kind })));
		const workflows = mailboxes.map((mailbox, index) => ({ id: undefined as string | undefined, ...benchWorkflow(`scale ${index}`, contender, mailbox) }));
		const ids = await n8n.importWorkflows(workflows);
		await sleep(10_000);
		const rssBefore = await mainRss(n8n);

		const activationStarted = Date.now();
		await pool(ids, 8, async (id) => await n8n.activateWorkflow(id));
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
		// trigger() may return before its session is in IDLE: give every one a moment, then count.
		await sleep(3000);
		const connections = await imapConnections(stack);
		log(`  ${contender.label}: ${count - failedActivations}/${count} triggers live in ${activationSeconds.toFixed(1)} s, ${connections} IMAP connections`);

		await sleep(5000);
		const cpuBefore = await groupCpuSeconds(n8n);
		const idleStarted = Date.now();
		await sleep(idleSeconds * 1000);
		const idleCpuPercent = ((await groupCpuSeconds(n8n)) - cpuBefore) / ((Date.now() - idleStarted) / 1000) * 100;
		const rssSteady = await mainRss(n8n);

		// One message to each mailbox, at once.
		const tag = `scale-${randomUUID().slice(0, 8)}`;
		const deliveredAt = new Map<string, number>();
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
		const withData = await executionsSince(n8n, true);
		const emittedAt: number[] = [];
		const lastEnds: number[] = [];
		for (const user of users) {
			const execution = withData.find((entry) => JSON.stringify(entry.data ?? {}).includes(`${tag} ${user}`));
			if (!execution?.stoppedAt) continue;
			emittedAt.push(Date.parse(execution.startedAt) - (deliveredAt.get(user) ?? lastDelivery));
			lastEnds.push(Date.parse(execution.stoppedAt));
		}
		const lastEnd = Math.max(...lastEnds);
		emittedAt.sort((a, b) => a - b);
		await pool(ids, 8, async (id) => await n8n.deactivateWorkflow(id));
		return {
			label: contender.label,
			triggers: count,
			activationSeconds,
			failedActivations,
			connections,
			rssBefore,
			rssSteady,
			idleCpuPercent,
			firstDeliveryToAll: (lastEnd - firstDelivery) / 1000,
			lastDeliveryToAll: (lastEnd - lastDelivery) / 1000,
			deliverySeconds: (lastDelivery - firstDelivery) / 1000,
			emitted: lastEnds.length,
			medianEmit: emittedAt[Math.floor(emittedAt.length / 2)] ?? NaN,
		};
	} finally {
		await n8n.stop();
	}
}

async function main(): Promise<void> {
	const count = option('--triggers', 200);
	const idleSeconds = option('--idle-seconds', 30);
	const onlyIndex = process.argv.indexOf('--only');
	const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
	const contenders = [OURS_DEFAULT, BUILTIN].filter((contender) => !only || only === contender.kind);
	const stack = await startStack({ log: () => undefined });
	try {
		log(`Real-n8n scale benchmark, ${count} triggers, ${new Date().toISOString()}, ${await machineLoad()}`);
		const outcomes: ScaleOutcome[] = [];
		for (const contender of contenders) {
			outcomes.push(await scale(stack, contender, count, idleSeconds));
			log(`  done: ${contender.label} (${await machineLoad()})`);
			await sleep(5000);
		}
		log('');
		for (const outcome of outcomes) {
			log(`${outcome.label}:`);
			log(`  ${outcome.triggers - outcome.failedActivations}/${outcome.triggers} live in ${outcome.activationSeconds.toFixed(1)} s (${outcome.failedActivations} failed to activate); ${outcome.connections} IMAP connections`);
			log(
				`  n8n RSS ${mb(outcome.rssBefore)} → ${mb(outcome.rssSteady)} MB = ${mb((outcome.rssSteady - outcome.rssBefore) / outcome.triggers)} MB per trigger; ` +
					`idle CPU ${outcome.idleCpuPercent.toFixed(2)} % of one core`,
			);
			log(
				`  one message to each (delivered in ${outcome.deliverySeconds.toFixed(1)} s): ${outcome.emitted}/${outcome.triggers} ran; ` +
					`last execution end ${outcome.firstDeliveryToAll.toFixed(1)} s after the first delivery, ${outcome.lastDeliveryToAll.toFixed(1)} s after the last; ` +
					`median delivery → execution start ${outcome.medianEmit} ms`,
			);
		}
		const [ours, builtin] = outcomes;
		if (ours && builtin) {
			log(
				`\nratios ours/built-in: time to all emitted ${(ours.firstDeliveryToAll / builtin.firstDeliveryToAll).toFixed(2)}×, ` +
					`RSS per trigger ${((ours.rssSteady - ours.rssBefore) / (builtin.rssSteady - builtin.rssBefore)).toFixed(2)}×, ` +
					`activation ${(ours.activationSeconds / builtin.activationSeconds).toFixed(2)}×`,
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
