/**
 * SMTP throughput benchmark (not a test): the Gmail SMTP node against raw pooled nodemailer, same stack, same run.
 *
 *   npx tsx test/bench/smtp-throughput.ts [--items 200] [--rounds 3]
 *
 * Starts a private mail stack, then per round sends `items` messages
 *   - through the real node (execute() with an n8n-like context: one connection, items sent one after another),
 *   - through raw pooled nodemailer with its defaults (5 connections, all messages queued at once),
 *   - through raw pooled nodemailer on one connection (all queued at once),
 * each over 465-style implicit TLS with XOAUTH2, and prints messages per second (accepted by Postfix) and the ratios
 * (medians over the rounds; the order of the three rotates between rounds). Every message is then checked to have
 * arrived in its mailbox. Absolute numbers depend on the machine; the ratio is the figure to compare.
 */
import nodemailer from 'nodemailer';
import type { INodeExecutionData, INodeType } from 'n8n-workflow';

import { startStack, type RunningStack } from '../stack';
import { StoredCredential } from '../integration/harness/credentials';
import { ExecuteHarness, expression } from '../integration/harness/executeHarness';
import { median } from './benchKit';

// tsx resolves a bare "GmailSmtp.node" to the codex file GmailSmtp.node.json; name the source file explicitly.
const { GmailSmtp } = require('../../nodes/GmailSmtp/GmailSmtp.node.ts') as typeof import('../../nodes/GmailSmtp/GmailSmtp.node');

type Contender = 'node' | 'raw pool (5 connections)' | 'raw pool (1 connection)';
const CONTENDERS: Contender[] = ['node', 'raw pool (5 connections)', 'raw pool (1 connection)'];

function argument(name: string, fallback: number): number {
	const index = process.argv.indexOf(name);
	const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
	if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number`);
	return value;
}

function say(line: string): void {
	process.stdout.write(`${line}\n`);
}

function message(from: string, to: string, index: number) {
	return { from, to, subject: `Bench ${index}`, text: `Benchmark message ${index}\n${'lorem ipsum '.repeat(20)}` };
}

async function runNode(stack: RunningStack, user: string, recipient: string, items: number): Promise<number> {
	const tokens = await stack.issueTokens(user);
	const credential = StoredCredential.mailServer(stack, user, tokens, {
		smtpHost: stack.host,
		smtpPort: stack.ports.smtps,
		smtpSecurity: 'tls',
		allowUnauthorizedCerts: true,
	});
	const harness = new ExecuteHarness({
		nodeType: new GmailSmtp() as INodeType,
		typeName: 'n8n-nodes-gmail-xoauth2.gmailSmtp',
		credential,
		parameters: {
			authentication: 'mailServerOAuth2Api',
			toEmail: recipient,
			subject: expression((_item, index) => message(user, recipient, index).subject),
			emailFormat: 'text',
			text: expression((_item, index) => message(user, recipient, index).text),
			options: { appendAttribution: false },
		},
		items: Array.from({ length: items }, (_, n): INodeExecutionData => ({ json: { n } })),
	});
	const started = process.hrtime.bigint();
	const [output] = await harness.run();
	const seconds = Number(process.hrtime.bigint() - started) / 1e9;
	const failed = output.filter((item) => item.json.error !== undefined);
	if (output.length !== items || failed.length) throw new Error(`node: ${failed.length} of ${output.length} items failed: ${String(failed[0]?.json.error)}`);
	return items / seconds;
}

async function runRaw(stack: RunningStack, user: string, recipient: string, items: number, maxConnections: number): Promise<number> {
	const accessToken = await stack.accessToken(user);
	const transport = nodemailer.createTransport({
		pool: true,
		maxConnections,
		host: stack.host,
		port: stack.ports.smtps,
		secure: true,
		tls: stack.tlsOptions(),
		auth: { type: 'OAuth2', user, accessToken },
		disableFileAccess: true,
		disableUrlAccess: true,
	});
	try {
		const started = process.hrtime.bigint();
		const results = await Promise.all(Array.from({ length: items }, (_, index) => transport.sendMail(message(user, recipient, index))));
		const seconds = Number(process.hrtime.bigint() - started) / 1e9;
		if (results.some((info) => info.accepted.length !== 1)) throw new Error('raw nodemailer: a message was not accepted');
		return items / seconds;
	} finally {
		transport.close();
	}
}

async function main(): Promise<void> {
	const items = argument('--items', 200);
	const rounds = argument('--rounds', 3);
	const stack = await startStack({ log: (line) => process.stderr.write(`[mail-stack] ${line}\n`) });
	try {
		const user = stack.newMailbox('bench');
		// Warm-up (TLS, JIT, Postfix and Dovecot processes), not measured.
		const warmup = stack.newMailbox('warmup');
		await runNode(stack, user, warmup, 10);
		await runRaw(stack, user, warmup, 10, 5);

		const rates = new Map<Contender, number[]>(CONTENDERS.map((name) => [name, []]));
		const recipients: Array<[string, number]> = [];
		for (let round = 0; round < rounds; round++) {
			const order = CONTENDERS.map((_, index) => CONTENDERS[(index + round) % CONTENDERS.length]);
			for (const contender of order) {
				const recipient = stack.newMailbox('bench-rcpt');
				recipients.push([recipient, items]);
				const rate =
					contender === 'node'
						? await runNode(stack, user, recipient, items)
						: await runRaw(stack, user, recipient, items, contender === 'raw pool (1 connection)' ? 1 : 5);
				rates.get(contender)?.push(rate);
				say(`round ${round + 1}  ${contender.padEnd(26)} ${rate.toFixed(1)} msg/s`);
			}
		}

		// Nothing lost: every message of every run is in its mailbox.
		for (const [recipient, count] of recipients) await stack.waitForMessages(recipient, count, { timeoutMs: 120_000 });
		say(`all ${recipients.length * items} messages delivered`);

		const node = median(rates.get('node') ?? []);
		const pool5 = median(rates.get('raw pool (5 connections)') ?? []);
		const pool1 = median(rates.get('raw pool (1 connection)') ?? []);
		say('');
		say(`${items} items, ${rounds} round(s), medians, 465-style implicit TLS + XOAUTH2, ${stack.host}`);
		say(`Gmail SMTP node (1 connection):       ${node.toFixed(1)} msg/s`);
		say(`raw pooled nodemailer (5 connections): ${pool5.toFixed(1)} msg/s   ratio node/raw = ${(node / pool5).toFixed(2)}`);
		say(`raw pooled nodemailer (1 connection):  ${pool1.toFixed(1)} msg/s   ratio node/raw = ${(node / pool1).toFixed(2)}`);
	} finally {
		await stack.stop();
	}
}

main().catch((error: unknown) => {
	process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	process.exit(1);
});
