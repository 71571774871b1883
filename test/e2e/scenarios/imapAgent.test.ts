/**
 * The Gmail IMAP node as an AI tool in a real n8n (pinned 2.x, the package installed as a community package): n8n's
 * AI Agent with the "OpenAI Chat Model" node pointed (credential Base URL) at a scripted OpenAI-compatible server on
 * 127.0.0.1, and two tool variants of the node (`n8n-nodes-gmail-xoauth2.gmailImapTool`, which n8n derives from
 * `usableAsTool: true`): Search (subject from the model) and Flag (UID from the model, keyword $Processed).
 * The script answers: first a call of the search tool, then — reading the UID from the search result it was sent —
 * a call of the flag tool, then a final text. Judged by what the scripted model received (the search found the
 * message by its subject; the flag tool reported the keyword added), by n8n's execution record, and by the mailbox
 * as Dovecot stores it (the message carries $Processed; the other message does not).
 */
import { randomBytes, randomUUID } from 'crypto';

import { startStack, type RunningStack } from '../../stack';
import { startN8n, type N8nInstance } from '../harness';
import { STUB_MODEL, startChatModelStub, toolResults, type ChatModelStub, type ChatReply, type ChatRequest } from '../harness/chatModelStub';
import { packageName } from '../harness/paths';
import {
	MAIL_CREDENTIAL_TYPE,
	SecretRegistry,
	deliverMessage,
	importMailCredential,
	manualTriggerNode,
	minutes,
	n8nLogFiles,
	nodeOutput,
	rawHeader,
	secretsInLogs,
	stackCaFile,
	type MailCredential,
} from './support';

const IMAP_TOOL_TYPE = `${packageName}.gmailImapTool`;
const AGENT_NAME = 'AI Agent';
const MODEL_NAME = 'OpenAI Chat Model';
const SEARCH_TOOL = 'search_mail';
const FLAG_TOOL = 'flag_mail';
const OPENAI_CREDENTIAL_TYPE = 'openAiApi';

const suiteStarted = Date.now();
const progress = (line: string): void => {
	process.stdout.write(`[e2e imap agent ${((Date.now() - suiteStarted) / 1000).toFixed(1)}s] ${line}\n`);
};

function imapToolNode(name: string, credential: MailCredential, description: string, parameters: Record<string, unknown>, y: number): Record<string, unknown> {
	return {
		id: randomUUID(),
		name,
		type: IMAP_TOOL_TYPE,
		typeVersion: 1,
		position: [400, y],
		parameters: {
			authentication: MAIL_CREDENTIAL_TYPE,
			descriptionType: 'manual',
			toolDescription: description,
			resource: 'message',
			...parameters,
		},
		credentials: { [MAIL_CREDENTIAL_TYPE]: { id: credential.id, name: credential.name } },
	};
}

/** The search result items the conversation holds (the JSON the agent sent as the search tool's answer). */
function searchResults(request: ChatRequest): Array<{ subject?: string; attributes?: { uid?: number; mailbox?: string } }> | undefined {
	const result = toolResults(request).find((entry) => entry.toolName === SEARCH_TOOL);
	if (!result) return undefined;
	const parsed = JSON.parse(result.content) as unknown;
	return Array.isArray(parsed) ? (parsed as Array<{ subject?: string; attributes?: { uid?: number; mailbox?: string } }>) : [];
}

/**
 * The model's part: search by subject; flag what the search found; then say what was done. Each step reads the
 * conversation the agent sent, so a missing or wrong tool result shows up as the final text and in the assertions.
 */
function agentScript(subject: string): (request: ChatRequest) => ChatReply {
	return (request) => {
		const results = toolResults(request);
		if (results.length === 0) return { toolCalls: [{ name: SEARCH_TOOL, arguments: { subject } }] };
		const found = searchResults(request);
		const flagged = results.find((entry) => entry.toolName === FLAG_TOOL);
		if (!flagged) {
			const match = found?.find((item) => item.subject === subject);
			if (!match?.attributes?.uid) return { text: `search found no message titled "${subject}": ${results.map((entry) => entry.content).join(' | ')}` };
			return { toolCalls: [{ name: FLAG_TOOL, arguments: { uid: match.attributes.uid } }] };
		}
		return { text: `Flagged the message "${subject}" as $Processed.` };
	};
}

