/**
 * Every message exactly once across an n8n crash — the Gmail IMAP Trigger (node version 2, defaults, Output: One Run
 * per Message) → No Operation in a real n8n 2.41.1 against the real mail stack (docs/delivery.md):
 *
 *   1. three runs: n8n SIGKILLed (its whole process group) after 25, 50 and 75 of 100 messages arriving 20, 40 and 60 ms
 *      apart, started again at once while the rest arrive: every message has exactly one execution, `success` or
 *      `crashed` (the run the kill cut off, holding the message) — none without, none with two;
 *   2. the same with a graceful stop (SIGTERM) after 50 of 100 (40 ms apart): exactly one execution each, all `success`;
 *   3. a crashed execution from a kill run (or, if the kills caught no run in progress, one made on purpose: a workflow
 *      whose Wait node holds each run for a few seconds, killed while one runs) retried through n8n's REST API (the
 *      editor's Retry): a new execution runs the workflow with that message and succeeds.
 *
 * Messages go straight into Dovecot over LMTP, so the arrival rate is the test's. One stack and one n8n serve all
 * runs; each run has its own mailbox, credential, workflow and message numbers (`durability-<run>-<n>`), and its
 * workflow is active only during the run. Executions are mapped to messages through their saved data (support.ts).
 * Each run's numbers go to the test output and to `durability-<run>.json` beside n8n's logs.
 */
import { randomBytes } from 'crypto';

import { startStack, type RunningStack } from '../../stack';
import { startN8n, type Execution, type N8nInstance } from '../harness';
import { stackCaFile } from '../scenarios/support';
import {
	MessageSeries,
	NOOP_NAME,
	TRIGGER_NAME,
	WAIT_NAME,
	collectExecutions,
	deliverThroughStop,
	exactlyOnceReport,
	formatTable,
	importMailboxes,
	minutes,
	noOpWorkflow,
	saveReport,
	sleep,
	summaryLine,
	waitWorkflow,
	type ExactlyOnceReport,
	type Mailbox,
	type StreamPlan,
} from './support';

const suiteStarted = Date.now();
const progress = (line: string): void => {
	process.stdout.write(`[e2e durability ${((Date.now() - suiteStarted) / 1000).toFixed(1)}s] ${line}\n`);
};

const MESSAGES = 100;
/** How long a message may take to get its execution after n8n is back: n8n is done once nothing changed this long. */
const QUIET_MS = 30_000;
/** After every message has an execution: how much longer a late second execution is waited for. */
const SETTLE_MS = 8_000;
const HOLD_SECONDS = 6;

interface KillRun {
	label: string;
	spacingMs: number;
	stopAfter: number;
}

const KILL_RUNS: KillRun[] = [
	{ label: 'kill-25', spacingMs: 20, stopAfter: 25 },
	{ label: 'kill-50', spacingMs: 40, stopAfter: 50 },
	{ label: 'kill-75', spacingMs: 60, stopAfter: 75 },
];
const TERM_RUN = { label: 'term-50', spacingMs: 40, stopAfter: 50 };
const HOLD_RUN = 'hold';

