/**
 * Mail into the `npm start` sandbox, from another terminal while `npm start` runs:
 *
 *   npm run sandbox:send -- [--to demo@example.test] [--from you@example.test] [--subject hi] [--text ...] [--no-wait]
 *       delivers a message over the sandbox's SMTP (as mail from the internet arrives), then waits up to 60 s for the
 *       sample workflow's auto-reply in the sender's mailbox and prints it
 *   npm run sandbox:send -- --inbox <address>
 *       lists a sandbox mailbox (every address @example.test exists)
 */
import { simpleParser } from 'mailparser';

import { optionValue as option } from '../test/e2e/harness/args';
import { Stack } from '../test/stack';
import { demoMailbox, demoSender, readDemoStackInfo } from './demo';

function header(raw: string, name: string): string {
	const headerBlock = raw.slice(0, Math.max(0, raw.search(/\r?\n\r?\n/))).replace(/\r?\n[ \t]+/g, ' ');
	return new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(headerBlock)?.[1].trim() ?? '';
}

/** The plain-text body, decoded (quoted-printable, base64, charsets) as a mail client shows it. */
async function bodyText(raw: string): Promise<string> {
	const parsed = await simpleParser(raw);
	return (parsed.text ?? '').trim();
}

async function listInbox(stack: Stack, address: string): Promise<void> {
	const state = await stack.mailboxState(address, 'INBOX', { includeRaw: true });
	process.stdout.write(`${address} INBOX: ${state.messages.length} message(s)\n`);
	for (const message of state.messages) {
		const raw = message.raw ?? '';
		const seen = message.flags.includes('\\Seen') ? 'read  ' : 'unread';
		process.stdout.write(`  #${message.uid} ${seen} ${header(raw, 'date')}  from ${header(raw, 'from')}  "${header(raw, 'subject')}"\n`);
	}
}

async function main(args: string[]): Promise<void> {
	const stack = new Stack(readDemoStackInfo());
	const inbox = option(args, '--inbox');
	if (inbox) return listInbox(stack, inbox);

	const to = option(args, '--to') ?? demoMailbox;
	const from = option(args, '--from') ?? demoSender;
	const subject = option(args, '--subject') ?? 'Hello from the sandbox';
	const text = option(args, '--text') ?? `A test message sent at ${new Date().toISOString()}.`;
	const sentAt = Date.now();
	const delivery = await stack.deliver({ from, to, subject, text });
	process.stdout.write(`delivered to ${delivery.recipients.join(', ')} (Message-ID ${delivery.messageId ?? '?'})\n`);
	// Only the demo account runs the auto-reply workflow; mail to other sandbox addresses just lands there.
	if (args.includes('--no-wait') || !delivery.messageId || !delivery.recipients.includes(demoMailbox)) return;

	process.stdout.write(`waiting for the auto-reply in ${from}'s mailbox ...\n`);
	const deadline = sentAt + 60_000;
	while (Date.now() < deadline) {
		const state = await stack.mailboxState(from, 'INBOX', { includeRaw: true });
		const reply = state.messages.map((message) => message.raw ?? '').find((raw) => header(raw, 'in-reply-to') === delivery.messageId);
		if (reply) {
			process.stdout.write(
				`auto-reply after ${((Date.now() - sentAt) / 1000).toFixed(1)} s:\n` +
					`  From: ${header(reply, 'from')}\n  To: ${header(reply, 'to')}\n  Subject: ${header(reply, 'subject')}\n` +
					`  In-Reply-To: ${header(reply, 'in-reply-to')}\n\n${(await bodyText(reply))
						.split(/\r?\n/)
						.map((line) => `  ${line}`)
						.join('\n')}\n`,
			);
			return;
		}
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
	process.stdout.write(
		`no auto-reply within 60 s. Is the sample workflow active? Its executions are listed in the n8n editor.\n`,
	);
	process.exitCode = 1;
}

main(process.argv.slice(2)).catch((error: unknown) => {
	process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
	process.exitCode = 1;
});
