/**
 * The least of an n8n node context the token source needs (getCredentials, getNode, logger, helpers), around a
 * credential stored by the shared harness (../harness/credentials.ts, which performs n8n's refresh: real POST to the
 * stored token URL, answer merged, `n8n_expires_at` written as a string of epoch ms, invalid_grant → "needs to be
 * reconnected"). Plus an imapflow login that reports a refused token the way the package's IMAP session does, and the
 * trigger's own session opener for checks of what a credential's connection settings do.
 */
import * as net from 'node:net';
import { ImapFlow } from 'imapflow';
import type { ICredentialDataDecryptedObject, INode, Logger } from 'n8n-workflow';

import type { TokenSource, TokenSourceContext } from '../../../nodes/mail/auth/tokens';
import type { MailEndpoint } from '../../../nodes/mail/connection';
import type { ImapSession } from '../../../nodes/mail/imap/session';
import { DEFAULT_SESSION_TIMING, openImapSession, toLoginError } from '../../../nodes/mail/imap/session';
import type { StoredCredential } from '../harness/credentials';
import type { Stack } from '../../stack';

export interface LogEntry {
	level: keyof Logger;
	message: string;
	meta?: unknown;
}

export interface NodeContextStandIn extends TokenSourceContext {
	readonly node: INode;
	readonly logs: LogEntry[];
	/** Calls of helpers.refreshOAuth2Token (0 when the helper is missing). */
	helperCalls(): number;
}

/**
 * `refreshHelper: false` is an n8n version without `helpers.refreshOAuth2Token` (the token source then refreshes
 * directly and cannot save the result).
 */
export function nodeContext(credential: StoredCredential, options: { refreshHelper: boolean }): NodeContextStandIn {
	const node: INode = {
		id: 'auth-test-node',
		name: 'Mail Auth Test',
		type: 'n8n-nodes-gmail-xoauth2.gmailSmtp',
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
		credentials: { [credential.type]: { id: 'cred-auth-1', name: credential.name } },
	};
	const logs: LogEntry[] = [];
	const log =
		(level: keyof Logger) =>
		(message: string, meta?: unknown): void => {
			logs.push({ level, message, meta });
		};
	let calls = 0;

	async function getCredentials<T extends object = ICredentialDataDecryptedObject>(type: string): Promise<T> {
		if (type !== credential.type) throw new Error(`Node does not have credentials of type "${type}"`);
		// n8n reads the database on every call: whatever the last refresh saved.
		return credential.read() as T;
	}

	// n8n's helper starts with `this.getCredentials(type)`: called unbound it fails exactly like this in n8n 2.41.1.
	async function refreshOAuth2Token(this: unknown, credentialsType: string): Promise<unknown> {
		const self = this as Partial<TokenSourceContext> | undefined;
		if (typeof self?.getCredentials !== 'function') throw new TypeError('this.getCredentials is not a function');
		await self.getCredentials(credentialsType);
		calls++;
		return await credential.refresh(node);
	}

	return {
		node,
		logs,
		helperCalls: () => calls,
		getCredentials,
		getNode: () => node,
		logger: { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug') },
		helpers: options.refreshHelper ? { refreshOAuth2Token } : {},
	};
}

/**
 * Logs in over implicit TLS (verifying the stack's CA). A refused token becomes the package's TokenRejectedError
 * (via the IMAP session's own mapping), which is what withTokenRetry reacts to. Every token tried is recorded.
 */
export async function imapLogin(stack: Stack, user: string, accessToken: string, tried: string[]): Promise<ImapFlow> {
	tried.push(accessToken);
	const client = new ImapFlow({
		host: stack.host,
		port: stack.ports.imaps,
		secure: true,
		tls: stack.tlsOptions(),
		auth: { user, accessToken },
		logger: false,
	});
	// imapflow emits 'error' on socket trouble; without a listener the test process would die instead of failing.
	client.on('error', () => undefined);
	try {
		await client.connect();
	} catch (error) {
		client.close();
		throw toLoginError(error);
	}
	return client;
}

/**
 * Opens an IMAP session exactly as the trigger does (openImapSession: the token source's token through
 * withTokenRetry, the endpoint's own TLS settings, no CA added), so a test sees what a credential's connection
 * settings do against the real server. Records every token handed to a connection and every client created.
 */
export async function openTriggerSession(
	tokens: TokenSource,
	endpoint: MailEndpoint,
	context: NodeContextStandIn,
	record: { tried: string[]; clients?: ImapFlow[] },
): Promise<ImapSession> {
	return await openImapSession({
		endpoint,
		tokens,
		createClient: (options) => {
			if (options.auth?.accessToken) record.tried.push(options.auth.accessToken);
			const client = new ImapFlow(options);
			record.clients?.push(client);
			return client;
		},
		logger: context.logger,
		timing: DEFAULT_SESSION_TIMING,
		track: () => undefined,
		label: 'auth-test',
	});
}

/** A loopback port nothing listens on (bound, then released): connecting to it is refused. */
export async function closedPort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const address = server.address();
	await new Promise<void>((resolve) => server.close(() => resolve()));
	if (!address || typeof address !== 'object') throw new Error('could not reserve a port');
	return address.port;
}