describe('every message exactly once across an n8n crash (real n8n 2.41.1, real mail stack)', () => {
	let stack: RunningStack | undefined;
	let n8n: N8nInstance | undefined;
	/** This suite's tag in every subject and Message-ID, so reruns against a reused mailbox never mix. */
	const suiteTag = randomBytes(3).toString('hex');
	const workflows = new Map<string, { workflowId: string; mailbox: Mailbox }>();
	/** Crashed executions the kill runs left, each with the message it holds. */
	const crashed: Array<{ run: string; workflowId: string; execution: Execution; series: MessageSeries; index: number }> = [];

	const running = (): { stack: RunningStack; n8n: N8nInstance } => {
		if (!stack || !n8n) throw new Error('the stack or n8n did not start (see beforeAll)');
		return { stack, n8n };
	};

	beforeAll(async () => {
		stack = await startStack({ log: (line) => progress(`stack: ${line}`) });
		n8n = await startN8n({ log: progress, env: { NODE_EXTRA_CA_CERTS: stackCaFile(stack) } });
		// Every credential and workflow of the suite in two CLI runs (each CLI run costs n8n's start-up, seconds).
		const labels = [...KILL_RUNS.map((run) => run.label), TERM_RUN.label, HOLD_RUN];
		const mailboxes = await importMailboxes(n8n, stack, labels.map((label) => stack?.newMailbox(`durability-${label}`) ?? ''));
		const definitions = labels.map((label, index) =>
			label === HOLD_RUN
				? waitWorkflow(`durability ${label}`, mailboxes[index], HOLD_SECONDS)
				: noOpWorkflow(`durability ${label}`, mailboxes[index]),
		);
		const ids = await n8n.importWorkflows(definitions);
		labels.forEach((label, index) => workflows.set(label, { workflowId: ids[index], mailbox: mailboxes[index] }));
		progress(`suite ${suiteTag}: ${labels.length} mailboxes and workflows imported`);
	}, minutes(40));

	afterAll(async () => {
		try {
			await n8n?.stop();
		} finally {
			await stack?.stop();
		}
	}, minutes(2));

	function workflowOf(label: string): { workflowId: string; mailbox: Mailbox } {
		const found = workflows.get(label);
		if (!found) throw new Error(`no workflow imported for ${label} (see beforeAll)`);
		return found;
	}

	/**
	 * One run: activate the run's workflow, stream the messages through a stop and start of n8n, wait for the
	 * executions, deactivate. Returns the report (also printed, and saved beside n8n's logs).
	 */
	async function streamRun(label: string, plan: StreamPlan): Promise<{ report: ExactlyOnceReport; series: MessageSeries; workflowId: string; executions: Execution[] }> {
		const { stack, n8n } = running();
		const { workflowId, mailbox } = workflowOf(label);
		const series = new MessageSeries(`${suiteTag}-${label}`, plan.count, stack.domain);
		await n8n.activateWorkflow(workflowId);
		await n8n.waitForTriggersLive(workflowId);
		let active = true;
		try {
			const timeline = await deliverThroughStop(stack, n8n, mailbox.user, series, plan);
			progress(
				`${label}: n8n ${plan.hard ? 'killed' : 'stopped'} after ${timeline.beforeStop} accepted ` +
					`(stop ${timeline.stopSeconds.toFixed(1)}s${timeline.forced ? ', forced' : ''}, ready again after ${timeline.downSeconds.toFixed(1)}s); ` +
					`${timeline.duringStop} arrived during the stop, ${timeline.whileDown} while down, ${timeline.afterStart} after`,
			);
			const collected = await collectExecutions(n8n, workflowId, series, { timeoutMs: minutes(3), quietMs: QUIET_MS, settleMs: SETTLE_MS });
			await n8n.deactivateWorkflow(workflowId);
			active = false;
			const report = exactlyOnceReport(series, collected.executions);
			progress(`${summaryLine(label, report)} (waited ${collected.seconds.toFixed(0)}s: ${collected.ended})`);
			const saved = saveReport(n8n, label, { plan, timeline, ended: collected.ended, ...report });
			if (report.none.length > 0 || report.several.length > 0 || report.odd.length > 0) {
				progress(`${label}: message → executions (also in ${saved})\n${formatTable(report)}`);
			}
			return { report, series, workflowId, executions: collected.executions };
		} finally {
			if (active) await n8n.deactivateWorkflow(workflowId).catch(() => undefined);
		}
	}

	/** The failure message lists exactly the messages and executions that break "exactly once". */
	function expectExactlyOnce(report: ExactlyOnceReport): void {
		expect({
			withoutExecution: report.none.map((index) => `message ${index}`),
			withSeveral: report.several.map(({ index, executions }) => `message ${index}: ${executions.join(', ')}`),
			executionsNotOfOneMessage: report.odd.map(({ execution, messages }) => `${execution}: [${messages.join(', ')}]`),
		}).toEqual({ withoutExecution: [], withSeveral: [], executionsNotOfOneMessage: [] });
		expect(report.executions).toBe(report.messages);
	}

	test.each(KILL_RUNS)(
		'$label: SIGKILL after $stopAfter of 100 messages $spacingMs ms apart, restart: every message exactly one execution',
		async ({ label, spacingMs, stopAfter }) => {
			const { report, series, workflowId, executions } = await streamRun(label, { count: MESSAGES, spacingMs, stopAfter, hard: true });
			for (const execution of executions.filter((candidate) => candidate.status === 'crashed')) {
				const indices = series.indicesIn(execution);
				if (indices.length === 1) crashed.push({ run: label, workflowId, execution, series, index: indices[0] });
			}
			expectExactlyOnce(report);
			const statuses = Object.keys(report.byStatus).filter((status) => status !== 'success' && status !== 'crashed');
			expect(statuses).toEqual([]);
		},
		minutes(5),
	);

	test(`${TERM_RUN.label}: graceful stop (SIGTERM) after ${TERM_RUN.stopAfter} of 100 messages, restart: every message exactly one execution, all successful`, async () => {
		const { report } = await streamRun(TERM_RUN.label, { count: MESSAGES, spacingMs: TERM_RUN.spacingMs, stopAfter: TERM_RUN.stopAfter, hard: false });
		expectExactlyOnce(report);
		expect(report.byStatus).toEqual({ success: MESSAGES });
	}, minutes(5));

	/**
	 * A crashed execution on purpose: one message into the Wait workflow, SIGKILL while its run waits, start again.
	 * Only needed when the kill runs caught no run in progress.
	 */
	async function makeCrashedExecution(): Promise<(typeof crashed)[number]> {
		const { stack, n8n } = running();
		const { workflowId, mailbox } = workflowOf(HOLD_RUN);
		const series = new MessageSeries(`${suiteTag}-${HOLD_RUN}`, 1, stack.domain);
		await n8n.activateWorkflow(workflowId);
		await n8n.waitForTriggersLive(workflowId);
		try {
			await series.deliver(stack, mailbox.user, 0);
			const deadline = Date.now() + 60_000;
			while ((await n8n.listExecutions(workflowId, false, { status: 'running' })).length === 0) {
				if (Date.now() > deadline) throw new Error(`${HOLD_RUN}: no run of the message started within 60 s`);
				await sleep(200);
			}
			await n8n.stop({ hard: true });
			await n8n.start();
			const collected = await collectExecutions(n8n, workflowId, series, { timeoutMs: minutes(2), quietMs: QUIET_MS, settleMs: SETTLE_MS });
			const report = exactlyOnceReport(series, collected.executions);
			progress(summaryLine(HOLD_RUN, report));
			expectExactlyOnce(report);
			const execution = collected.executions.find((candidate) => candidate.status === 'crashed');
			if (!execution) throw new Error(`${HOLD_RUN}: the kill left no crashed execution (${JSON.stringify(report.byStatus)})`);
			return { run: HOLD_RUN, workflowId, execution, series, index: 0 };
		} finally {
			await n8n.deactivateWorkflow(workflowId).catch(() => undefined);
		}
	}

	test('a crashed execution holds its message; retried through the REST API it runs the workflow with it and succeeds', async () => {
		const { n8n } = running();
		progress(`crashed executions left by the kill runs: ${crashed.map((entry) => `${entry.run}#${entry.index}=${entry.execution.id}`).join(' ') || 'none'}`);
		const target = crashed[0] ?? (await makeCrashedExecution());
		const { workflowId, execution, series, index } = target;
		const messageId = series.messageId(index);
		progress(`retrying crashed execution ${execution.id} of ${target.run} (message ${index}, ${messageId})`);

		const answer = await n8n.retryExecution(execution.id);
		expect(answer.retryOf).toBe(execution.id);
		expect(answer.status).toBe('success');

		// n8n's own record of the new run, with data.
		const retry = (await n8n.listExecutions(workflowId, true)).find((candidate) => candidate.id === answer.id);
		expect(retry).toBeDefined();
		expect(retry?.mode).toBe('retry');
		expect(retry?.status).toBe('success');
		expect(retry?.retryOf).toBe(execution.id);
		// The last node ran with exactly that message. Every run of the node counts: n8n's start-up recovery may have
		// given the crashed execution an artificial first run, which the retry keeps.
		const lastNode = target.run === HOLD_RUN ? WAIT_NAME : NOOP_NAME;
		const runs = retry?.data?.resultData.runData[lastNode] ?? [];
		const carried = runs
			.flatMap((run) => run.data?.main?.[0] ?? [])
			.map((item) => (item.json.metadata as Record<string, unknown> | undefined)?.['message-id'])
			.filter((value) => value !== undefined);
		expect(carried).toEqual([messageId]);
		expect(series.indicesIn(retry as Execution)).toEqual([index]);
		expect(Object.keys(retry?.data?.resultData.runData ?? {}).sort()).toEqual([lastNode, TRIGGER_NAME].sort());

		// The original stays crashed and points at its successful retry.
		const original = await n8n.getExecution(execution.id);
		expect(original.status).toBe('crashed');
		expect(String(original.retrySuccessId)).toBe(answer.id);
		progress(`retry ${answer.id} of ${execution.id} succeeded with message ${index}`);
	}, minutes(4));
});
