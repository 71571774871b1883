/**
 * Pieces of the crash-durability suite (crash.test.ts): the workflows (Gmail IMAP Trigger with one run per message →
 * No Operation, or → a short Wait), numbered test messages, a stop-and-start of n8n in the middle of a delivery
 * stream, and the reading of n8n's executions back into "which message ran in which execution".
 *
 * Messages are mapped to executions through the execution data alone: every execution whose saved data (trigger
 * output, node execution stack, anything) names a message's Message-ID counts for that message. That also covers a
 * crashed run, whose trigger output n8n's start-up recovery may replace by an artificial item while the message stays
 * in the node execution stack.
 */
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import type { RunningStack } from '../../stack';
import type { Execution, N8nInstance, WorkflowImport } from '../harness';
import { sandboxCredentialData } from '../../../scripts/demo';
import { packageName } from '../harness/paths';

export const minutes = (count: number): number => count * 60 * 1000;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const CREDENTIAL_TYPE = 'mailServerOAuth2Api';
export const TRIGGER_NAME = 'Gmail IMAP Trigger';
export const NOOP_NAME = 'No Operation';
export const WAIT_NAME = 'Wait';

// ---- workflows ---------------------------------------------------------------------------------------------------------

export interface Mailbox {
	/** The watched address (its INBOX). */
	user: string;
	credentialId: string;
	credentialName: string;
}

/**
 * One Mail Server (XOAUTH2) credential per address, all imported with a single CLI run. Tokens come from the stack's
 * token server (default lifetime: one hour, longer than the suite), TLS verified through NODE_EXTRA_CA_CERTS.
 */
export async function importMailboxes(n8n: N8nInstance, stack: RunningStack, users: string[]): Promise<Mailbox[]> {
	const mailboxes: Mailbox[] = [];
	const credentials = [];
	for (const user of users) {
		const obtainedAt = Date.now();
		const tokens = await stack.issueTokens(user);
		const mailbox = { user, credentialId: randomBytes(12).toString('hex').slice(0, 16), credentialName: `durability ${user}` };
		mailboxes.push(mailbox);
		credentials.push({
			id: mailbox.credentialId,
			name: mailbox.credentialName,
			type: CREDENTIAL_TYPE,
			data: sandboxCredentialData(stack, user, tokens, obtainedAt),
		});
	}
	await n8n.importCredentials(credentials);
	return mailboxes;
}

/**
 * The trigger as a user adds it today (node version 2, every parameter at its default) with Output set to One Run
 * per Message, watching the mailbox's INBOX.
 */
export function triggerNode(mailbox: Mailbox): Record<string, unknown> {
	return {
		id: randomUUID(),
		name: TRIGGER_NAME,
		type: `${packageName}.gmailImapTrigger`,
		typeVersion: 2,
		position: [0, 0],
		parameters: { authentication: CREDENTIAL_TYPE, options: { outputMode: 'perMessage' } },
		credentials: { [CREDENTIAL_TYPE]: { id: mailbox.credentialId, name: mailbox.credentialName } },
	};
}

function connect(from: string, to: string): Record<string, unknown> {
	return { [from]: { main: [[{ node: to, type: 'main', index: 0 }]] } };
}

/** Gmail IMAP Trigger → No Operation. */
export function noOpWorkflow(name: string, mailbox: Mailbox): WorkflowImport {
	return {
		name,
		nodes: [
			triggerNode(mailbox),
			{ id: randomUUID(), name: NOOP_NAME, type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [240, 0], parameters: {} },
		],
		connections: connect(TRIGGER_NAME, NOOP_NAME),
	};
}

/**
 * Gmail IMAP Trigger → Wait (`seconds`). n8n 2.41's Wait node sleeps in the process for anything under 65 s, so each
 * run stays `running` that long: a kill meanwhile is sure to leave a crashed execution.
 */
