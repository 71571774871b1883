/**
 * The package on n8n's distributed engine: n8n 2.41.1 in queue mode (main + 2 workers, private PostgreSQL 15 and
 * Redis 7, binary data in the database; test/e2e/harness/queue.ts) against the real mail stack. Asserted through n8n's
 * execution records, n8n's own log lines ("Enqueued execution" on main, "Worker started execution" on a worker), the
 * token server's request log and the mailboxes:
 *
 *   a. the trigger on main, every execution on a worker (main ran none): 300 messages 30 ms apart while Dovecot
 *      kicks the IMAP session every 3 s → each message exactly one successful execution, never more than one IMAP
 *      session at a time;
 *   b. an auto-reply workflow (trigger → Gmail SMTP): the sends run on both workers, every reply arrives, threaded;
 *   c. (d in the issue) 10-second access tokens while the trigger on main and SMTP nodes on both workers refresh the
 *      same credential: no refused refresh, no failed login, no "reconnect the credential" error, every reply sent;
 *   d. (f in the issue) an attachment through queue mode: the worker's execution hashes the binary it reads from the
 *      database, byte-exact (SHA-256), and main serves the same bytes back.
 * Crashes and the static-data question are in queueCrash.test.ts.
 */
import { createHash, randomBytes } from 'crypto';

import { sandboxCredentialData } from '../../../scripts/demo';
import type { Execution } from '../harness';
import {
	CREDENTIAL_TYPE,
	MessageSeries,
	TRIGGER_NAME,
	exactlyOnceReport,
	importMailboxes,
	minutes,
	noOpWorkflow,
	summaryLine,
	type ExactlyOnceReport,
	type Mailbox,
} from '../durability/support';
import {
	HASH_NAME,
	SMTP_NAME,
	attachmentHashWorkflow,
	autoReplyWorkflow,
	collectFromDatabase,
	deliverSeries,
	logLines,
	placementLine,
	placementOf,
	sleep,
	useQueueCluster,
} from './support';

const suiteStarted = Date.now();
const progress = (line: string): void => {
	process.stdout.write(`[e2e queue ${((Date.now() - suiteStarted) / 1000).toFixed(1)}s] ${line}\n`);
};

const KICK_MESSAGES = 300;
const REPLY_MESSAGES = 20;
const TOKEN_MESSAGES = 24;
const TOKEN_LIFETIME_SECONDS = 10;

