/**
 * Shared pieces of the end-to-end mail scenarios: one real mail stack and one real n8n per test file, credentials of
 * the generic XOAUTH2 type pointing at the stack's token server with real tokens, workflow builders for the package's
 * nodes, and readers that turn n8n's execution records into the messages they carried.
 *
 * TLS stays verified: n8n gets the stack's self-signed certificate through NODE_EXTRA_CA_CERTS (the credential keeps
 * allowUnauthorizedCerts off), and the credential connects to 127.0.0.1, which the certificate names as an IP SAN.
 */
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import type { RunningStack, TokenSet } from '../../stack';
import type { Execution, N8nInstance } from '../harness';
import { sandboxCredentialData } from '../../../scripts/demo';
import { packageName } from '../harness/paths';

export const minutes = (count: number): number => count * 60 * 1000;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const MAIL_CREDENTIAL_TYPE = 'mailServerOAuth2Api';
export const TRIGGER_TYPE = `${packageName}.gmailImapTrigger`;
export const SMTP_TYPE = `${packageName}.gmailSmtp`;
export const POP_TYPE = `${packageName}.gmailPop`;

/** The stack's certificate as a file n8n can be pointed at (the stack keeps it in its runtime directory). */
export function stackCaFile(stack: RunningStack): string {
	const file = path.join(stack.dir, 'tls', 'cert.pem');
	if (fs.readFileSync(file, 'utf8').trim() !== stack.caCertPem.trim()) {
		throw new Error(`${file} is not the certificate the stack serves`);
	}
	return file;
}

/** Every token and secret a scenario handled, so the logs can be searched for each of them at the end. */
export class SecretRegistry {
	private readonly values = new Set<string>();

	add(...values: Array<unknown>): void {
		for (const value of values) if (typeof value === 'string' && value.length >= 8) this.values.add(value);
	}

	addTokenData(tokenData: Record<string, unknown> | undefined): void {
		if (tokenData) this.add(tokenData.access_token, tokenData.refresh_token);
	}

	all(): string[] {
		return [...this.values];
	}
}

export interface MailCredential {
	id: string;
	name: string;
	user: string;
	/** The token data as imported (what n8n stored before any refresh). */
	imported: Required<TokenSet> & { n8n_expires_at: string };
}

/** n8n credential ids are 16 alphanumeric characters. */
function newCredentialId(): string {
	return randomBytes(12).toString('hex').slice(0, 16);
}

/**
 * Imports a Mail Server (XOAUTH2) credential for `user` whose token data came from the stack's token server. The
 * access token's lifetime sticks to its refresh token, so every refresh n8n makes yields a token of the same lifetime.
 * `n8n_expires_at` is written the way n8n writes it after a Connect or refresh: a string of epoch milliseconds.
 */
export async function importMailCredential(
	n8n: N8nInstance,
	stack: RunningStack,
	secrets: SecretRegistry,
	user: string,
	options: { lifetimeSeconds?: number; label?: string } = {},
): Promise<MailCredential> {
	const requestedAt = Date.now();
	const tokens = await stack.issueTokens(user, { lifetimeSeconds: options.lifetimeSeconds });
	// The stack's own credential data (the one `npm start` imports): TLS verified, n8n trusts the CA through
	// NODE_EXTRA_CA_CERTS; the expiry counted from before the request, as n8n counts it.
	const data = sandboxCredentialData(stack, user, tokens, requestedAt);
	const imported = data.oauthTokenData;
	secrets.add(stack.oauth.clientSecret);
	secrets.addTokenData(imported);
	const credential = {
		id: newCredentialId(),
		name: `e2e ${options.label ?? 'mail'} ${user}`,
		type: MAIL_CREDENTIAL_TYPE,
		data,
	};
	await n8n.importCredentials([credential]);
	return { id: credential.id, name: credential.name, user, imported };
}

type NodeJson = Record<string, unknown>;

function credentialReference(credential: MailCredential): Record<string, { id: string; name: string }> {
	return { [MAIL_CREDENTIAL_TYPE]: { id: credential.id, name: credential.name } };
}

export const TRIGGER_NAME = 'Gmail IMAP Trigger';
export const SMTP_NAME = 'Gmail SMTP';
export const POP_NAME = 'Gmail POP';

export function triggerNode(credential: MailCredential, options: Record<string, unknown> = {}): NodeJson {
	return {
		id: randomUUID(),
		name: TRIGGER_NAME,
		type: TRIGGER_TYPE,
		typeVersion: 1,
		position: [0, 0],
		parameters: {
			authentication: MAIL_CREDENTIAL_TYPE,
			mailbox: 'INBOX',
			postProcessAction: 'read',
			format: 'simple',
			// The post-action of the last message of a burst runs at the next pass: poll often so tests see it soon.
			options: { pollIntervalSeconds: 5, ...options },
		},
		credentials: credentialReference(credential),
	};
}