export function waitWorkflow(name: string, mailbox: Mailbox, seconds: number): WorkflowImport {
	return {
		name,
		nodes: [
			triggerNode(mailbox),
			{
				id: randomUUID(),
				name: WAIT_NAME,
				type: 'n8n-nodes-base.wait',
				typeVersion: 1.1,
				position: [240, 0],
				parameters: { resume: 'timeInterval', amount: seconds, unit: 'seconds' },
				webhookId: randomUUID(),
			},
		],
		connections: connect(TRIGGER_NAME, WAIT_NAME),
	};
}

// ---- messages --------------------------------------------------------------------------------------------------------

/** The numbered messages of one run: subject `durability-<run>-<n>`, Message-ID `<durability-<run>-<n>@e2e.<domain>>`. */
export class MessageSeries {
	readonly tag: string;
	private readonly pattern: RegExp;

	constructor(
		readonly run: string,
		readonly count: number,
		private readonly domain: string,
	) {
		this.tag = `durability-${run}`;
		// The '@' right after the number keeps <…-1@…> from matching inside <…-10@…>; the subject has no '@'.
		this.pattern = new RegExp(`<${this.tag.replace(/[^A-Za-z0-9]/g, (char) => `\\${char}`)}-(\\d+)@`, 'g');
	}

	subject(index: number): string {
		return `${this.tag}-${index}`;
	}

	messageId(index: number): string {
		return `<${this.tag}-${index}@e2e.${this.domain}>`;
	}

	/** Delivers message `index` straight into Dovecot over LMTP; resolves once Dovecot accepted (stored) it. */
	async deliver(stack: RunningStack, to: string, index: number): Promise<void> {
		await stack.deliver(
			{
				from: `sender@${stack.domain}`,
				to,
				subject: this.subject(index),
				messageId: this.messageId(index),
				text: `Message ${index} of ${this.count} of durability run ${this.run}.\n`,
			},
			{ via: 'lmtp' },
		);
	}

	/** The message numbers an execution's saved data names (any node, any run, the node execution stack). */
	indicesIn(execution: Execution): number[] {
		const saved = JSON.stringify(execution.data ?? {});
		const found = new Set<number>();
		for (const match of saved.matchAll(this.pattern)) found.add(Number(match[1]));
		return [...found].sort((a, b) => a - b);
	}
}

// ---- n8n down in the middle of a delivery stream ------------------------------------------------------------------------

export interface StreamPlan {
	count: number;
	spacingMs: number;
	/** n8n is stopped right after Dovecot accepted this many messages. */
	stopAfter: number;
	/** SIGKILL of n8n's whole process group (true) or a graceful stop (SIGTERM; n8n finishes what runs). */
	hard: boolean;
}

export interface StreamTimeline {
	/** Messages accepted before the stop began. */
	beforeStop: number;
	/** Accepted while n8n shut down (graceful stop) or was being reaped (kill). */
	duringStop: number;
	/** Accepted while n8n was down or starting, before it answered ready. */
	whileDown: number;
	/** Accepted after n8n was ready again. */
	afterStart: number;
	stopSeconds: number;
	forced: boolean;
	/** From the stop request until n8n answered ready again. */
	downSeconds: number;
}

/**
 * Delivers `plan.count` messages `spacingMs` apart; right after message `stopAfter` was accepted, stops n8n (hard:
 * SIGKILL of the process group, sent before this function awaits anything) and starts the same instance again at
 * once, while the rest of the stream keeps arriving.
 */
