/**
 * What `npm start` sets up, shared with the end-to-end tests that photograph it: where the demo keeps its state, its
 * fixed ports, the generic XOAUTH2 credential pointed at the local mail sandbox, and the sample workflow
 * (new mail → auto-reply).
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import type { Stack, StackInfo, TokenSet } from '../test/stack';

export const repoRoot = path.resolve(__dirname, '..');

/** Everything the demo keeps between runs (mail, keys, tokens, n8n's database); git ignores .cache/. */
export const demoRoot = path.join(repoRoot, '.cache', 'demo');
export const demoN8nFolder = path.join(demoRoot, 'n8n');
export const demoEncryptionKeyFile = path.join(demoRoot, 'n8n-encryption-key');
/** n8n's public API key for `npm start` (mode 0600), reused across starts while n8n accepts it. */
export const demoApiKeyFile = path.join(demoRoot, 'n8n-api-key.json');

/**
 * Dovecot and Postfix open the sandbox's files as their own users, so every folder above it must be traversable by
 * others. A clone under root's home (mode 700) is not: the sandbox then lives in /var/tmp, still persistent.
 */
export function demoStackDir(): string {
	const preferred = path.join(demoRoot, 'mail-sandbox');
	let folder = path.dirname(preferred);
	for (;;) {
		if (fs.existsSync(folder) && (fs.statSync(folder).mode & 0o001) === 0) {
			return path.join('/var/tmp', `n8n-nodes-gmail-xoauth2-demo-${hashOf(repoRoot)}`);
		}
		const parent = path.dirname(folder);
		if (parent === folder) return preferred;
		folder = parent;
	}
}

function hashOf(text: string): string {
	let hash = 0;
	for (const char of text) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
	return hash.toString(16);
}

/** Fixed so bookmarks, the credential and the README's commands stay valid across restarts; env overrides them. */
export const demoPorts = {
	n8n: Number(process.env.DEMO_N8N_PORT ?? 5678),
	/** The sandbox takes nine ports from here: imap imaps pop3 pop3s lmtp smtp submission smtps oauth. */
	stackBase: Number(process.env.DEMO_SANDBOX_PORT_BASE ?? 24930),
};

/** The sandbox account the demo credential signs in as; the token server's /authorize approves it. */
export const demoMailbox = 'demo@example.test';
/** Default sender of `npm run sandbox:send`; the auto-reply lands in this mailbox. */
export const demoSender = 'you@example.test';

export const demoCredentialId = 'gxDemoSandboxCrd';
export const demoCredentialName = 'Mail sandbox (XOAUTH2)';
export const demoWorkflowId = 'gxDemoAutoReplyW';
export const demoWorkflowName = 'New mail → auto-reply';

export const packageName = 'n8n-nodes-gmail-xoauth2';

/** The running sandbox as `npm start` left it (the stack writes stack.json in its directory). */
export function readDemoStackInfo(dir = demoStackDir()): StackInfo {
	const file = path.join(dir, 'stack.json');
	if (!fs.existsSync(file) || !fs.existsSync(path.join(dir, 'pids.json'))) {
		throw new Error(`The mail sandbox is not running (no ${file} with pids.json beside it). Start it with: npm start`);
	}
	return JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo;
}

/**
 * The generic XOAUTH2 credential's data for a sandbox account: the token server's endpoints and client, the
 * sandbox's IMAPS / SMTPS / POP3S ports with TLS verified against the sandbox CA (which n8n trusts through
 * NODE_EXTRA_CA_CERTS, never by switching verification off), and real tokens from the token server.
 */
