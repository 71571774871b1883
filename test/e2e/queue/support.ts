/**
 * Pieces shared by the queue-mode suites: the workflows (built on the crash suite's trigger node and message series,
 * test/e2e/durability/support.ts), which process ran which execution (the queue harness reads n8n's own log lines),
 * and the reading of the workflow's static data straight from Postgres.
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import { startStack, type RunningStack } from '../../stack';
import type { Execution, N8nInstance, WorkflowImport } from '../harness';
import { startQueueMode, type QueueCluster } from '../harness/queue';
import { stackCaFile } from '../scenarios/support';
import { CREDENTIAL_TYPE, TRIGGER_NAME, minutes, triggerNode, waitForExecutions, type Mailbox, type MessageSeries, type WaitEnd } from '../durability/support';
import { packageName } from '../harness/paths';

export const SMTP_NAME = 'Gmail SMTP';
export const POP_NAME = 'Gmail POP';
export const HASH_NAME = 'Hash attachment';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A private mail stack and a queue-mode cluster (main + 2 workers) for the enclosing describe block: started in a
 * beforeAll registered here (so before the suite's own), stopped in afterAll. Returns the accessor the tests use.
 */
export function useQueueCluster(progress: (line: string) => void): () => { stack: RunningStack; cluster: QueueCluster } {
	let stack: RunningStack | undefined;
	let cluster: QueueCluster | undefined;
	beforeAll(async () => {
		stack = await startStack({ log: (line) => progress(`stack: ${line}`) });
		cluster = await startQueueMode({ log: progress, env: { NODE_EXTRA_CA_CERTS: stackCaFile(stack) } });
	}, minutes(20));
	afterAll(async () => {
		try {
			await cluster?.stop();
		} finally {
			await stack?.stop();
		}
	}, minutes(2));
	return () => {
		if (!stack || !cluster) throw new Error('the stack or queue mode did not start (see beforeAll)');
		return { stack, cluster };
	};
}

function credentials(mailbox: Mailbox): Record<string, unknown> {
	return { [CREDENTIAL_TYPE]: { id: mailbox.credentialId, name: mailbox.credentialName } };
}

function chain(names: string[]): Record<string, unknown> {
	const connections: Record<string, unknown> = {};
	for (let index = 0; index + 1 < names.length; index++) {
		connections[names[index]] = { main: [[{ node: names[index + 1], type: 'main', index: 0 }]] };
	}
	return connections;
}

/** The trigger (version 2, one run per message) with extra top-level parameters (e.g. downloadAttachments). */
export function queueTriggerNode(mailbox: Mailbox, parameters: Record<string, unknown> = {}): Record<string, unknown> {
	const node = triggerNode(mailbox);
	return { ...node, parameters: { ...(node.parameters as Record<string, unknown>), ...parameters } };
}

/** Gmail SMTP answering the trigger's message (to its sender, threaded), with the same credential. */
export function replyNode(mailbox: Mailbox, text: string): Record<string, unknown> {
	return {
		id: randomUUID(),
		name: SMTP_NAME,
		type: `${packageName}.gmailSmtp`,
		typeVersion: 1,
		position: [240, 0],
		parameters: {
			authentication: CREDENTIAL_TYPE,
			operation: 'send',
			fromEmail: '',
			toEmail: '',
			subject: '',
			emailFormat: 'text',
			text,
			options: { replyToInputEmail: true, appendAttribution: false },
		},
		credentials: credentials(mailbox),
	};
}

/** Trigger → Gmail SMTP reply. */
export function autoReplyWorkflow(name: string, mailbox: Mailbox, text: string): WorkflowImport {
	return { name, nodes: [queueTriggerNode(mailbox), replyNode(mailbox, text)], connections: chain([TRIGGER_NAME, SMTP_NAME]) };
}

/** Trigger → Gmail POP (Get Many of `popMailbox`, which writes its record into the workflow's static data). */
export function triggerThenPopWorkflow(name: string, mailbox: Mailbox, popMailbox: Mailbox): WorkflowImport {
	const pop = {
		id: randomUUID(),
		name: POP_NAME,
		type: `${packageName}.gmailPop`,
		typeVersion: 1,
		position: [240, 0],
		parameters: { authentication: CREDENTIAL_TYPE, operation: 'getAll', returnAll: true, format: 'simple', options: {} },
		credentials: credentials(popMailbox),
		// One POP run per execution, whatever the trigger's item count.
		executeOnce: true,
	};
	return { name, nodes: [queueTriggerNode(mailbox), pop], connections: chain([TRIGGER_NAME, POP_NAME]) };
}

/** Trigger (attachments downloaded as binary) → Crypto SHA-256 of binary `attachment_0`, run by a worker. */
export function attachmentHashWorkflow(name: string, mailbox: Mailbox): WorkflowImport {
	const hash = {
		id: randomUUID(),
		name: HASH_NAME,
		type: 'n8n-nodes-base.crypto',
		typeVersion: 2,
		position: [240, 0],
		parameters: {
			action: 'hash',
			type: 'SHA256',
			binaryData: true,
			binaryPropertyName: 'attachment_0',
			dataPropertyName: 'attachmentSha256',
			encoding: 'hex',
		},
	};
	return {
		name,
		nodes: [queueTriggerNode(mailbox, { downloadAttachments: true }), hash],
		connections: chain([TRIGGER_NAME, HASH_NAME]),
	};
}

