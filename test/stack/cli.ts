/**
 * The mail stack from the shell: `npx tsx test/stack/cli.ts <command> [options]`.
 *
 *   install                 install the Debian packages and the vmail user when missing (idempotent, fast when present)
 *   start [options]         start a stack, print endpoints and credentials as JSON on stdout, stay up until Ctrl-C
 *       --dir <path>        runtime directory to (re)use: same key, client secret, refresh tokens and mail (env GX_STACK_DIR)
 *       --port-base <n>     fixed ports n..n+8 in the order imap imaps pop3 pop3s lmtp smtp submission smtps oauth
 *                           (env GX_STACK_PORT_BASE); default: random free ports
 *       --user <address>    account the /authorize endpoint approves when the request has no login_hint
 *       --json-file <path>  also write the JSON there (for scripts that start the stack in the background)
 *   stop --dir <path>       stop a stack started by `start` in that directory (by the PIDs it recorded)
 *   token <address> --dir <path> [--lifetime <s>]   print fresh tokens for an address from a running stack
 *   check                   start a stack, log in over IMAP, POP3 and SMTP with a token, deliver a message, stop
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildXOAuth2InitialResponse } from '../../nodes/mail/auth/xoauth2';
import { LineClient } from './lineClient';
import { ensureMailUser, ensurePackages, StackSetupError } from './packages';
import { stopProcessTree } from './processes';
import { Stack, type StackInfo } from './stack';
import { startStack } from './start';

function say(line: string): void {
	process.stderr.write(`[mail-stack] ${line}\n`);
}

function option(args: string[], name: string, environment?: string): string | undefined {
	const index = args.indexOf(name);
	if (index >= 0) {
		const value = args[index + 1];
		if (value === undefined || value.startsWith('--')) throw new StackSetupError(`${name} needs a value`);
		return value;
	}
	return environment ? process.env[environment] || undefined : undefined;
}

function integerOption(args: string[], name: string, environment?: string): number | undefined {
	const value = option(args, name, environment);
	if (value === undefined) return undefined;
	const number = Number(value);
	if (!Number.isInteger(number) || number <= 0 || number > 65535) throw new StackSetupError(`${name} must be a port-like positive integer`);
	return number;
}

function readInfo(dir: string): StackInfo {
	const file = path.join(path.resolve(dir), 'stack.json');
	if (!fs.existsSync(file)) throw new StackSetupError(`No stack info in ${dir} (expected ${file}); start one with: tsx test/stack/cli.ts start --dir ${dir}`);
	return JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo;
}

/** What a person or a script needs to point a client at the stack (no admin key: that stays with the test helpers). */
function publicSummary(info: StackInfo): Record<string, unknown> {
	return {
		dir: info.dir,
		host: info.host,
		servername: info.servername,
		domain: info.domain,
		ports: info.ports,
		caCertFile: path.join(info.dir, 'tls', 'cert.pem'),
		oauth: info.oauth,
		plainPassword: info.plainPassword,
		logs: { dovecot: info.files.dovecotLog, postfix: info.files.postfixLog, oauth: info.files.oauthLog },
		pids: info.pids,
	};
}

async function install(): Promise<void> {
	const started = Date.now();
	const installed = ensurePackages(say);
	ensureMailUser();
	const seconds = ((Date.now() - started) / 1000).toFixed(1);
	say(installed.length > 0 ? `installed ${installed.join(' ')} in ${seconds}s` : `packages already present (${seconds}s)`);
}

async function start(args: string[]): Promise<void> {
	const stack = await startStack({
		dir: option(args, '--dir', 'GX_STACK_DIR'),
		portBase: integerOption(args, '--port-base', 'GX_STACK_PORT_BASE'),
		defaultUser: option(args, '--user'),
		log: say,
	});
	const summary = `${JSON.stringify(publicSummary(stack.info), null, 2)}\n`;
	process.stdout.write(summary);
	const jsonFile = option(args, '--json-file');
	if (jsonFile) fs.writeFileSync(jsonFile, summary, { mode: 0o600 });
	say('running; Ctrl-C stops it');
	await new Promise<void>((resolve) => {
		const shutdown = (): void => {
			process.off('SIGINT', shutdown);
			process.off('SIGTERM', shutdown);
			resolve();
		};
		process.on('SIGINT', shutdown);
		process.on('SIGTERM', shutdown);
	});
	await stack.stop();
}

