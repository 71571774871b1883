/**
 * Runs the Gmail IMAP node's real execute() against the real stack (Dovecot over implicit TLS, verified with the
 * stack's CA given through the credential's CA field, as a user with a company CA would), through the shared
 * ExecuteHarness plus n8n's in-memory prepareBinaryData, which that harness does not offer.
 */
import * as fs from 'node:fs';

import type { IBinaryData, ICredentialDataDecryptedObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { GmailImap } from '../../../../nodes/GmailImap/GmailImap.node';
import { NODE_TYPE } from '../../../../nodes/GmailImap/router';
import { getStack, type Stack } from '../../../stack';
import { StoredCredential } from '../../harness/credentials';
import { binaryFromBuffer, ExecuteHarness, type LogEntry } from '../../harness/executeHarness';

export const stack: Stack = getStack();

export interface Account {
	user: string;
	credential: StoredCredential;
}

export async function newAccount(prefix = 'imapnode', fields: ICredentialDataDecryptedObject = {}): Promise<Account> {
	const user = stack.newMailbox(prefix);
	const tokens = await stack.issueTokens(user, { lifetimeSeconds: 3600 });
	const credential = StoredCredential.mailServer(stack, user, tokens, {
		imapHost: stack.host,
		imapPort: stack.ports.imaps,
		imapSecurity: 'tls',
		caCertificate: stack.caCertPem,
		...fields,
	});
	return { user, credential };
}

export interface RunOptions {
	items?: INodeExecutionData[];
	continueOnFail?: boolean;
}

export interface RunResult {
	items: INodeExecutionData[];
	logs: LogEntry[];
}

/** One execution of the node with these parameters (authentication: the generic credential). */
export async function runNode(account: Account, parameters: Record<string, unknown>, options: RunOptions = {}): Promise<RunResult> {
	const harness = new ExecuteHarness({
		nodeType: new GmailImap(),
		typeName: NODE_TYPE,
		credential: account.credential,
		parameters: { authentication: 'mailServerOAuth2Api', ...parameters },
		items: options.items ?? [{ json: {} }],
		continueOnFail: options.continueOnFail,
	});
	const context = harness['context']() as IExecuteFunctions;
	(context.helpers as unknown as Record<string, unknown>).prepareBinaryData = async (content: Buffer, fileName?: string, mimeType?: string): Promise<IBinaryData> =>
		binaryFromBuffer(content, fileName ?? 'file', mimeType ?? 'application/octet-stream');
	const output = (await new GmailImap().execute.call(context)) as INodeExecutionData[][];
	return { items: output[0], logs: harness.logs };
}

/** The node's error for a run that is expected to fail. */
export async function runError(account: Account, parameters: Record<string, unknown>, options: RunOptions = {}): Promise<Error & { description?: string }> {
	try {
		await runNode(account, parameters, options);
	} catch (error) {
		return error as Error & { description?: string };
	}
	throw new Error('the node did not fail');
}

/** Plain numbered messages, delivered in order through Postfix. */
export async function deliverNumbered(user: string, count: number, extra: { from?: string } = {}): Promise<void> {
	for (let number = 1; number <= count; number++) {
		await stack.deliver({ from: extra.from ?? 'sender@example.test', to: user, subject: `message ${number}`, text: `body of message ${number}`, messageId: `<m${number}.${user}>` });
	}
}

/** Dovecot's IMAP logins of this user so far (one per session the node opened). */
export function imapLogins(user: string): number {
	return fs
		.readFileSync(stack.info.files.dovecotLog, 'utf8')
		.split('\n')
		.filter((line) => /imap-login: (Info: )?Login:/.test(line) && line.includes(`user=<${user}>`)).length;
}

/** Waits until Dovecot's log shows `count` logins of the user (its log process writes a moment later). */
export async function waitForLogins(user: string, count: number, waitMs = 3000): Promise<number> {
	const deadline = Date.now() + waitMs;
	let logins = imapLogins(user);
	while (logins < count && Date.now() < deadline) {
		await new Promise((resolve) => setTimeout(resolve, 50));
		logins = imapLogins(user);
	}
	return logins;
}