export function replyNode(credential: MailCredential, text: string): NodeJson {
	return {
		id: randomUUID(),
		name: SMTP_NAME,
		type: SMTP_TYPE,
		typeVersion: 1,
		position: [240, 0],
		parameters: {
			authentication: MAIL_CREDENTIAL_TYPE,
			operation: 'send',
			fromEmail: '',
			toEmail: '',
			subject: '',
			emailFormat: 'text',
			text,
			options: { replyToInputEmail: true, appendAttribution: false },
		},
		credentials: credentialReference(credential),
	};
}

export function manualTriggerNode(): NodeJson {
	return {
		id: randomUUID(),
		name: 'Run',
		type: 'n8n-nodes-base.manualTrigger',
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
	};
}

export function popGetManyNode(credential: MailCredential): NodeJson {
	return {
		id: randomUUID(),
		name: POP_NAME,
		type: POP_TYPE,
		typeVersion: 1,
		position: [240, 0],
		parameters: {
			authentication: MAIL_CREDENTIAL_TYPE,
			operation: 'getAll',
			returnAll: true,
			format: 'simple',
			options: {},
		},
		credentials: credentialReference(credential),
	};
}

export function connect(from: string, to: string): Record<string, unknown> {
	return { [from]: { main: [[{ node: to, type: 'main', index: 0 }]] } };
}

// ---- reading n8n's records ---------------------------------------------------------------------------------------

export interface ItemJson {
	subject?: string;
	metadata?: Record<string, unknown>;
	attributes?: Record<string, unknown>;
	[key: string]: unknown;
}

/** The items a node output in an execution (first run, first output); [] when it ran and output nothing. */
export function nodeOutput(execution: Execution | undefined, nodeName: string): ItemJson[] | undefined {
	const runs = execution?.data?.resultData.runData[nodeName];
	if (!runs || runs.length === 0) return undefined;
	const main = runs[0].data?.main;
	return (main?.[0] ?? []).map((item) => item.json as ItemJson);
}

/** Message-ID header of an item in the `simple` format (with angle brackets, as the message carries it). */
export function messageIdOf(item: ItemJson): string | undefined {
	const value = item.metadata?.['message-id'];
	return typeof value === 'string' ? value.trim() : undefined;
}

/**
 * The Message-IDs an execution of a trigger workflow carried. A finished run names them in the trigger's output; a
 * run cut short (n8n killed mid-run, recorded as crashed) may lack run data, so its saved data is searched for the
 * IDs the test delivered.
 */
export function messageIdsOfExecution(execution: Execution, triggerName: string, knownIds: string[]): string[] {
	const output = nodeOutput(execution, triggerName);
	const named = (output ?? []).map((item) => messageIdOf(item)).filter((id): id is string => id !== undefined);
	if (named.length > 0) return named;
	// A crashed run: n8n's recovery may rewrite the trigger's run data (an artificial item); the message is still in
	// the saved data (the node execution stack).
	const saved = JSON.stringify(execution.data ?? {});
	const found = knownIds.filter((id) => saved.includes(id));
	return found.length > 0 || !output ? found : output.map(() => '(no Message-ID)');
}

/** How many executions carried each Message-ID (IDs the test never delivered show up too). */
export function countEmissions(executions: Execution[], triggerName: string, knownIds: string[]): Map<string, number> {
	const counts = new Map<string, number>(knownIds.map((id) => [id, 0]));
	for (const execution of executions) {
		for (const id of messageIdsOfExecution(execution, triggerName, knownIds)) counts.set(id, (counts.get(id) ?? 0) + 1);
	}
	return counts;
}

/** Message-IDs not emitted exactly once, with their counts, for a readable assertion failure. */
export function notExactlyOnce(counts: Map<string, number>): Record<string, number> {
	return Object.fromEntries([...counts].filter(([, count]) => count !== 1));
}

/**
 * Waits until every delivered message has been emitted at least once, then a little longer, so a late duplicate
 * would be counted too. Returns every execution of the workflow, with data.
 */
export async function waitForEmissions(
	n8n: N8nInstance,
	workflowId: string,
	triggerName: string,
	knownIds: string[],
	timeoutMs: number,
	settleMs = 4000,
): Promise<Execution[]> {
	const deadline = Date.now() + timeoutMs;
	const unfinished = new Set(['new', 'running', 'waiting']);
	for (;;) {
		const executions = await n8n.listExecutions(workflowId, true);
		const counts = countEmissions(
			executions.filter((execution) => !unfinished.has(execution.status)),
			triggerName,
			knownIds,
		);
		const missing = knownIds.filter((id) => (counts.get(id) ?? 0) === 0);
		if (missing.length === 0) break;
		if (Date.now() > deadline) {
			throw new Error(
				`workflow ${workflowId}: ${missing.length} of ${knownIds.length} messages not emitted within ${timeoutMs / 1000}s ` +
					`(executions: ${executions.map((execution) => `${execution.id}:${execution.status}`).join(', ')}; missing: ${missing.join(', ')})`,
			);
		}
		await sleep(500);
	}
	await sleep(settleMs);
	return await n8n.listExecutions(workflowId, true);
}

