/**
 * The package's nodes in a real n8n (pinned 2.x, installed as a community package) against the real mail stack
 * (Dovecot, Postfix, OAuth2 token server), judged by n8n's own records (public API executions with data, the stored
 * credential as n8n decrypts it) and by the mailboxes as Dovecot stores them:
 *
 *   1. a delivered message starts Gmail IMAP Trigger → Gmail SMTP (reply mode); the reply reaches the sender, threaded;
 *   2. with 20-second access tokens the trigger keeps emitting across several refreshes made through n8n, which
 *      stores each new token;
 *   3. n8n stopped (gracefully, then killed) while mail keeps arriving: afterwards every message was emitted once;
 *   4. a manual workflow with Gmail POP (Get Many) run by `n8n execute` returns the mailbox, and nothing the next time.
 *
 * Finally no token or client secret may appear in anything n8n logged during the run (log level debug).
 *
 * One stack and one n8n serve all scenarios (n8n takes ~10 s to start and the package is built and installed once);
 * each scenario has its own mailboxes, credential and workflow, and deactivates its workflow when done.
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { startStack, decodeJwtPayload, type RunningStack } from '../../stack';
import { startN8n, type N8nInstance } from '../harness';
import {
	POP_NAME,
	SMTP_NAME,
	TRIGGER_NAME,
	SecretRegistry,
	connect,
	countEmissions,
	deliverMessage,
	flagsByMessageId,
	importMailCredential,
	manualTriggerNode,
	messageIdOf,
	messageIdsOfExecution,
	minutes,
	n8nLogFiles,
	nodeOutput,
	notExactlyOnce,
	popGetManyNode,
	rawHeader,
	replyNode,
	secretsInLogs,
	sleep,
	stackCaFile,
	triggerNode,
	waitForAllSeen,
	waitForEmissions,
	type SentMessage,
} from './support';

const suiteStarted = Date.now();
const progress = (line: string): void => {
	process.stdout.write(`[e2e mail ${((Date.now() - suiteStarted) / 1000).toFixed(1)}s] ${line}\n`);
};

describe('the mail nodes in a real n8n against the real mail stack', () => {
	let stack: RunningStack | undefined;
	let n8n: N8nInstance | undefined;
	const secrets = new SecretRegistry();

	const running = (): { stack: RunningStack; n8n: N8nInstance } => {
		if (!stack || !n8n) throw new Error('the stack or n8n did not start (see beforeAll)');
		return { stack, n8n };
	};

	beforeAll(async () => {
		stack = await startStack({ log: (line) => progress(`stack: ${line}`) });
		n8n = await startN8n({
			log: progress,
			env: {
				// Verification stays on: n8n (server and CLI runs) trusts the stack's self-signed certificate.
				NODE_EXTRA_CA_CERTS: stackCaFile(stack),
				// The nodes log at debug level; the final test checks that nothing logged there carries a token.
				N8N_LOG_LEVEL: 'debug',
			},
		});
	}, minutes(40));

	afterAll(async () => {
		// n8n first (it holds sessions on the stack), the stack even if stopping n8n failed.
		try {
			await n8n?.stop();
		} finally {
			await stack?.stop();
		}
	}, minutes(3));

	test('1. a delivered message starts the workflow and the SMTP reply reaches the sender, threaded', async () => {
		const { stack, n8n } = running();
		const started = Date.now();
		const bot = stack.newMailbox('bot-reply');
		const customer = stack.newMailbox('customer');
		const credential = await importMailCredential(n8n, stack, secrets, bot, { label: 'reply' });
		const replyText = `Thanks, we received your message (${randomUUID()}).`;
		const workflowId = await n8n.importWorkflow({
			name: 'e2e trigger → reply',
			nodes: [triggerNode(credential), replyNode(credential, replyText)],
			connections: connect(TRIGGER_NAME, SMTP_NAME),
		});
		await n8n.activateWorkflow(workflowId);
		// Mail counts from the trigger's start on ("New Mail Only"): n8n starts it just after the API answers, and
		// records it as activated once trigger() has returned, which sets the checkpoint.
		await n8n.waitForTriggersLive(workflowId);
		try {
			const original = await deliverMessage(stack, customer, bot, `Question ${randomUUID()}`);
			const executions = await waitForEmissions(n8n, workflowId, TRIGGER_NAME, [original.messageId], 60_000);
			expect(executions.map((execution) => [execution.mode, execution.status])).toEqual([['trigger', 'success']]);

			const [emitted] = nodeOutput(executions[0], TRIGGER_NAME) ?? [];
			expect(emitted.subject).toBe(original.subject);
			expect(messageIdOf(emitted)).toBe(original.messageId);
			expect(String(emitted.from)).toContain(customer);
			const [sent] = nodeOutput(executions[0], SMTP_NAME) ?? [];
			expect(sent.accepted).toEqual([customer]);
			expect(typeof sent.messageId).toBe('string');

			const inbox = await stack.waitForMessages(customer, 1, { includeRaw: true, timeoutMs: 15_000 });
			expect(inbox.messages).toHaveLength(1);
			const reply = inbox.messages[0].raw ?? '';
			expect(rawHeader(reply, 'In-Reply-To')).toBe(original.messageId);
			expect(rawHeader(reply, 'References')).toBe(original.messageId);
			expect(rawHeader(reply, 'Subject')).toBe(`Re: ${original.subject}`);
			expect(rawHeader(reply, 'Message-ID')).toBe(sent.messageId);
			expect(rawHeader(reply, 'From')).toContain(bot);
			expect(reply).toContain(replyText);

			// The trigger's post-action (Mark as Read) ran after n8n reported the run successful.
			await waitForAllSeen(stack, bot, 1, 20_000);
		} finally {
			await n8n.deactivateWorkflow(workflowId);
		}
		progress(`scenario 1 took ${((Date.now() - started) / 1000).toFixed(1)}s`);
	}, minutes(3));

	test('2. with 20-second tokens the trigger emits every message once across several refreshes that n8n stores', async () => {
		const { stack, n8n } = running();
		const started = Date.now();
		const lifetimeSeconds = 20;
		const deliveries = 16;
		const deliveryIntervalMs = 5000;
		const bot = stack.newMailbox('bot-refresh');
		const sender = stack.newMailbox('sender');
		const credential = await importMailCredential(n8n, stack, secrets, bot, { lifetimeSeconds, label: 'refresh' });
		const workflowId = await n8n.importWorkflow({ name: 'e2e short tokens', nodes: [triggerNode(credential)], connections: {} });

		const activatedAt = Date.now();
		await n8n.activateWorkflow(workflowId);
		await n8n.waitForTriggersLive(workflowId);
		const sent: SentMessage[] = [];
		let mostSessions = 0;
		let active = true;
		try {
			for (let index = 0; index < deliveries; index++) {
				sent.push(await deliverMessage(stack, sender, bot, `Refresh round ${index} ${randomUUID()}`));
				mostSessions = Math.max(mostSessions, (await stack.connectedSessions(bot)).length);
				await sleep(deliveryIntervalMs);
			}
			const knownIds = sent.map((message) => message.messageId);
			const executions = await waitForEmissions(n8n, workflowId, TRIGGER_NAME, knownIds, 60_000);
			// Mark as Read ran for every message: each run was reported back as successful.
			await waitForAllSeen(stack, bot, deliveries, 20_000);
			// Stop the trigger before reading the token records, so no refresh happens between the two reads.
			await n8n.deactivateWorkflow(workflowId);
			active = false;
			await n8n.waitForTriggersStopped(workflowId);
			const elapsedMs = Date.now() - activatedAt;
			progress(`scenario 2: ${sent.length} messages over ${(elapsedMs / 1000).toFixed(0)}s, at most ${mostSessions} IMAP session(s)`);

			expect(notExactlyOnce(countEmissions(executions, TRIGGER_NAME, knownIds))).toEqual({});
			expect(executions).toHaveLength(deliveries);
			expect(executions.filter((execution) => execution.status !== 'success')).toEqual([]);
			// One session per trigger, two for a moment while it moves to a fresh token.
			expect(mostSessions).toBeGreaterThanOrEqual(1);
			expect(mostSessions).toBeLessThanOrEqual(2);

			// Refreshes reached the token endpoint, all of them accepted, and not in a storm: roughly one per 80 % of a
			// lifetime, at most one per half lifetime (plus the one at activation).
			const refreshes = await stack.tokenRequests({ user: bot, grantType: 'refresh_token', since: activatedAt });
			progress(`scenario 2: ${refreshes.length} token refreshes`);
			expect(refreshes.filter((request) => request.status !== 200)).toEqual([]);
			expect(refreshes.length).toBeGreaterThanOrEqual(3);
			expect(refreshes.length).toBeLessThanOrEqual(Math.ceil(elapsedMs / (lifetimeSeconds * 500)) + 1);

			// n8n stored the newest token: the refresh went through n8n's refreshOAuth2Token (a direct refresh could
			// not save it), kept the refresh token, and wrote n8n_expires_at for the last refresh.
			const stored = await n8n.readCredentialTokenData(credential.id);
			secrets.addTokenData(stored);
			expect(stored).toBeDefined();
			const storedToken = stored as Record<string, unknown>;
			expect(storedToken.access_token).not.toBe(credential.imported.access_token);
			expect(storedToken.refresh_token).toBe(credential.imported.refresh_token);
			expect(typeof storedToken.n8n_expires_at).toBe('string');
			const storedExpiry = Number(storedToken.n8n_expires_at);
			expect(storedExpiry).toBeGreaterThan(Number(credential.imported.n8n_expires_at));
			const lastRefresh = refreshes[refreshes.length - 1];
			expect(Math.abs(storedExpiry - (lastRefresh.at + lifetimeSeconds * 1000))).toBeLessThan(3000);
			const storedJwtExpiry = decodeJwtPayload(String(storedToken.access_token)).exp;
			expect(Math.abs(Number(storedJwtExpiry) * 1000 - (lastRefresh.at + lifetimeSeconds * 1000))).toBeLessThan(3000);
		} finally {
			if (active) await n8n.deactivateWorkflow(workflowId);
		}
		progress(`scenario 2 took ${((Date.now() - started) / 1000).toFixed(1)}s`);
	}, minutes(5));

	test('3. n8n stopped and killed while mail arrives: afterwards every message was emitted exactly once', async () => {
		const { stack, n8n } = running();
		const started = Date.now();
		const bot = stack.newMailbox('bot-restart');
		const sender = stack.newMailbox('sender');
		const credential = await importMailCredential(n8n, stack, secrets, bot, { label: 'restart' });
		const workflowId = await n8n.importWorkflow({ name: 'e2e restarts', nodes: [triggerNode(credential)], connections: {} });
		await n8n.activateWorkflow(workflowId);
		await n8n.waitForTriggersLive(workflowId);

		const sent: SentMessage[] = [];
		const send = async (label: string): Promise<void> => {
			sent.push(await deliverMessage(stack, sender, bot, `${label} #${sent.length} ${randomUUID()}`));
		};
		const ids = (): string[] => sent.map((message) => message.messageId);
		try {
			await send('before');
			await send('before');
			await waitForEmissions(n8n, workflowId, TRIGGER_NAME, ids(), 30_000, 0);

			for (const hard of [false, true]) {
				const label = hard ? 'kill' : 'restart';
				// Mail keeps arriving, one message every 0.7 s, through the shutdown, the downtime and the start-up.
				let streaming = true;
				const stream = (async () => {
					while (streaming) {
						await send(`${label} stream`);
						await sleep(700);
					}
				})();
				try {
					await sleep(1500);
					const stopped = await n8n.stop({ hard });
					progress(`scenario 3: n8n ${hard ? 'killed' : 'stopped'} in ${stopped.seconds.toFixed(1)}s`);
					// Definitely while n8n is down.
					await send(`${label} while down`);
					await send(`${label} while down`);
					await n8n.start();
					await sleep(3000);
				} finally {
					streaming = false;
					await stream;
				}
				await send(`${label} after`);
				const executions = await waitForEmissions(n8n, workflowId, TRIGGER_NAME, ids(), 90_000);
				const counts = countEmissions(executions, TRIGGER_NAME, ids());
				const statuses = executions.reduce<Record<string, number>>((tally, execution) => {
					tally[execution.status] = (tally[execution.status] ?? 0) + 1;
					return tally;
				}, {});
				progress(`scenario 3 (${label}): ${sent.length} messages, executions by status ${JSON.stringify(statuses)}`);
				expect(notExactlyOnce(counts)).toEqual({});
				expect(executions).toHaveLength(sent.length);

				// A run that did not succeed (n8n records a run cut off by the stop as `crashed`) must leave its message
				// as it was: Mark as Read only follows a successful run.
				const flags = await flagsByMessageId(stack, bot);
				for (const execution of executions.filter((candidate) => candidate.status !== 'success')) {
					for (const id of messageIdsOfExecution(execution, TRIGGER_NAME, ids())) {
						progress(`scenario 3 (${label}): execution ${execution.id} (${execution.status}) carried ${id}; its message is ${flags.get(id)?.includes('\\Seen') ? 'read' : 'unread'}`);
						expect(flags.get(id)).toBeDefined();
						expect(flags.get(id)).not.toContain('\\Seen');
					}
				}
			}
			// Nothing was lost or removed from the mailbox.
			expect((await stack.mailboxState(bot)).messages).toHaveLength(sent.length);
		} finally {
			await n8n.deactivateWorkflow(workflowId);
		}
		progress(`scenario 3 took ${((Date.now() - started) / 1000).toFixed(1)}s`);
	}, minutes(8));

	test('4. a manual workflow with Gmail POP (Get Many) run by the CLI returns the mailbox, then only what is new', async () => {
		const { stack, n8n } = running();
		const started = Date.now();
		const user = stack.newMailbox('pop-reader');
		const sender = stack.newMailbox('sender');
		const credential = await importMailCredential(n8n, stack, secrets, user, { label: 'pop' });
		const workflowId = await n8n.importWorkflow({
			name: 'e2e POP get many',
			nodes: [manualTriggerNode(), popGetManyNode(credential)],
			connections: connect('Run', POP_NAME),
		});
		const first: SentMessage[] = [];
		for (let index = 0; index < 3; index++) first.push(await deliverMessage(stack, sender, user, `POP ${index} ${randomUUID()}`));

		const popRun = async (): Promise<Array<{ subject?: string; messageId?: string; uidl: unknown }>> => {
			const run = await n8n.executeWorkflow(workflowId, { timeoutMs: minutes(3) });
			expect(run.exitedAsExpected).toBe(true);
			expect(run.execution?.mode).toBe('cli');
			expect(run.execution?.status).toBe('success');
			const items = nodeOutput(run.execution, POP_NAME);
			expect(items).toBeDefined();
			return (items ?? []).map((item) => ({ subject: item.subject, messageId: messageIdOf(item), uidl: item.attributes?.uidl }));
		};
		const bySubject = <T extends { subject?: string }>(list: T[]): T[] =>
			[...list].sort((a, b) => String(a.subject).localeCompare(String(b.subject)));

		const firstRun = await popRun();
		expect(bySubject(firstRun).map(({ subject, messageId }) => ({ subject, messageId }))).toEqual(
			bySubject(first).map(({ subject, messageId }) => ({ subject, messageId })),
		);
		const uidls = firstRun.map((item) => item.uidl);
		expect(uidls.every((uidl) => typeof uidl === 'string' && uidl !== '')).toBe(true);
		expect(new Set(uidls).size).toBe(uidls.length);

		// n8n saved what Get Many returned (static data of a `cli` run): the same mailbox yields nothing new.
		expect(await popRun()).toEqual([]);

		const later = await deliverMessage(stack, sender, user, `POP later ${randomUUID()}`);
		const thirdRun = await popRun();
		expect(thirdRun.map(({ subject, messageId }) => ({ subject, messageId }))).toEqual([
			{ subject: later.subject, messageId: later.messageId },
		]);
		expect(uidls).not.toContain(thirdRun[0].uidl);

		// Get Many without "Delete After Download" leaves the mail on the server, and no POP session stays open.
		expect((await stack.mailboxState(user)).messages).toHaveLength(first.length + 1);
		await stack.waitForNoSessions(user);
		const stored = await n8n.readCredentialTokenData(credential.id);
		secrets.addTokenData(stored);
		progress(`scenario 4 took ${((Date.now() - started) / 1000).toFixed(1)}s`);
	}, minutes(6));

	test('no access token, refresh token or client secret appears in any log n8n wrote during the run', () => {
		const { stack, n8n } = running();
		const files = n8nLogFiles(n8n);
		// The start logs of every (re)start and the CLI log at least: an empty list would make this check vacuous.
		expect(files.filter((file) => /n8n-start-\d+\.log$/.test(file)).length).toBeGreaterThanOrEqual(1);
		expect(files.some((file) => file.endsWith('cli.log'))).toBe(true);
		expect(secrets.all().length).toBeGreaterThan(0);
		expect(secretsInLogs(files, secrets.all(), stack.oauth.url)).toEqual([]);

		// The search itself finds what it looks for: a token n8n stored, in a log-like line, is reported as both a
		// known secret and a token of the stack's issuer; a refresh token by its shape alone.
		const control = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-log-control-')), 'control.log');
		try {
			const storedAccessToken = secrets.all().find((secret) => secret.startsWith('eyJ')) ?? '';
			fs.writeFileSync(control, `clean line\n{"access_token":"${storedAccessToken}"}\nrefresh 1//rt-${'x'.repeat(43)}\n`);
			expect(secretsInLogs([control], [storedAccessToken], stack.oauth.url)).toEqual([
				`${control}:2 (known secret, access token)`,
				`${control}:3 (refresh token)`,
			]);
			expect(secretsInLogs([control], [], stack.oauth.url)).toHaveLength(2);
		} finally {
			fs.rmSync(path.dirname(control), { recursive: true, force: true });
		}
		stack.assertHealthy();
	});
});