export async function deliverThroughStop(
	stack: RunningStack,
	n8n: N8nInstance,
	to: string,
	series: MessageSeries,
	plan: StreamPlan,
): Promise<StreamTimeline> {
	let phase: 'before' | 'stopping' | 'down' | 'up' = 'before';
	const counts = { before: 0, stopping: 0, down: 0, up: 0 };
	let interruption: Promise<{ stopSeconds: number; forced: boolean; downSeconds: number }> | undefined;
	const interrupt = async (): Promise<{ stopSeconds: number; forced: boolean; downSeconds: number }> => {
		const began = Date.now();
		phase = 'stopping';
		const stopped = n8n.stop({ hard: plan.hard });
		const result = await stopped;
		phase = 'down';
		await n8n.start();
		phase = 'up';
		return { stopSeconds: result.seconds, forced: result.forced, downSeconds: (Date.now() - began) / 1000 };
	};
	for (let index = 0; index < plan.count; index++) {
		await series.deliver(stack, to, index);
		counts[phase] += 1;
		if (index + 1 === plan.stopAfter) {
			interruption = interrupt();
			// Handled here so a failing delivery cannot leave it unobserved; awaited (with its error) below.
			interruption.catch(() => undefined);
		}
		await sleep(plan.spacingMs);
	}
	if (!interruption) throw new Error(`stopAfter ${plan.stopAfter} is beyond the ${plan.count} messages`);
	const outcome = await interruption;
	return {
		beforeStop: counts.before,
		duringStop: counts.stopping,
		whileDown: counts.down,
		afterStart: counts.up,
		...outcome,
	};
}

// ---- executions → messages ----------------------------------------------------------------------------------------------

const UNFINISHED = new Set<Execution['status']>(['new', 'running', 'waiting', 'unknown']);

export interface Collected {
	executions: Execution[];
	/** Why the wait ended: every message had an execution, or nothing changed for `quietMs`, or the deadline. */
	ended: WaitEnd;
	seconds: number;
}

/** How a wait for executions ended: every message had one, nothing changed for `quietMs`, or the deadline. */
export type WaitEnd = 'complete' | 'quiet' | 'deadline';

/**
 * Polls once a second: `look()` gives a signature of the workflow's executions (a change restarts the quiet time)
 * and whether the wait is complete. Ends complete (then `settleMs` longer, so a late second execution is counted
 * too), after `quietMs` without a change, or at `timeoutMs`.
 */
export async function waitForExecutions(
	look: () => Promise<{ signature: string; complete: () => Promise<boolean> }>,
	options: { timeoutMs: number; quietMs: number; settleMs: number },
): Promise<{ ended: WaitEnd; seconds: number }> {
	const started = Date.now();
	let signature = '';
	let changedAt = Date.now();
	let ended: WaitEnd = 'deadline';
	for (;;) {
		const now = await look();
		if (now.signature !== signature) {
			signature = now.signature;
			changedAt = Date.now();
		}
		if (await now.complete()) {
			ended = 'complete';
			break;
		}
		if (Date.now() - changedAt > options.quietMs) {
			ended = 'quiet';
			break;
		}
		if (Date.now() - started > options.timeoutMs) break;
		await sleep(1000);
	}
	if (ended === 'complete') await sleep(options.settleMs);
	return { ended, seconds: (Date.now() - started) / 1000 };
}

/**
 * Waits until every message of the series has an execution that is over (any end status) and n8n runs nothing of
 * the workflow (see waitForExecutions). Returns every execution of the workflow, with data.
 */
export async function collectExecutions(
	n8n: N8nInstance,
	workflowId: string,
	series: MessageSeries,
	options: { timeoutMs: number; quietMs: number; settleMs: number },
): Promise<Collected> {
	const { ended, seconds } = await waitForExecutions(async () => {
		// The plain list leaves out what this n8n is running right now; ask for those separately.
		const [listed, running] = await Promise.all([
			n8n.listExecutions(workflowId),
			n8n.listExecutions(workflowId, false, { status: 'running' }),
		]);
		const over = listed.filter((execution) => !UNFINISHED.has(execution.status));
		return {
			signature: [...listed, ...running].map((execution) => `${execution.id}:${execution.status}`).sort().join(','),
			complete: async () => {
				if (over.length < series.count || running.length > 0 || over.length !== listed.length) return false;
				const withData = await n8n.listExecutions(workflowId, true);
				const covered = new Set(withData.filter((execution) => !UNFINISHED.has(execution.status)).flatMap((execution) => series.indicesIn(execution)));
				return covered.size >= series.count;
			},
		};
	}, options);
	return { executions: await n8n.listExecutions(workflowId, true), ended, seconds };
}