// ---- mail ----------------------------------------------------------------------------------------------------------

export interface SentMessage {
	subject: string;
	messageId: string;
	from: string;
	to: string;
}

/** Delivers one message through Postfix's open port (mail arriving from outside) and waits until it is stored. */
export async function deliverMessage(
	stack: RunningStack,
	from: string,
	to: string,
	subject: string,
): Promise<SentMessage> {
	const messageId = `<${randomUUID()}@e2e.${stack.domain}>`;
	await stack.deliver({ from, to, subject, messageId, text: `Body of ${subject}\n` });
	return { subject, messageId, from, to };
}

/** A header of a raw message (unfolded), or undefined. */
export function rawHeader(raw: string, name: string): string | undefined {
	const headerEnd = raw.search(/\r?\n\r?\n/);
	const block = (headerEnd >= 0 ? raw.slice(0, headerEnd) : raw).replace(/\r?\n[ \t]+/g, ' ');
	const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(block);
	return match?.[1].trim();
}

/**
 * Waits until every message of the folder carries \Seen (the trigger marks a message read after its run succeeded,
 * at its next pass over the folder).
 */
export async function waitForAllSeen(stack: RunningStack, user: string, expected: number, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const state = await stack.mailboxState(user);
		const seen = state.messages.filter((message) => message.flags.includes('\\Seen')).length;
		if (state.messages.length === expected && seen === expected) return;
		if (Date.now() > deadline) {
			throw new Error(`${user}: ${seen} of ${state.messages.length} messages \\Seen after ${timeoutMs / 1000}s (expected ${expected})`);
		}
		await sleep(250);
	}
}

/** The stored flags of every message of the folder, by Message-ID (as Dovecot has them, not through IMAP). */
export async function flagsByMessageId(stack: RunningStack, user: string): Promise<Map<string, string[]>> {
	const state = await stack.mailboxState(user, 'INBOX', { includeRaw: true });
	return new Map(state.messages.map((message) => [rawHeader(message.raw ?? '', 'Message-ID') ?? `(uid ${message.uid})`, message.flags]));
}

// ---- logs ----------------------------------------------------------------------------------------------------------

/** Every log file n8n wrote for this instance: its start logs and CLI log, and n8n's own event log(s). */
export function n8nLogFiles(n8n: N8nInstance): string[] {
	const files: string[] = [];
	const collect = (dir: string, accept: (name: string) => boolean): void => {
		if (!fs.existsSync(dir)) return;
		for (const name of fs.readdirSync(dir)) {
			const file = path.join(dir, name);
			if (fs.statSync(file).isFile() && accept(name)) files.push(file);
		}
	};
	collect(n8n.logsDir, () => true);
	collect(path.join(n8n.userFolder, '.n8n'), (name) => name.endsWith('.log'));
	return files;
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{8,}\.(eyJ[A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]*/g;
/** The stack's refresh tokens: `1//rt-` and 43 base64url characters. */
const REFRESH_TOKEN_SHAPE = /1\/\/rt-[A-Za-z0-9_-]{8,}/;

/** True for a JWT whose issuer is the stack's token server (n8n's own JWTs, such as its API key, do not count). */
function isStackJwt(payloadPart: string, issuer: string): boolean {
	try {
		const payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as { iss?: unknown };
		return payload.iss === issuer;
	} catch {
		return false;
	}
}

/**
 * Places in n8n's logs that hold a known secret, an access token of the stack's token server (every one is a JWT
 * with its issuer, so even tokens the test never saw are found), or anything shaped like the stack's refresh tokens.
 */
export function secretsInLogs(files: string[], secrets: string[], issuer: string): string[] {
	const findings: string[] = [];
	for (const file of files) {
		const lines = fs.readFileSync(file, 'utf8').split('\n');
		lines.forEach((line, index) => {
			const known = secrets.some((secret) => line.includes(secret));
			const accessToken = [...line.matchAll(JWT_SHAPE)].some((match) => isStackJwt(match[1], issuer));
			const refreshToken = REFRESH_TOKEN_SHAPE.test(line);
			// Report where and what kind, never the line itself: it holds the secret.
			if (known || accessToken || refreshToken) {
				const kinds = [known && 'known secret', accessToken && 'access token', refreshToken && 'refresh token'];
				findings.push(`${file}:${index + 1} (${kinds.filter(Boolean).join(', ')})`);
			}
		});
	}
	return findings;
}
