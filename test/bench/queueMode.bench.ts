/**
 * Catch-up throughput in n8n's queue mode against a single n8n (a script, not a test: it prints numbers, asserts
 * nothing).
 *
 *   npx tsx test/bench/queueMode.bench.ts [--messages 1000]
 *
 * One mail stack; in one run, one contender at a time, each on a mailbox of its own:
 *   1. single n8n 2.41.1 with SQLite (test/e2e/harness startN8n, regular execution mode);
 *   2. queue mode (test/e2e/harness/queue.ts: main + Postgres 15 + Redis 7, binary data in the database) with one
 *      worker (the second worker stopped);
 *   3. the same queue mode with both workers.
 * Workflow: Gmail IMAP Trigger (node version 2, Output: One Run per Message, everything else default) → No Operation.
 * Catch-up: the workflow runs once on a primer message and is deactivated; N messages are delivered over LMTP
 * (8 at a time); the workflow is activated again. msg/s = N / (activation request → the last execution's stoppedAt,
 * n8n's own record). Worker placement is read from n8n's "Worker started execution" log lines.
 */
import { randomBytes } from 'crypto';
import * as os from 'os';

import { startStack, type RunningStack } from '../stack';
import { startN8n, type N8nInstance } from '../e2e/harness';
import { startQueueMode, type QueueCluster } from '../e2e/harness/queue';
import { stackCaFile } from '../e2e/scenarios/support';
import { MessageSeries, importMailboxes, noOpWorkflow, type Mailbox } from '../e2e/durability/support';
import { option, sleep } from './benchKit';