export interface ExactlyOnceReport {
	messages: number;
	executions: number;
	byStatus: Record<string, number>;
	/** Message numbers without any execution. */
	none: number[];
	/** Message numbers with two or more executions, with those executions. */
	several: Array<{ index: number; executions: string[] }>;
	/** Executions that name no message of the series, or more than one (one run per message expected). */
	odd: Array<{ execution: string; messages: number[] }>;
	/** Executions whose item says `redelivered: true` (emitted again from the in-flight record after the restart). */
	redelivered: number;
	/** message number → its executions as `id:status`. */
	table: string[][];
}

export function exactlyOnceReport(series: MessageSeries, executions: Execution[]): ExactlyOnceReport {
	const table: string[][] = Array.from({ length: series.count }, () => []);
	const byStatus: Record<string, number> = {};
	const odd: ExactlyOnceReport['odd'] = [];
	let redelivered = 0;
	for (const execution of executions) {
		byStatus[execution.status] = (byStatus[execution.status] ?? 0) + 1;
		const indices = series.indicesIn(execution);
		if (indices.length !== 1 || indices[0] >= series.count) odd.push({ execution: `${execution.id}:${execution.status}`, messages: indices });
		for (const index of indices) if (index < series.count) table[index].push(`${execution.id}:${execution.status}`);
		if (/"redelivered":true/.test(JSON.stringify(execution.data ?? {}))) redelivered += 1;
	}
	return {
		messages: series.count,
		executions: executions.length,
		byStatus,
		none: table.flatMap((entries, index) => (entries.length === 0 ? [index] : [])),
		several: table.flatMap((entries, index) => (entries.length > 1 ? [{ index, executions: entries }] : [])),
		odd,
		redelivered,
		table,
	};
}

const STATUS_LETTER: Record<string, string> = { success: 's', crashed: 'c', error: 'e', new: 'n', running: 'r', waiting: 'w', canceled: 'x', unknown: '?' };

/** message → executions, ten messages a line (`12:4711s`: message 12 ran in execution 4711, success; `—`: none). */
export function formatTable(report: ExactlyOnceReport): string {
	const cell = (entries: string[], index: number): string => {
		const runs = entries.map((entry) => {
			const [id, status] = entry.split(':');
			return `${id}${STATUS_LETTER[status] ?? status}`;
		});
		const mark = entries.length === 1 ? ' ' : '!';
		return `${mark}${String(index).padStart(2)}:${(runs.join('+') || '—').padEnd(6)}`;
	};
	const lines: string[] = [];
	for (let start = 0; start < report.table.length; start += 10) {
		lines.push(report.table.slice(start, start + 10).map((entries, offset) => cell(entries, start + offset)).join(' '));
	}
	return `${lines.join('\n')}\n(s success, c crashed, e error, n new, r running, w waiting; ! = not exactly one execution)`;
}

/** One line for the run's log: the numbers the report of the suite quotes. */
export function summaryLine(label: string, report: ExactlyOnceReport): string {
	return (
		`${label}: ${report.messages} messages, ${report.executions} executions ${JSON.stringify(report.byStatus)}, ` +
		`${report.none.length} with none, ${report.several.length} with 2+, ${report.odd.length} odd executions, ` +
		`${report.redelivered} redelivered`
	);
}

/** Keeps the run's report beside n8n's logs (post-mortem: which message, which execution). */
export function saveReport(n8n: N8nInstance, label: string, content: unknown): string {
	const file = path.join(n8n.logsDir, `durability-${label}.json`);
	fs.writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
	return file;
}
