/**
 * CPU per trigger activation, without n8n (not a test: it prints numbers, asserts nothing).
 *
 *   node --expose-gc --import tsx test/bench/activationCpu.bench.ts [--triggers 40] [--rounds 4]
 *
 * Issue 14's scale goal counts n8n's activation of 200 workflows. This script isolates what a trigger itself costs the
 * process that activates it: in each round, N triggers of this package are activated one after the other (the n8n-like
 * harness, whose own context and static-data copies count too: token, connect, login, STATUS; the first pass's SELECT,
 * SEARCH and IDLE follow in the background), then N sessions are opened the way n8n's Email Trigger (IMAP) v2.2 opens
 * them at a first activation, with n8n's own library (@n8n/imap and its imapflow from the e2e n8n install:
 * `ImapSimple.connect` with the mailbox, i.e. connect, login, SELECT, then IDLE; no search, which it makes only when it
 * has a last UID saved). Both verify the server's certificate against the stack's CA. CPU time of this process (user +
 * system) from the first activation until 1 s after the last, per activation; the wall time of the activations beside
 * it. The sessions of a round are closed, and their logouts given time to finish, before the next round starts.
 * Mailboxes hold one message each.
 */
import { createRequire } from 'node:module';

import { ensureN8nInstalled } from '../e2e/harness';
import { CredentialStore, TriggerHarness } from '../integration/imap/triggerHarness';
import { startStack } from '../stack';
import { option, sleep } from './benchKit';


interface BuiltinSession {
	end(): void;
}
interface BuiltinLibrary {
	ImapSimple: {
		connect(options: Record<string, unknown>, reconnect: { mailbox: string }, createTransport: () => unknown): Promise<BuiltinSession>;
	};
	toImapFlowOptions(options: Record<string, unknown>): Record<string, unknown>;
}
type ImapFlowClass = new (options: Record<string, unknown>) => unknown;

function cpuMs(): number {
	const usage = process.cpuUsage();
	return (usage.user + usage.system) / 1000;
}

async function main(): Promise<void> {
	const count = option('--triggers', 40);
	const rounds = option('--rounds', 4);
	const installation = await ensureN8nInstalled((line) => console.log(`  n8n: ${line}`));
	const fromN8n = createRequire(`${installation.dir}/package.json`);
	const builtinPath = fromN8n.resolve('@n8n/imap');
	const builtin = fromN8n(builtinPath) as BuiltinLibrary;
	// The imapflow version n8n's library runs on (not this package's).
	const { ImapFlow: BuiltinImapFlow } = createRequire(builtinPath)('imapflow') as { ImapFlow: ImapFlowClass };
	const stack = await startStack();
	try {
		console.log(`CPU per activation, ${count} triggers, ${rounds} rounds, Node ${process.version}, ${new Date().toISOString()}`);
		const users = Array.from({ length: count }, (_, index) => stack.newMailbox(`activation${index}`));
		for (const user of users) await stack.deliver({ to: user, subject: 'one', text: 'one message' }, { via: 'lmtp' });
		const tokens = await Promise.all(users.map((user) => stack.issueTokens(user)));
		for (let round = 0; round < rounds; round++) {
			if (global.gc) global.gc();
			let cpuStart = cpuMs();
			let started = performance.now();
			const triggers: TriggerHarness[] = [];
			for (let index = 0; index < count; index++) {
				const node = new TriggerHarness({
					stack,
					credentials: new CredentialStore(stack, users[index], tokens[index]),
					parameters: { mailbox: 'INBOX', postProcessAction: 'nothing', format: 'simple', downloadAttachments: true, options: {} },
				});
				await node.activate();
				triggers.push(node);
			}
			const oursWall = (performance.now() - started) / count;
			await sleep(1000);
			const oursCpu = (cpuMs() - cpuStart) / count;
			for (const node of triggers) await node.deactivate();
			await sleep(3000);

			if (global.gc) global.gc();
			cpuStart = cpuMs();
			started = performance.now();
			const sessions: BuiltinSession[] = [];
			for (const user of users) {
				const options = { host: stack.host, port: stack.ports.imaps, secure: true, user, password: stack.info.plainPassword };
				// n8n trusts the CA through NODE_EXTRA_CA_CERTS; here it is handed to the transport, as this trigger is given it.
				const transport = () => new BuiltinImapFlow({ ...builtin.toImapFlowOptions(options), tls: stack.tlsOptions() });
				sessions.push(await builtin.ImapSimple.connect(options, { mailbox: 'INBOX' }, transport));
			}
			const builtinWall = (performance.now() - started) / count;
			await sleep(1000);
			const builtinCpu = (cpuMs() - cpuStart) / count;
			for (const session of sessions) session.end();
			// end() starts each LOGOUT without waiting for it: let them finish outside the next round's windows.
			await sleep(3000);
			console.log(
				`  round ${round + 1}: this trigger (in the harness) ${oursCpu.toFixed(1)} ms CPU per activation (${oursWall.toFixed(1)} ms wall), ` +
					`@n8n/imap as the built-in at a first activation ${builtinCpu.toFixed(1)} ms (${builtinWall.toFixed(1)} ms wall) = ${(oursCpu / builtinCpu).toFixed(2)}×`,
			);
		}
	} finally {
		await stack.stop();
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