describe('queue mode: n8n main + 2 workers on PostgreSQL and Redis (real n8n 2.41.1, real mail stack)', () => {
	const running = useQueueCluster(progress);
	const suiteTag = randomBytes(3).toString('hex');
	const workflows = new Map<string, { workflowId: string; mailbox: Mailbox }>();

	beforeAll(async () => {
		const { stack, cluster } = running();
		const main = cluster.main;
		const labels = ['kicks', 'replies', 'attachment'];
		const mailboxes = await importMailboxes(main, stack, labels.map((label) => stack.newMailbox(`queue-${label}`)));
		// The short-token mailbox: its refresh token hands out 10-second access tokens (the lifetime sticks to it).
		const tokenUser = stack.newMailbox('queue-tokens');
		const obtainedAt = Date.now();
		const tokens = await stack.issueTokens(tokenUser, { lifetimeSeconds: TOKEN_LIFETIME_SECONDS });
		const tokenMailbox: Mailbox = { user: tokenUser, credentialId: randomBytes(8).toString('hex'), credentialName: `queue tokens ${tokenUser}` };
		await main.importCredentials([
			{ id: tokenMailbox.credentialId, name: tokenMailbox.credentialName, type: CREDENTIAL_TYPE, data: sandboxCredentialData(stack, tokenUser, tokens, obtainedAt) },
		]);
		const ids = await main.importWorkflows([
			noOpWorkflow(`queue kicks ${suiteTag}`, mailboxes[0]),
			autoReplyWorkflow(`queue replies ${suiteTag}`, mailboxes[1], `Auto-reply from queue mode ${suiteTag}.`),
			attachmentHashWorkflow(`queue attachment ${suiteTag}`, mailboxes[2]),
			autoReplyWorkflow(`queue tokens ${suiteTag}`, tokenMailbox, `Auto-reply with short tokens ${suiteTag}.`),
		]);
		workflows.set('kicks', { workflowId: ids[0], mailbox: mailboxes[0] });
		workflows.set('replies', { workflowId: ids[1], mailbox: mailboxes[1] });
		workflows.set('attachment', { workflowId: ids[2], mailbox: mailboxes[2] });
		workflows.set('tokens', { workflowId: ids[3], mailbox: tokenMailbox });
		progress(`suite ${suiteTag}: queue mode up, ${ids.length} workflows imported`);
	}, minutes(5));

	function workflowOf(label: string): { workflowId: string; mailbox: Mailbox } {
		const found = workflows.get(label);
		if (!found) throw new Error(`no workflow imported for ${label}`);
		return found;
	}

	async function activate(workflowId: string): Promise<void> {
		const { cluster } = running();
		await cluster.main.activateWorkflow(workflowId);
		await cluster.main.waitForTriggersLive(workflowId);
	}

	function expectExactlyOnceSuccess(report: ExactlyOnceReport): void {
		expect({
			withoutExecution: report.none,
			withSeveral: report.several.map(({ index, executions }) => `message ${index}: ${executions.join(', ')}`),
			executionsNotOfOneMessage: report.odd.map(({ execution, messages }) => `${execution}: [${messages.join(', ')}]`),
			byStatus: report.byStatus,
		}).toEqual({ withoutExecution: [], withSeveral: [], executionsNotOfOneMessage: [], byStatus: { success: report.messages } });
	}

	/** Every execution was enqueued by main and started by exactly one worker; main started none. */
	function expectRunOnWorkers(executions: Execution[], label: string): Record<string, string[]> {
		const { cluster } = running();
		const placement = placementOf(cluster, executions);
		progress(`${label}: placement ${placementLine(placement)}`);
		const enqueued = new Set(cluster.enqueuedByMain());
		expect(executions.filter((execution) => !enqueued.has(execution.id)).map((execution) => execution.id)).toEqual([]);
		expect({ onMain: placement.onMain, notStarted: placement.notStarted, onSeveral: placement.onSeveral }).toEqual({
			onMain: [],
			notStarted: [],
			onSeveral: [],
		});
		expect(cluster.startedOnMain()).toEqual([]);
		return placement.byWorker;
	}

	/** Replies in the sender's INBOX, by the Message-ID they answer (In-Reply-To), for this series only. */
	async function repliesBySeries(series: MessageSeries, expected: number): Promise<Map<string, number>> {
		const { stack } = running();
		const sender = `sender@${stack.domain}`;
		const deadline = Date.now() + 60_000;
		for (;;) {
			const state = await stack.mailboxState(sender, 'INBOX', { includeRaw: true });
			const counts = new Map<string, number>();
			for (const message of state.messages) {
				const inReplyTo = /^In-Reply-To:[ \t]*(<[^>]+>)/im.exec(message.raw ?? '')?.[1];
				if (inReplyTo && inReplyTo.includes(series.tag)) counts.set(inReplyTo, (counts.get(inReplyTo) ?? 0) + 1);
			}
			const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
			if (total >= expected || Date.now() > deadline) return counts;
			await sleep(500);
		}
	}

	test(`a. trigger on main, executions on the workers: ${KICK_MESSAGES} messages, IMAP session kicked every 3 s → each exactly one successful execution, one IMAP session`, async () => {
		const { stack, cluster } = running();
		const { workflowId, mailbox } = workflowOf('kicks');
		const series = new MessageSeries(`${suiteTag}-kicks`, KICK_MESSAGES, stack.domain);
		await activate(workflowId);
		let kicks = 0;
		let maxSessions = 0;
		let streaming = true;
		const kicker = (async () => {
			while (streaming) {
				await sleep(3000);
				if (!streaming) break;
				const sessions = (await stack.connectedSessions(mailbox.user)).filter((session) => session.protocol === 'imap');
				maxSessions = Math.max(maxSessions, sessions.length);
				// doveadm kick fails when the user has no session (the trigger is reconnecting): nothing to kick then.
				if (sessions.length === 0) continue;
				try {
					await stack.kick(mailbox.user);
					kicks += 1;
				} catch (error) {
					if ((await stack.connectedSessions(mailbox.user)).length > 0) throw error;
				}
			}
		})();
		const started = Date.now();
		try {
			await deliverSeries(stack, mailbox.user, series, 30);
			// Keep kicking while the trigger catches up, until every message has its execution.
			const collected = await collectFromDatabase(cluster, workflowId, series, { timeoutMs: minutes(3), quietMs: 30_000, settleMs: 4000 });
			streaming = false;
			await kicker;
			const report = exactlyOnceReport(series, collected.executions);
			progress(`${summaryLine('kicks', report)} (left out of the API list: ${collected.hiddenFromList.join(' ') || 'none'}); ${kicks} kicks, at most ${maxSessions} IMAP session(s); ${((Date.now() - started) / 1000).toFixed(0)}s`);
			expectExactlyOnceSuccess(report);
			const byWorker = expectRunOnWorkers(collected.executions, 'kicks');
			expect(Object.values(byWorker).reduce((sum, ids) => sum + ids.length, 0)).toBe(KICK_MESSAGES);
			expect(kicks).toBeGreaterThanOrEqual(3);
			expect(maxSessions).toBeLessThanOrEqual(1);
			// After the stream: the trigger is back on exactly one session.
			const deadline = Date.now() + 20_000;
			let sessions = (await stack.connectedSessions(mailbox.user)).filter((session) => session.protocol === 'imap');
			while (sessions.length !== 1 && Date.now() < deadline) {
				await sleep(500);
				sessions = (await stack.connectedSessions(mailbox.user)).filter((session) => session.protocol === 'imap');
			}
			expect(sessions.length).toBe(1);
		} finally {
			streaming = false;
			await kicker.catch(() => undefined);
			await cluster.main.deactivateWorkflow(workflowId).catch(() => undefined);
		}
	}, minutes(5));

	test(`b. auto-reply (trigger → Gmail SMTP): ${REPLY_MESSAGES} messages, the sends run on both workers and every reply arrives threaded`, async () => {
		const { stack, cluster } = running();
		const { workflowId, mailbox } = workflowOf('replies');
		const series = new MessageSeries(`${suiteTag}-replies`, REPLY_MESSAGES, stack.domain);
		await activate(workflowId);
		try {
			await deliverSeries(stack, mailbox.user, series, 100);
			const collected = await collectFromDatabase(cluster, workflowId, series, { timeoutMs: minutes(2), quietMs: 30_000, settleMs: 3000 });
			const report = exactlyOnceReport(series, collected.executions);
			progress(summaryLine('replies', report));
			expectExactlyOnceSuccess(report);
			const sent = collected.executions.filter((execution) => (execution.data?.resultData.runData[SMTP_NAME]?.length ?? 0) === 1);
			expect(sent.length).toBe(REPLY_MESSAGES);
			const byWorker = expectRunOnWorkers(collected.executions, 'replies');
			for (const worker of cluster.workers) expect({ worker: worker.name, sends: byWorker[worker.name].length > 0 }).toEqual({ worker: worker.name, sends: true });
			const replies = await repliesBySeries(series, REPLY_MESSAGES);
			const expected = new Map(Array.from({ length: REPLY_MESSAGES }, (_, index) => [series.messageId(index), 1]));
			expect(Object.fromEntries(replies)).toEqual(Object.fromEntries(expected));
		} finally {
			await cluster.main.deactivateWorkflow(workflowId).catch(() => undefined);
		}
	}, minutes(4));

	test(`c. ${TOKEN_LIFETIME_SECONDS}-second access tokens: the trigger on main and SMTP on both workers refresh one credential, no refused refresh, no failed login, no reconnect error`, async () => {
		const { stack, cluster } = running();
		const { workflowId, mailbox } = workflowOf('tokens');
		const series = new MessageSeries(`${suiteTag}-tokens`, TOKEN_MESSAGES, stack.domain);
		const since = Date.now();
		await activate(workflowId);
		try {
			// ~36 s of mail: three to four token lifetimes, so every process refreshes more than once.
			await deliverSeries(stack, mailbox.user, series, 1500);
			const collected = await collectFromDatabase(cluster, workflowId, series, { timeoutMs: minutes(2), quietMs: 30_000, settleMs: 3000 });
			const report = exactlyOnceReport(series, collected.executions);
			const refreshes = await stack.tokenRequests({ grantType: 'refresh_token', user: mailbox.user, since });
			const refused = refreshes.filter((request) => request.status >= 400);
			progress(`${summaryLine('tokens', report)}; ${refreshes.length} refreshes, ${refused.length} refused`);
			expectExactlyOnceSuccess(report);
			const byWorker = expectRunOnWorkers(collected.executions, 'tokens');
			for (const worker of cluster.workers) expect({ worker: worker.name, sends: byWorker[worker.name].length > 0 }).toEqual({ worker: worker.name, sends: true });
			expect(refused.map((request) => `${request.status} ${JSON.stringify(request)}`)).toEqual([]);
			// Tokens live 10 s and the run lasted over 30 s: the credential was refreshed several times.
			expect(refreshes.length).toBeGreaterThanOrEqual(3);
			const replies = await repliesBySeries(series, TOKEN_MESSAGES);
			expect([...replies.values()].reduce((sum, count) => sum + count, 0)).toBe(TOKEN_MESSAGES);
			expect(logLines(cluster, /must be reconnected|needs to be reconnected|AUTHENTICATIONFAILED|Authentication failed|invalid_grant/i)).toEqual([]);
		} finally {
			await cluster.main.deactivateWorkflow(workflowId).catch(() => undefined);
		}
	}, minutes(4));

	test('d. an attachment through queue mode arrives byte-exact in the worker’s execution (binary data in the database)', async () => {
		const { stack, cluster } = running();
		const { workflowId, mailbox } = workflowOf('attachment');
		const bytes = randomBytes(300 * 1024);
		const digest = createHash('sha256').update(bytes).digest('hex');
		const messageId = `<queue-attachment-${suiteTag}@e2e.${stack.domain}>`;
		await activate(workflowId);
		try {
			await stack.deliver(
				{
					from: `sender@${stack.domain}`,
					to: mailbox.user,
					subject: `queue attachment ${suiteTag}`,
					messageId,
					text: 'A binary attachment.\n',
					attachments: [{ filename: 'payload.bin', content: bytes, contentType: 'application/octet-stream' }],
				},
				{ via: 'lmtp' },
			);
			const executions = await cluster.main.waitForExecutions(workflowId, 1, minutes(2), true);
			expect(executions.map((execution) => execution.status)).toEqual(['success']);
			const [execution] = executions;
			const byWorker = expectRunOnWorkers(executions, 'attachment');
			expect(Object.values(byWorker).flat()).toEqual([execution.id]);
			const triggerItem = execution.data?.resultData.runData[TRIGGER_NAME]?.[0]?.data?.main?.[0]?.[0];
			const binary = triggerItem?.binary?.attachment_0;
			expect(binary?.fileName).toBe('payload.bin');
			// Binary data mode database: n8n's reference to the bytes names the database, not a file of one process.
			expect(String(binary?.id)).toMatch(/^database:/);
			const hashed = execution.data?.resultData.runData[HASH_NAME]?.[0]?.data?.main?.[0]?.[0]?.json;
			expect(hashed?.attachmentSha256).toBe(digest);
			// The bytes as Postgres holds them (binary_data, keyed by the id after "database:"). n8n records the
			// trigger's binary under the temporary execution id: main's REST download refuses it (404), the worker reads it.
			const fileId = String(binary?.id).slice('database:'.length).replace(/'/g, "''");
			const [storedDigest, sourceType, sourceId] = (
				await cluster.postgres.query(`SELECT encode(sha256(data), 'hex'), "sourceType", "sourceId" FROM binary_data WHERE "fileId" = '${fileId}'`)
			).trim().split('\t');
			expect(storedDigest).toBe(digest);
			progress(`attachment: stored in binary_data with source ${sourceType}/${sourceId}`);
			progress(`attachment: ${bytes.length} bytes, ${String(binary?.id)}, worker ${Object.entries(byWorker).find(([, ids]) => ids.length > 0)?.[0]}, SHA-256 equal`);
		} finally {
			await cluster.main.deactivateWorkflow(workflowId).catch(() => undefined);
		}
	}, minutes(3));
});
