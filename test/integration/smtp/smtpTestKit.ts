/**
 * Shared pieces of the Gmail SMTP integration tests: a credential for the stack's Postfix, a run of the real node
 * through the execute harness, what Postfix logged (its own count of connections), and the delivered messages
 * read back from Dovecot and parsed.
 */
import * as fs from 'node:fs';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { ICredentialDataDecryptedObject, INodeExecutionData } from 'n8n-workflow';

import { GmailSmtp } from '../../../nodes/GmailSmtp/GmailSmtp.node';
import { NODE_TYPE } from '../../../nodes/GmailSmtp/execute';
import type { Stack } from '../../stack';
import { StoredCredential, type IssuedTokens } from '../harness/credentials';
import { ExecuteHarness, type ExecuteHarnessOptions } from '../harness/executeHarness';

export type SmtpPort = 'smtps' | 'submission';

export const PORT_LABELS: Record<SmtpPort, string> = {
	smtps: '465-style implicit TLS',
	submission: '587-style STARTTLS',
};

/** Stored credential fields that point the generic credential's SMTP settings at a stack port (or a proxy in front). */
export function smtpFields(stack: Stack, port: SmtpPort, options: { viaPort?: number; allowUnauthorizedCerts?: boolean } = {}): ICredentialDataDecryptedObject {
	return {
		smtpHost: stack.host,
		smtpPort: options.viaPort ?? stack.ports[port],
		smtpSecurity: port === 'smtps' ? 'tls' : 'starttls',
		// The stack's certificate is self-signed and n8n offers no way to hand a node a CA: the credential's switch is
		// the user's way too. The test "self-signed certificate refused" covers the default.
		allowUnauthorizedCerts: options.allowUnauthorizedCerts ?? true,
	};
}

export async function senderCredential(
	stack: Stack,
	user: string,
	port: SmtpPort,
	options: { tokens?: IssuedTokens; viaPort?: number; allowUnauthorizedCerts?: boolean; expiresAt?: number } = {},
): Promise<StoredCredential> {
	const tokens = options.tokens ?? (await stack.issueTokens(user));
	return StoredCredential.mailServer(stack, user, tokens, smtpFields(stack, port, options), { expiresAt: options.expiresAt });
}

export interface NodeRun {
	harness: ExecuteHarness;
	output?: INodeExecutionData[];
	error?: Error;
}

/** Runs the Gmail SMTP node once; `error` is set when execute() threw. */
export async function runSmtpNode(options: Omit<ExecuteHarnessOptions, 'nodeType' | 'typeName'>): Promise<NodeRun> {
	const harness = new ExecuteHarness({ ...options, nodeType: new GmailSmtp(), typeName: NODE_TYPE });
	try {
		const [output] = await harness.run();
		return { harness, output };
	} catch (error) {
		return { harness, error: error as Error };
	}
}

/** Reads Postfix's log from a byte offset: what the server saw, independent of the client's own counters. */
export class PostfixLog {
	private readonly start: number;

	constructor(private readonly stack: Stack) {
		this.start = this.size();
	}

	private size(): number {
		const file = this.stack.info.files.postfixLog;
		return fs.existsSync(file) ? fs.statSync(file).size : 0;
	}

	/** Lines written since this object was made. */
	lines(): string[] {
		const file = this.stack.info.files.postfixLog;
		const handle = fs.openSync(file, 'r');
		try {
			const length = this.size() - this.start;
			const buffer = Buffer.alloc(Math.max(0, length));
			fs.readSync(handle, buffer, 0, buffer.length, this.start);
			return buffer.toString('utf8').split('\n').filter((line) => line !== '');
		} finally {
			fs.closeSync(handle);
		}
	}

	/** SMTP connections the listener accepted (Postfix logs "connect from" once per connection). */
	connects(port: SmtpPort): number {
		const pattern = new RegExp(`postfix/${port}/smtpd\\[\\d+\\]: connect from `);
		return this.lines().filter((line) => pattern.test(line)).length;
	}

	/**
	 * Waits until Postfix has logged `count` disconnects for the listener (its log is written asynchronously), then
	 * returns the number of connections; fails if more connections than expected show up.
	 */
	async settledConnects(port: SmtpPort, expected: number, timeoutMs = 10_000): Promise<number> {
		const disconnect = new RegExp(`postfix/${port}/smtpd\\[\\d+\\]: disconnect from `);
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			const done = this.lines().filter((line) => disconnect.test(line)).length;
			if (done >= expected) break;
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
		return this.connects(port);
	}
}

/** The user's INBOX once it holds `count` messages, each parsed. */
export async function delivered(stack: Stack, user: string, count: number, timeoutMs = 20_000): Promise<Array<{ raw: string; mail: ParsedMail }>> {
	const state = await stack.waitForMessages(user, count, { includeRaw: true, timeoutMs });
	return await Promise.all(
		state.messages.map(async (message) => ({ raw: message.raw ?? '', mail: await simpleParser(message.raw ?? '') })),
	);
}

/** The header section of a raw message, unfolded. */
export function headerSection(raw: string): string {
	const end = raw.search(/\r?\n\r?\n/);
	return (end >= 0 ? raw.slice(0, end) : raw).replace(/\r?\n[ \t]+/g, ' ');
}

/** Messages in a mailbox right now (0 when it was never created). */
export async function messageCount(stack: Stack, user: string): Promise<number> {
	return (await stack.mailboxState(user)).messages.length;
}