const started = Date.now();
const log = (line: string): void => {
	process.stdout.write(`[bench queue ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
};

interface Result {
	label: string;
	messages: number;
	seconds: number;
	perSecond: number;
	statuses: Record<string, number>;
	placement?: string;
}

async function deliverAll(stack: RunningStack, to: string, series: MessageSeries, from: number, to_: number): Promise<void> {
	let next = from;
	const lane = async (): Promise<void> => {
		while (next < to_) {
			const index = next++;
			await series.deliver(stack, to, index);
		}
	};
	await Promise.all(Array.from({ length: 8 }, lane));
}

/** Primer run, deactivate, N messages, activate, wait for N more finished executions. */
async function catchUp(stack: RunningStack, n8n: N8nInstance, label: string, messages: number, cluster?: QueueCluster): Promise<Result> {
	const [mailbox] = (await importMailboxes(n8n, stack, [stack.newMailbox(`bench-${label}`)])) as [Mailbox];
	const [workflowId] = await n8n.importWorkflows([noOpWorkflow(`bench ${label}`, mailbox)]);
	const series = new MessageSeries(`bench-${label}-${randomBytes(3).toString('hex')}`, messages + 1, stack.domain);
	await n8n.activateWorkflow(workflowId);
	await n8n.waitForTriggersLive(workflowId);
	await series.deliver(stack, mailbox.user, 0);
	await n8n.waitForExecutions(workflowId, 1, 120_000);
	await n8n.deactivateWorkflow(workflowId);
	await n8n.waitForTriggersStopped(workflowId);
	const deliveredAt = Date.now();
	await deliverAll(stack, mailbox.user, series, 1, messages + 1);
	log(`${label}: ${messages} messages delivered in ${((Date.now() - deliveredAt) / 1000).toFixed(1)}s; activating`);
	const activatedAt = Date.now();
	await n8n.activateWorkflow(workflowId);
	const unfinished = new Set(['new', 'running', 'waiting', 'unknown']);
	// In queue mode main can keep counting a finished job as active, and the public API's list hides those: count the
	// rows in Postgres there (n8n's own record).
	const finishedCount = async (): Promise<number> => {
		if (!cluster) return (await n8n.listExecutions(workflowId)).filter((execution) => !unfinished.has(execution.status)).length;
		const text = await cluster.postgres.query(
			`SELECT count(*) FROM execution_entity WHERE "workflowId" = '${workflowId}' AND status NOT IN ('new', 'running', 'waiting', 'unknown')`,
		);
		return Number(text.trim());
	};
	for (;;) {
		const finished = { length: await finishedCount() };
		if (finished.length >= messages + 1) break;
		if (Date.now() - activatedAt > 30 * 60 * 1000) throw new Error(`${label}: only ${finished.length} of ${messages + 1} executions after 30 min`);
		await sleep(2000);
	}
	const executions = (await n8n.listExecutions(workflowId)).filter((execution) => new Date(execution.startedAt).getTime() >= activatedAt);
	let lastStop = Math.max(...executions.map((execution) => new Date(execution.stoppedAt ?? execution.startedAt).getTime()));
	if (cluster) {
		const text = await cluster.postgres.query(`SELECT (extract(epoch FROM max("stoppedAt")) * 1000)::bigint FROM execution_entity WHERE "workflowId" = '${workflowId}'`);
		lastStop = Number(text.trim());
	}
	const seconds = (lastStop - activatedAt) / 1000;
	const statuses: Record<string, number> = {};
	for (const execution of executions) statuses[execution.status] = (statuses[execution.status] ?? 0) + 1;
	let placement: string | undefined;
	if (cluster) {
		const runBy = cluster.executionsRunBy();
		const counts: Record<string, number> = {};
		for (const execution of executions) for (const name of runBy.get(execution.id) ?? ['none']) counts[name] = (counts[name] ?? 0) + 1;
		placement = JSON.stringify(counts);
	}
	await n8n.deactivateWorkflow(workflowId);
	const result = { label, messages: executions.length, seconds, perSecond: executions.length / seconds, statuses, placement };
	log(`${label}: ${result.messages} executions in ${seconds.toFixed(1)}s = ${result.perSecond.toFixed(1)} msg/s ${JSON.stringify(statuses)}${placement ? ` placement ${placement}` : ''}`);
	return result;
}

async function main(): Promise<void> {
	const messages = option('--messages', 1000);
	log(`${messages}-message catch-up; ${os.cpus().length} cores, load ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}`);
	const stack = await startStack({ log: (line) => log(`stack: ${line}`) });
	const env = { NODE_EXTRA_CA_CERTS: stackCaFile(stack) };
	const results: Result[] = [];
	try {
		const single = await startN8n({ env, log: (line) => log(`single: ${line}`) });
		try {
			results.push(await catchUp(stack, single, 'single-sqlite', messages));
		} finally {
			await single.stop();
		}
		const cluster = await startQueueMode({ env, log });
		try {
			await cluster.workers[1].stop();
			results.push(await catchUp(stack, cluster.main, 'queue-1-worker', messages, cluster));
			await cluster.workers[1].start();
			results.push(await catchUp(stack, cluster.main, 'queue-2-workers', messages, cluster));
		} finally {
			await cluster.stop();
		}
	} finally {
		await stack.stop();
	}
	const by = Object.fromEntries(results.map((result) => [result.label, result]));
	process.stdout.write('\ncontender         executions  seconds   msg/s\n');
	for (const result of results) {
		process.stdout.write(`${result.label.padEnd(18)}${String(result.messages).padStart(10)}${result.seconds.toFixed(1).padStart(9)}${result.perSecond.toFixed(1).padStart(8)}\n`);
	}
	const ratio = (a: string, b: string): string => (by[a] && by[b] ? (by[a].perSecond / by[b].perSecond).toFixed(2) : 'n/a');
	process.stdout.write(
		`\n2 workers / 1 worker: ${ratio('queue-2-workers', 'queue-1-worker')}\n` +
			`1 worker / single SQLite: ${ratio('queue-1-worker', 'single-sqlite')}\n` +
			`2 workers / single SQLite: ${ratio('queue-2-workers', 'single-sqlite')}\n` +
			`load after: ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}\n`,
	);
}

main().catch((error: unknown) => {
	process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	process.exit(1);
});