export function sandboxCredentialData<Tokens extends TokenSet>(
	stack: Stack,
	email: string,
	tokens: Tokens,
	obtainedAt: number = Date.now(),
) {
	// What n8n itself stores after Connect: the absolute expiry the nodes check before each login.
	const oauthTokenData = { ...tokens, n8n_expires_at: String(obtainedAt + tokens.expires_in * 1000) };
	return {
		grantType: 'authorizationCode',
		authUrl: stack.oauth.authorizeUrl,
		accessTokenUrl: stack.oauth.tokenUrl,
		clientId: stack.oauth.clientId,
		clientSecret: stack.oauth.clientSecret,
		enabledScopes: stack.oauth.scope,
		authQueryParameters: '',
		authentication: 'body',
		email,
		imapHost: stack.host,
		imapPort: stack.ports.imaps,
		imapSecurity: 'tls',
		smtpHost: stack.host,
		smtpPort: stack.ports.smtps,
		smtpSecurity: 'tls',
		popHost: stack.host,
		popPort: stack.ports.pop3s,
		popSecurity: 'tls',
		allowUnauthorizedCerts: false,
		ignoreSSLIssues: false,
		oauthTokenData,
	};
}

export interface CredentialReference {
	id: string;
	name: string;
}

/**
 * The sample workflow: every new message in INBOX (Gmail IMAP Trigger) gets a threaded auto-reply (Gmail SMTP in
 * reply mode). A Filter in between keeps it from answering automatic mail (RFC 3834 `Auto-Submitted`, list mail
 * via `Precedence`) or the account itself: the same workflow on a real Gmail account must never start a mail loop.
 */
export function autoReplyWorkflow(credential: CredentialReference, account: string): {
	id: string;
	name: string;
	nodes: Array<Record<string, unknown>>;
	connections: Record<string, unknown>;
	settings: Record<string, unknown>;
} {
	const credentials = { mailServerOAuth2Api: credential };
	const condition = (leftValue: string, operation: string, rightValue = ''): Record<string, unknown> => ({
		id: randomUUID(),
		leftValue,
		rightValue,
		operator: { type: 'string', operation, ...(operation === 'notExists' || operation === 'empty' ? { singleValue: true } : {}) },
	});
	return {
		id: demoWorkflowId,
		name: demoWorkflowName,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: randomUUID(),
				name: 'New mail',
				type: `${packageName}.gmailImapTrigger`,
				typeVersion: 1,
				position: [0, 0],
				parameters: {
					authentication: 'mailServerOAuth2Api',
					mailbox: 'INBOX',
					postProcessAction: 'read',
					format: 'simple',
					options: {},
				},
				credentials,
			},
			{
				id: randomUUID(),
				name: 'Not automatic mail',
				type: 'n8n-nodes-base.filter',
				typeVersion: 2.2,
				position: [260, 0],
				parameters: {
					conditions: {
						options: { caseSensitive: false, leftValue: '', typeValidation: 'loose', version: 2 },
						conditions: [
							condition('={{ $json.metadata["auto-submitted"] }}', 'notExists'),
							condition('={{ $json.metadata["precedence"] }}', 'notExists'),
							condition('={{ $json.from }}', 'notContains', account),
						],
						combinator: 'and',
					},
					options: {},
				},
			},
			{
				id: randomUUID(),
				name: 'Auto-reply',
				type: `${packageName}.gmailSmtp`,
				typeVersion: 1,
				position: [520, 0],
				parameters: {
					authentication: 'mailServerOAuth2Api',
					operation: 'send',
					fromEmail: '',
					toEmail: '',
					subject: '',
					emailFormat: 'text',
					text: '=Hello,\n\nthanks for your message "{{ $json.subject }}". This is an automatic reply sent by n8n.\n',
					options: {
						replyToInputEmail: true,
						appendAttribution: false,
						customHeaders: { header: [{ name: 'Auto-Submitted', value: 'auto-replied' }] },
					},
				},
				credentials,
			},
		],
		connections: {
			'New mail': { main: [[{ node: 'Not automatic mail', type: 'main', index: 0 }]] },
			'Not automatic mail': { main: [[{ node: 'Auto-reply', type: 'main', index: 0 }]] },
		},
	};
}