async function stop(args: string[]): Promise<void> {
	const dir = option(args, '--dir', 'GX_STACK_DIR');
	if (!dir) throw new StackSetupError('stop needs --dir <runtime dir of the stack>');
	const pidsFile = path.join(path.resolve(dir), 'pids.json');
	if (!fs.existsSync(pidsFile)) {
		say(`no running stack recorded in ${dir}`);
		return;
	}
	const pids = JSON.parse(fs.readFileSync(pidsFile, 'utf8')) as Record<string, number>;
	for (const [name, pid] of Object.entries(pids)) {
		// Only a process that still runs with this stack's files: a PID from a stale file may name something else now.
		let commandLine = '';
		try {
			commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
		} catch {
			continue;
		}
		if (commandLine.includes(path.resolve(dir))) await stopProcessTree(name, pid);
	}
	fs.rmSync(pidsFile, { force: true });
	say(`stopped ${Object.keys(pids).join(', ')}`);
}

async function token(args: string[]): Promise<void> {
	const user = args[0];
	const dir = option(args, '--dir', 'GX_STACK_DIR');
	if (!user || user.startsWith('--') || !dir) throw new StackSetupError('usage: token <address> --dir <runtime dir> [--lifetime <seconds>]');
	const lifetime = option(args, '--lifetime');
	const stack = new Stack(readInfo(dir));
	process.stdout.write(`${JSON.stringify(await stack.issueTokens(user, { lifetimeSeconds: lifetime ? Number(lifetime) : undefined }), null, 2)}\n`);
}

/** A smoke test of a machine: every protocol accepts a token, and a delivered message arrives. */
async function check(): Promise<void> {
	const stack = await startStack({ log: say });
	try {
		const user = stack.newMailbox('check');
		const accessToken = await stack.accessToken(user);
		const initialResponse = buildXOAuth2InitialResponse(user, accessToken);
		const expectLine = (protocol: string, line: string, pattern: RegExp): void => {
			if (!pattern.test(line)) throw new Error(`${protocol}: unexpected answer ${line}`);
			say(`${protocol}: ${line.slice(0, 60)}`);
		};
		await stack.deliver({ to: user, subject: 'check', text: 'hello' });

		const imap = await LineClient.connect({ host: stack.host, port: stack.ports.imaps, tls: stack.tlsOptions() });
		await imap.readLine();
		imap.send(`A1 AUTHENTICATE XOAUTH2 ${initialResponse}`);
		expectLine('IMAPS', (await imap.readUntil(/^A1 /)).pop() ?? '', /^A1 OK/);
		imap.close();

		const pop = await LineClient.connect({ host: stack.host, port: stack.ports.pop3s, tls: stack.tlsOptions() });
		await pop.readLine();
		expectLine('POP3S', await pop.command(`AUTH XOAUTH2 ${initialResponse}`), /^\+OK/);
		expectLine('POP3S', await pop.command('STAT'), /^\+OK 1 /);
		pop.close();

		await stack.deliver({ from: user, to: user, subject: 'submitted', text: 'x' }, { via: 'smtps' });
		await stack.deliver({ from: user, to: user, subject: 'submitted', text: 'x' }, { via: 'submission' });
		say('SMTPS and submission: XOAUTH2 accepted, delivered');
		const state = await stack.mailboxState(user);
		if (state.messages.length !== 3) throw new Error(`expected 3 messages in INBOX, found ${state.messages.length}`);
		stack.assertHealthy();
		say(`check passed (logs in ${stack.dir}/logs)`);
	} finally {
		await stack.stop();
	}
}

async function main(argv: string[]): Promise<void> {
	const [command, ...args] = argv;
	switch (command) {
		case 'install':
			return install();
		case 'start':
			return start(args);
		case 'stop':
			return stop(args);
		case 'token':
			return token(args);
		case 'check':
			return check();
		default:
			process.stderr.write('usage: tsx test/stack/cli.ts install | start [--dir D] [--port-base N] [--user A] [--json-file F] | stop --dir D | token <address> --dir D [--lifetime S] | check\n');
			process.exitCode = 2;
	}
}

main(process.argv.slice(2)).catch((error: unknown) => {
	if (error instanceof StackSetupError) {
		process.stderr.write(`[mail-stack] ${error.message}\n`);
	} else {
		process.stderr.write(`[mail-stack] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	}
	process.exitCode = 1;
});
