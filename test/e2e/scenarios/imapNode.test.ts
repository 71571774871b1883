/**
 * The Gmail IMAP action node in a real n8n (pinned 2.x, the package installed as a community package) against the
 * real mail stack: a delivered message starts Gmail IMAP Trigger → Gmail IMAP (Flag: add the keyword $Processed) →
 * Gmail IMAP (Move to "Processed"), without any mapping. Judged by n8n's execution records and by the mailbox as Dovecot stores it: the
 * message is in "Processed" with $Processed, INBOX is empty, and no token appears in what n8n logged.
 */
import { randomUUID } from 'crypto';

import { startStack, type RunningStack } from '../../stack';
import { startN8n, type N8nInstance } from '../harness';
import {
	MAIL_CREDENTIAL_TYPE,
	SecretRegistry,
	TRIGGER_NAME,
	deliverMessage,
	importMailCredential,
	minutes,
	n8nLogFiles,
	nodeOutput,
	rawHeader,
	secretsInLogs,
	sleep,
	stackCaFile,
	triggerNode,
	waitForEmissions,
	type MailCredential,
} from './support';

const IMAP_TYPE = 'n8n-nodes-gmail-xoauth2.gmailImap';
const FLAG_NAME = 'Flag as Processed';
const MOVE_NAME = 'Move to Processed';

const suiteStarted = Date.now();
const progress = (line: string): void => {
	process.stdout.write(`[e2e imap node ${((Date.now() - suiteStarted) / 1000).toFixed(1)}s] ${line}\n`);
};

function imapNode(name: string, credential: MailCredential, parameters: Record<string, unknown>, x: number): Record<string, unknown> {
	return {
		id: randomUUID(),
		name,
		type: IMAP_TYPE,
		typeVersion: 1,
		position: [x, 0],
		parameters: { authentication: MAIL_CREDENTIAL_TYPE, resource: 'message', ...parameters },
		credentials: { [MAIL_CREDENTIAL_TYPE]: { id: credential.id, name: credential.name } },
	};
}

describe('the Gmail IMAP node in a real n8n against the real mail stack', () => {
	let stack: RunningStack | undefined;
	let n8n: N8nInstance | undefined;
	const secrets = new SecretRegistry();

	beforeAll(async () => {
		stack = await startStack({ log: (line) => progress(`stack: ${line}`) });
		n8n = await startN8n({ log: progress, env: { NODE_EXTRA_CA_CERTS: stackCaFile(stack), N8N_LOG_LEVEL: 'debug' } });
	}, minutes(40));

	afterAll(async () => {
		try {
			await n8n?.stop();
		} finally {
			await stack?.stop();
		}
	}, minutes(3));

	test('trigger → Gmail IMAP flags the message and moves it to a folder; the mailbox shows both', async () => {
		if (!stack || !n8n) throw new Error('the stack or n8n did not start (see beforeAll)');
		const user = stack.newMailbox('imap-node');
		await stack.createFolder(user, 'Processed');
		const credential = await importMailCredential(n8n, stack, secrets, user, { label: 'imap node' });
		const workflowId = await n8n.importWorkflow({
			name: 'e2e trigger → Gmail IMAP flag + move',
			nodes: [
				// The workflow moves the message itself: the trigger leaves it as it is.
				triggerNode(credential, {}),
				imapNode(FLAG_NAME, credential, { operation: 'flag', flags: '$Processed' }, 240),
				// Neither takes a UID: each uses its input item's attributes (the trigger's, then the Flag node's).
				imapNode(MOVE_NAME, credential, { operation: 'move', destinationFolder: 'Processed' }, 480),
			].map((node) => (node.name === TRIGGER_NAME ? { ...node, parameters: { ...(node.parameters as object), postProcessAction: 'nothing' } } : node)),
			connections: {
				[TRIGGER_NAME]: { main: [[{ node: FLAG_NAME, type: 'main', index: 0 }]] },
				[FLAG_NAME]: { main: [[{ node: MOVE_NAME, type: 'main', index: 0 }]] },
			},
		});
		await n8n.activateWorkflow(workflowId);
		await n8n.waitForTriggersLive(workflowId);
		try {
			const sent = await deliverMessage(stack, stack.newMailbox('customer'), user, `Order ${randomUUID()}`);
			const executions = await waitForEmissions(n8n, workflowId, TRIGGER_NAME, [sent.messageId], 60_000, 1000);
			expect(executions.map((execution) => [execution.mode, execution.status])).toEqual([['trigger', 'success']]);
			const [emitted] = nodeOutput(executions[0], TRIGGER_NAME) ?? [];
			const [flagged] = nodeOutput(executions[0], FLAG_NAME) ?? [];
			const [moved] = nodeOutput(executions[0], MOVE_NAME) ?? [];
			expect(flagged).toMatchObject({ mailbox: 'INBOX', uid: emitted.attributes?.uid, flagsAdded: ['$Processed'] });
			expect(moved).toMatchObject({ mailbox: 'INBOX', uid: emitted.attributes?.uid, destination: 'Processed', newUid: expect.any(Number) });

			// The mailbox as Dovecot stores it.
			let processed = await stack.mailboxState(user, 'Processed', { includeRaw: true });
			for (let attempt = 0; processed.messages.length === 0 && attempt < 20; attempt++) {
				await sleep(250);
				processed = await stack.mailboxState(user, 'Processed', { includeRaw: true });
			}
			expect(processed.messages).toHaveLength(1);
			expect(rawHeader(processed.messages[0].raw ?? '', 'Message-ID')).toBe(sent.messageId);
			expect(processed.messages[0].flags).toContain('$Processed');
			expect(processed.messages[0].uid).toBe(moved.newUid);
			expect((await stack.mailboxState(user)).messages).toHaveLength(0);
		} finally {
			await n8n.deactivateWorkflow(workflowId);
		}
		expect(secretsInLogs(n8nLogFiles(n8n), secrets.all(), stack.oauth.url)).toEqual([]);
	}, minutes(5));
});
