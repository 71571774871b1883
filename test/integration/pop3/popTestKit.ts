/**
 * Accounts, messages and assertions shared by the Gmail POP node's integration tests.
 * Every test takes a fresh mailbox on the stack, so tests never see each other's mail or token requests.
 */
import * as fs from 'node:fs';

import type { ICredentialDataDecryptedObject, IDataObject, INodeExecutionData } from 'n8n-workflow';

import { SEEN_STATE_KEY } from '../../../nodes/GmailPop/execute';
import type { StoredSeenState } from '../../../nodes/mail/pop3/seenState';
import { getStack, type Stack } from '../../stack';
import { StoredCredential } from '../harness/credentials';
import { PopNodeHarness } from './popHarness';

export const stack: Stack = getStack();

export interface Account {
	user: string;
	credential: StoredCredential;
	harness: PopNodeHarness;
	refreshToken: string;
	accessToken: string;
}

export interface AccountOptions {
	/** Lifetime of the stored access token and of every token refreshed from it. */
	lifetimeSeconds?: number;
	/** What the stored `n8n_expires_at` claims (epoch ms), whatever the token's real expiry. */
	storedExpiresAt?: number;
	/** Credential fields over the POP3-over-TLS defaults. */
	fields?: ICredentialDataDecryptedObject;
	/** Pass the stack's CA to the node (default true); false shows what a user without it would get. */
	trustStackCa?: boolean;
	/** Tokens issued for this address instead of the mailbox's own (a token for the wrong account). */
	tokenUser?: string;
	prefix?: string;
}

/** A fresh mailbox, the generic credential pointing at the stack's POP3 over TLS and token endpoint, and a node. */
export async function newAccount(options: AccountOptions = {}): Promise<Account> {
	const user = stack.newMailbox(options.prefix ?? 'pop');
	const tokens = await stack.issueTokens(options.tokenUser ?? user, { lifetimeSeconds: options.lifetimeSeconds ?? 3600 });
	const credential = StoredCredential.mailServer(
		stack,
		user,
		tokens,
		{ popHost: stack.host, popPort: stack.ports.pop3s, popSecurity: 'tls', ...options.fields },
		{ expiresAt: options.storedExpiresAt },
	);
	const harness = new PopNodeHarness(
		credential,
		options.trustStackCa === false ? {} : { tls: { ca: stack.caCertPem, servername: stack.info.servername } },
	);
	return { user, credential, harness, refreshToken: tokens.refresh_token, accessToken: tokens.access_token };
}

/** Delivers `count` plain messages numbered from `first`, in order (each stored before the next is sent). */
export async function deliverNumbered(user: string, count: number, first = 1): Promise<void> {
	for (let number = first; number < first + count; number++) {
		await stack.deliver({ from: 'sender@example.test', to: user, subject: `message ${number}`, text: `body of message ${number}` });
	}
}

export function subjects(items: INodeExecutionData[]): unknown[] {
	return items.map((item) => item.json.subject);
}

export function attributes(item: INodeExecutionData): IDataObject {
	return item.json.attributes as IDataObject;
}

export function storedRecord(account: Account): StoredSeenState | undefined {
	return account.harness.nodeStaticData?.[SEEN_STATE_KEY] as StoredSeenState | undefined;
}

export const GET_MANY: IDataObject = { authentication: 'mailServerOAuth2Api', operation: 'getAll', returnAll: true, format: 'simple', options: {} };

export interface SessionEnd {
	/** `quit`: the client sent QUIT (Dovecot: "Logged out"); `closed`: it dropped the connection without QUIT. */
	how: 'quit' | 'closed';
	retrieved: number;
	deleted: number;
}

/**
 * How the user's POP3 sessions ended, oldest first, from Dovecot's own log (its pop3_logout_format line). Waits until
 * at least `count` sessions have ended: Dovecot writes the line after the client is gone.
 */
export async function popSessionEnds(user: string, count: number, timeoutMs = 5000): Promise<SessionEnd[]> {
	const pattern = new RegExp(`pop3\\(${user.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\).*Disconnected: (Logged out|.*?) top=\\d+/\\d+, retr=(\\d+)/\\d+, del=(\\d+)/`);
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const ends = fs
			.readFileSync(stack.info.files.dovecotLog, 'utf8')
			.split('\n')
			.map((line) => pattern.exec(line))
			.filter((match): match is RegExpExecArray => match !== null)
			.map((match): SessionEnd => ({
				how: match[1] === 'Logged out' ? 'quit' : 'closed',
				retrieved: Number(match[2]),
				deleted: Number(match[3]),
			}));
		if (ends.length >= count || Date.now() > deadline) return ends;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** Everything an error exposes (message, description, own properties, causes), to look for leaked secrets. */
export function everythingIn(error: unknown, depth = 0): string {
	if (depth > 4 || error === undefined || error === null) return '';
	if (!(error instanceof Error)) return JSON.stringify(error) ?? String(error);
	const own: Record<string, unknown> = {};
	for (const key of Object.getOwnPropertyNames(error)) {
		if (key === 'node') continue;
		own[key] = (error as unknown as Record<string, unknown>)[key];
	}
	let serialized = '';
	try {
		serialized = JSON.stringify(own, (key, value: unknown) => (key === 'cause' ? undefined : value));
	} catch {
		serialized = '';
	}
	return [error.message, error.stack ?? '', serialized, everythingIn(error.cause, depth + 1)].join('\n');
}

export async function expectRejection(promise: Promise<unknown>): Promise<Error & { description?: string }> {
	try {
		await promise;
	} catch (error) {
		return error as Error & { description?: string };
	}
	throw new Error('expected the run to fail, but it succeeded');
}