describe('the Gmail IMAP node as a tool of n8n\'s AI Agent in a real n8n', () => {
	let stack: RunningStack | undefined;
	let n8n: N8nInstance | undefined;
	let model: ChatModelStub | undefined;
	const secrets = new SecretRegistry();

	beforeAll(async () => {
		stack = await startStack({ log: (line) => progress(`stack: ${line}`) });
		n8n = await startN8n({ log: progress, env: { NODE_EXTRA_CA_CERTS: stackCaFile(stack) } });
	}, minutes(40));

	afterAll(async () => {
		try {
			await model?.stop();
			await n8n?.stop();
		} finally {
			await stack?.stop();
		}
	}, minutes(3));

	test('the agent searches by subject with the Gmail IMAP tool, then flags the message it found; the mailbox shows the keyword', async () => {
		if (!stack || !n8n) throw new Error('the stack or n8n did not start (see beforeAll)');
		const started = Date.now();
		const user = stack.newMailbox('imap-agent');
		const subject = `Invoice ${randomUUID().slice(0, 8)}`;
		const other = await deliverMessage(stack, stack.newMailbox('customer'), user, `Newsletter ${randomUUID().slice(0, 8)}`);
		const sent = await deliverMessage(stack, stack.newMailbox('customer'), user, subject);

		model = await startChatModelStub(agentScript(subject));
		const mailCredential = await importMailCredential(n8n, stack, secrets, user, { label: 'imap agent' });
		const apiKey = `sk-e2e-${randomBytes(16).toString('hex')}`;
		secrets.add(apiKey);
		// Through the public API (as a user's script would): no CLI start-up for the credential and the workflow.
		const openAiCredential = await n8n.api<{ id: string; name: string }>('POST', '/api/v1/credentials', {
			name: 'e2e scripted chat model',
			type: OPENAI_CREDENTIAL_TYPE,
			data: { apiKey, url: model.baseUrl, header: false },
		});

		const { id: workflowId } = await n8n.api<{ id: string }>('POST', '/api/v1/workflows', {
			name: 'e2e AI Agent with the Gmail IMAP tool',
			settings: { executionOrder: 'v1' },
			nodes: [
				manualTriggerNode(),
				{
					id: randomUUID(),
					name: AGENT_NAME,
					type: '@n8n/n8n-nodes-langchain.agent',
					typeVersion: 3.1,
					position: [240, 0],
					parameters: {
						promptType: 'define',
						text: `Find the message titled "${subject}" in my inbox and mark it as processed.`,
						options: {},
					},
				},
				{
					id: randomUUID(),
					name: MODEL_NAME,
					type: '@n8n/n8n-nodes-langchain.lmChatOpenAi',
					typeVersion: 1.3,
					position: [200, 240],
					parameters: {
						model: { __rl: true, mode: 'id', value: STUB_MODEL },
						// Chat Completions, the API OpenAI-compatible servers speak.
						responsesApiEnabled: false,
						options: { maxRetries: 0 },
					},
					credentials: { [OPENAI_CREDENTIAL_TYPE]: { id: openAiCredential.id, name: openAiCredential.name } },
				},
				imapToolNode(SEARCH_TOOL, mailCredential, 'Searches the inbox for messages whose subject contains the given words', {
					operation: 'search',
					mailbox: 'INBOX',
					returnAll: false,
					limit: 10,
					format: 'headers',
					filters: {
						customEmailConfig: '={{ JSON.stringify([["SUBJECT", $fromAI("subject", "Words of the subject to search for", "string")]]) }}',
					},
				}, 240),
				imapToolNode(FLAG_TOOL, mailCredential, 'Marks the message with this UID in the inbox as processed (keyword $Processed)', {
					operation: 'flag',
					identifyBy: 'uid',
					uid: '={{ $fromAI("uid", "The UID of the message (attributes.uid of a search result)", "number") }}',
					mailbox: 'INBOX',
					flags: '$Processed',
				}, 360),
			],
			connections: {
				Run: { main: [[{ node: AGENT_NAME, type: 'main', index: 0 }]] },
				[MODEL_NAME]: { ai_languageModel: [[{ node: AGENT_NAME, type: 'ai_languageModel', index: 0 }]] },
				[SEARCH_TOOL]: { ai_tool: [[{ node: AGENT_NAME, type: 'ai_tool', index: 0 }]] },
				[FLAG_TOOL]: { ai_tool: [[{ node: AGENT_NAME, type: 'ai_tool', index: 0 }]] },
			},
		});

		progress(`mail, credentials and workflow ready after ${((Date.now() - started) / 1000).toFixed(1)}s`);
		const run = await n8n.executeWorkflow(workflowId, { timeoutMs: minutes(3) });
		progress(`execution ${run.execution?.id ?? 'none'}: ${run.execution?.status ?? 'not recorded'} (exit ${run.command.code ?? run.command.signal})`);
		const completions = model.completions();
		progress(`the model was asked ${completions.length} times (stream: ${completions.map((request) => String(request.stream ?? false)).join(', ')})`);

		// The model offered both tools, with the arguments the $fromAI() placeholders declare.
		const offered = new Map((completions[0]?.tools ?? []).map((tool) => [tool.function.name, tool.function]));
		expect([...offered.keys()].sort()).toEqual([FLAG_TOOL, SEARCH_TOOL]);
		expect(Object.keys((offered.get(SEARCH_TOOL)?.parameters?.properties ?? {}) as object)).toEqual(['subject']);
		expect(Object.keys((offered.get(FLAG_TOOL)?.parameters?.properties ?? {}) as object)).toEqual(['uid']);

		// Three model turns: search, flag, final answer; the second saw the search result, the third the flag result.
		expect(completions).toHaveLength(3);
		const found = searchResults(completions[1]) ?? [];
		expect(found).toHaveLength(1);
		expect(found[0]).toMatchObject({ subject, attributes: { mailbox: 'INBOX', uid: expect.any(Number) } });
		const flagResult = toolResults(completions[2]).find((entry) => entry.toolName === FLAG_TOOL);
		expect(JSON.parse(flagResult?.content ?? 'null')).toEqual([
			expect.objectContaining({ mailbox: 'INBOX', uid: found[0].attributes?.uid, flagsAdded: ['$Processed'] }),
		]);
		// The credential's key reached the model server; the stream flag is whatever n8n chose (both are answered).
		expect(model.requests.filter((request) => request.path === '/v1/chat/completions').map((request) => request.authorization)).toEqual(
			completions.map(() => `Bearer ${apiKey}`),
		);

		// n8n's record: a successful run whose agent answered with the script's final text.
		expect(run.execution?.status).toBe('success');
		expect(run.exitedAsExpected).toBe(true);
		const [answer] = nodeOutput(run.execution, AGENT_NAME) ?? [];
		expect(answer?.output).toBe(`Flagged the message "${subject}" as $Processed.`);

		// The mailbox as Dovecot stores it: the message found carries the keyword, the other one does not.
		const inbox = await stack.mailboxState(user, 'INBOX', { includeRaw: true });
		const flagsOf = (messageId: string): string[] | undefined =>
			inbox.messages.find((message) => rawHeader(message.raw ?? '', 'Message-ID') === messageId)?.flags;
		expect(inbox.messages).toHaveLength(2);
		expect(flagsOf(sent.messageId)).toContain('$Processed');
		expect(flagsOf(other.messageId)).not.toContain('$Processed');
		expect(inbox.messages.find((message) => message.uid === found[0].attributes?.uid)?.flags).toContain('$Processed');

		expect(secretsInLogs(n8nLogFiles(n8n), secrets.all(), stack.oauth.url)).toEqual([]);
		progress(`scenario took ${((Date.now() - started) / 1000).toFixed(1)}s`);
	}, minutes(5));
});