/** Delivers the series' messages `spacingMs` apart over LMTP; `during(index)` runs (awaited) after each delivery. */
export async function deliverSeries(
	stack: RunningStack,
	to: string,
	series: MessageSeries,
	spacingMs: number,
	during?: (index: number) => Promise<void> | void,
): Promise<void> {
	for (let index = 0; index < series.count; index++) {
		await series.deliver(stack, to, index);
		await during?.(index);
		await sleep(spacingMs);
	}
}

export interface Placement {
	/** worker name → executions of the list it started. */
	byWorker: Record<string, string[]>;
	/** Executions of the list that no process logged as started (e.g. given up on before a worker took them). */
	notStarted: string[];
	/** Executions of the list that main logged as started by itself (must be none). */
	onMain: string[];
	/** Executions of the list that more than one worker started (Bull handing a stalled job to another worker). */
	onSeveral: string[];
}

export function placementOf(cluster: QueueCluster, executions: Execution[]): Placement {
	const runBy = cluster.executionsRunBy();
	const placement: Placement = { byWorker: {}, notStarted: [], onMain: [], onSeveral: [] };
	for (const worker of cluster.workers) placement.byWorker[worker.name] = [];
	for (const execution of executions) {
		const processes = runBy.get(execution.id) ?? [];
		if (processes.length === 0) placement.notStarted.push(execution.id);
		if (processes.includes('main')) placement.onMain.push(execution.id);
		if (new Set(processes).size > 1) placement.onSeveral.push(execution.id);
		for (const name of new Set(processes)) if (name !== 'main') placement.byWorker[name]?.push(execution.id);
	}
	return placement;
}

export function placementLine(placement: Placement): string {
	const workers = Object.entries(placement.byWorker).map(([name, ids]) => `${name} ${ids.length}`).join(', ');
	return `${workers}; main ${placement.onMain.length}; not started ${placement.notStarted.length}; on several ${placement.onSeveral.length}`;
}

/** Lines of main's and the workers' logs (all starts) matching `pattern`, prefixed with the process name. */
export function logLines(cluster: QueueCluster, pattern: RegExp): string[] {
	const sources: Array<[string, string]> = [['main', cluster.main.logsDir], ...cluster.workers.map((worker): [string, string] => [worker.name, worker.logsDir])];
	const found: string[] = [];
	for (const [name, dir] of sources) {
		for (const file of fs.readdirSync(dir).filter((entry) => entry.endsWith('.log'))) {
			for (const line of fs.readFileSync(path.join(dir, file), 'utf8').split('\n')) if (pattern.test(line)) found.push(`${name}: ${line}`);
		}
	}
	return found;
}

export type { Execution, N8nInstance };

const UNFINISHED = new Set(['new', 'running', 'waiting', 'unknown']);

export interface DatabaseCollected {
	/** Every execution of the workflow in Postgres, with data (read one by one through the public API), oldest first. */
	executions: Execution[];
	ended: WaitEnd;
	seconds: number;
	/** Finished executions that the public API's list left out (it hides what main still counts as running). */
	hiddenFromList: string[];
}

/**
 * Waits until every message of the series has a finished execution and no execution of the workflow is unfinished,
 * judged from Postgres (`execution_entity`), n8n's own record: the public API's list leaves out what main counts as
 * active, and in queue mode main can keep counting a finished job as active (seen in these suites). Then `settleMs`
 * longer for a late second execution. Gives up when the rows did not change for `quietMs`, or at `timeoutMs`.
 */
export async function collectFromDatabase(
	cluster: QueueCluster,
	workflowId: string,
	series: MessageSeries,
	options: { timeoutMs: number; quietMs: number; settleMs: number },
): Promise<DatabaseCollected> {
	const cache = new Map<string, Execution>();
	const rows = async (): Promise<Array<{ id: string; status: string }>> =>
		(await cluster.postgres.query(`SELECT id, status FROM execution_entity WHERE "workflowId" = '${workflowId.replace(/'/g, "''")}' ORDER BY id`))
			.trim()
			.split('\n')
			.filter((line) => line !== '')
			.map((line) => {
				const [id, status] = line.split('\t');
				return { id, status };
			});
	const withData = async (list: Array<{ id: string; status: string }>): Promise<Execution[]> => {
		const result: Execution[] = [];
		for (const row of list) {
			const cached = cache.get(row.id);
			if (cached && cached.status === row.status) {
				result.push(cached);
				continue;
			}
			const execution = await cluster.main.getExecution(row.id, true);
			if (!UNFINISHED.has(execution.status)) cache.set(row.id, execution);
			result.push(execution);
		}
		return result;
	};
	const { ended, seconds } = await waitForExecutions(async () => {
		const now = await rows();
		return {
			signature: now.map((row) => `${row.id}:${row.status}`).join(','),
			complete: async () =>
				now.length >= series.count &&
				now.every((row) => !UNFINISHED.has(row.status)) &&
				new Set((await withData(now)).flatMap((execution) => series.indicesIn(execution))).size >= series.count,
		};
	}, options);
	const executions = await withData(await rows());
	const listed = new Set((await cluster.main.listExecutions(workflowId)).map((execution) => execution.id));
	const hiddenFromList = executions.filter((execution) => !listed.has(execution.id) && !UNFINISHED.has(execution.status)).map((execution) => `${execution.id}:${execution.status}`);
	return { executions, ended, seconds, hiddenFromList };
}
