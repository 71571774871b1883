/**
 * `npm start`: the package running in a real n8n against a local mail sandbox, ready to try.
 *
 *  1. the mail sandbox (the project's test stack: Dovecot IMAP/POP3, Postfix SMTP, an OAuth2 token server) on fixed
 *     ports, keeping its mail, keys and tokens in a persistent folder;
 *  2. the pinned n8n (installed once, like the e2e tests) with this package freshly built and installed as a community
 *     package, its user folder under .cache/demo/n8n so workflows, executions and the login survive restarts;
 *  3. on first start (or when the sandbox was reset): a credential of the generic XOAUTH2 type pointing at the sandbox
 *     with real tokens, and the sample workflow (new mail → auto-reply), activated.
 *
 * Then it prints where everything is and waits. Ctrl-C stops n8n and the sandbox and checks that nothing is left.
 * The sandbox's certificate is trusted through NODE_EXTRA_CA_CERTS; nothing turns certificate checks off.
 */
import * as path from 'path';

import { startN8n, type N8nInstance } from '../test/e2e/harness';
import { groupAlive, processAlive } from '../test/e2e/harness/processes';
import { readOrCreateEncryptionKey } from '../test/e2e/harness/state-files';
import { startStack, type RunningStack } from '../test/stack';
import {
	autoReplyWorkflow,
	demoApiKeyFile,
	demoCredentialId,
	demoCredentialName,
	demoEncryptionKeyFile,
	demoMailbox,
	demoN8nFolder,
	demoPorts,
	demoRoot,
	demoSender,
	demoStackDir,
	demoWorkflowId,
	sandboxCredentialData,
} from './demo';

const say = (line: string): void => {
	process.stdout.write(`[start] ${line}\n`);
};

/** Set by the first Ctrl-C; start-up steps already running finish, then everything is stopped. */
let stopRequested = false;
/** True once everything is up and the script only waits; a stop request then needs no start-up step to finish. */
let running = false;
let wakeMainLoop: (() => void) | undefined;

/**
 * The demo credential is (re)imported only when missing or no longer matching the sandbox (other ports, a sandbox
 * folder that was deleted, a refresh token the token server no longer knows). A credential that still works is left
 * alone, so n8n's own token refreshes and any edits the user made survive restarts.
 */
async function ensureCredential(stack: RunningStack, n8n: N8nInstance): Promise<void> {
	let reason = 'first start';
	try {
		const stored = (await n8n.readCredential(demoCredentialId)).data;
		const tokenData = stored.oauthTokenData as Record<string, unknown> | undefined;
		const mismatch = [
			stored.authUrl !== stack.oauth.authorizeUrl && 'authorization URL',
			stored.accessTokenUrl !== stack.oauth.tokenUrl && 'token URL',
			stored.clientSecret !== stack.oauth.clientSecret && 'client secret',
			Number(stored.imapPort) !== stack.ports.imaps && 'IMAP port',
			Number(stored.smtpPort) !== stack.ports.smtps && 'SMTP port',
			Number(stored.popPort) !== stack.ports.pop3s && 'POP3 port',
		].filter(Boolean);
		if (mismatch.length === 0 && typeof tokenData?.refresh_token === 'string') {
			const refresh = await stack.refreshAccessToken(tokenData.refresh_token);
			if (refresh.status === 200) {
				say(`credential "${demoCredentialName}" is current (its refresh token works)`);
				return;
			}
			reason = `its refresh token is refused (${String(refresh.body.error)})`;
		} else {
			reason = mismatch.length > 0 ? `it no longer matches the sandbox (${mismatch.join(', ')})` : 'it has no refresh token';
		}
	} catch {
		// Not there yet: n8n's export finds no credential with that id.
	}
	const tokens = await stack.issueTokens(demoMailbox);
	await n8n.importCredentials([
		{
			id: demoCredentialId,
			name: demoCredentialName,
			type: 'mailServerOAuth2Api',
			data: sandboxCredentialData(stack, demoMailbox, tokens),
		},
	]);
	say(`credential "${demoCredentialName}" imported (${reason})`);
}

/** Imports the sample workflow when missing and makes sure it is active (n8n reactivates it itself on later starts). */
async function ensureWorkflow(n8n: N8nInstance): Promise<void> {
	const existing = await n8n.request('GET', `/api/v1/workflows/${demoWorkflowId}`, { auth: 'apiKey' });
	let active = false;
	if (existing.status === 404) {
		await n8n.importWorkflow(autoReplyWorkflow({ id: demoCredentialId, name: demoCredentialName }, demoMailbox));
		say('sample workflow imported');
	} else if (existing.ok) {
		active = ((await existing.json()) as { active?: boolean }).active === true;
	} else {
		throw new Error(`n8n answered ${existing.status} when asked for the sample workflow: ${await existing.text()}`);
	}
	if (!active) {
		// The public API starts the trigger before it answers: a trigger that cannot log in fails right here.
		await n8n.activateWorkflow(demoWorkflowId);
		say('sample workflow activated');
	}
	// n8n 2.x starts the trigger a few seconds after activation (publication outbox); print "ready" only once n8n's
	// publication record says it runs, so a test message sent right away is answered. (On a later start the record
	// still shows the previous run for a moment; the trigger keeps its position, so such a message is answered too.)
	await n8n.waitForTriggersLive(demoWorkflowId, 120_000);
}

function printSummary(stack: RunningStack, n8n: N8nInstance): void {
	const lines = [
		'',
		'  n8n with n8n-nodes-gmail-xoauth2 is running against a local mail sandbox.',
		'',
		`  Editor          ${n8n.baseUrl}`,
		`  Login           ${n8n.owner.email}  /  ${n8n.owner.password}`,
		`  Sample workflow ${n8n.baseUrl}/workflow/${demoWorkflowId}  (new mail → auto-reply, active)`,
		`  Credential      "${demoCredentialName}" → ${demoMailbox} (Mail Server XOAUTH2 type)`,
		'',
		`  Mail sandbox    IMAPS ${stack.host}:${stack.ports.imaps}  SMTPS ${stack.host}:${stack.ports.smtps}  POP3S ${stack.host}:${stack.ports.pop3s}`,
		`                  OAuth2 ${stack.oauth.url}  (every address @${stack.domain} exists)`,
		`                  CA certificate ${path.join(stack.dir, 'tls', 'cert.pem')}`,
		'',
		'  Send a test message (from another terminal); it waits for the auto-reply and prints it:',
		`      npm run sandbox:send -- --to ${demoMailbox} --subject hi`,
		`  Show a sandbox mailbox:  npm run sandbox:send -- --inbox ${demoSender}`,
		'',
		`  State: ${demoRoot} (delete it to start from scratch)   n8n log: ${n8n.logFile}`,
		'  Ctrl-C stops n8n and the sandbox.',
		'',
	];
	process.stdout.write(`${lines.join('\n')}\n`);
}

/** Resolves when Ctrl-C / SIGTERM arrives, or with a reason when n8n or a sandbox server dies on its own. */
async function waitUntilStopRequestedOrDead(stack: RunningStack, n8n: N8nInstance): Promise<string | undefined> {
	for (;;) {
		if (stopRequested) return undefined;
		const n8nPid = n8n.pid;
		if (n8nPid === undefined || !groupAlive(n8nPid)) return `n8n exited on its own (log ${n8n.logFile})`;
		for (const [name, pid] of Object.entries(stack.info.pids)) {
			if (!processAlive(pid)) return `the sandbox's ${name} exited on its own (logs in ${path.join(stack.dir, 'logs')})`;
		}
		await new Promise<void>((resolve) => {
			wakeMainLoop = resolve;
			setTimeout(resolve, 2000);
		});
	}
}

async function main(): Promise<void> {
	const onSignal = (signal: NodeJS.Signals): void => {
		if (stopRequested) {
			say(`${signal} again: still stopping, please wait`);
			return;
		}
		stopRequested = true;
		say(running ? `${signal}: stopping` : `${signal}: stopping once the current start-up step has finished`);
		wakeMainLoop?.();
	};
	process.on('SIGINT', onSignal);
	process.on('SIGTERM', onSignal);
	process.on('SIGHUP', onSignal);

	let stack: RunningStack | undefined;
	let n8n: N8nInstance | undefined;
	let failure: string | undefined;
	try {
		say('starting the mail sandbox');
		stack = await startStack({
			dir: demoStackDir(),
			portBase: demoPorts.stackBase,
			defaultUser: demoMailbox,
			log: (line) => say(`sandbox: ${line}`),
		});
		if (!stopRequested) {
			say('building the package and starting n8n (the first start installs n8n: several minutes)');
			n8n = await startN8n({
				userFolder: demoN8nFolder,
				port: demoPorts.n8n,
				encryptionKey: readOrCreateEncryptionKey(demoEncryptionKeyFile),
				// Reused while n8n accepts it, so restarts do not pile up API keys in the demo database.
				apiKeyFile: demoApiKeyFile,
				env: {
					// The sandbox's certificate is trusted the way n8n users trust a private CA.
					NODE_EXTRA_CA_CERTS: path.join(stack.dir, 'tls', 'cert.pem'),
					// Otherwise the editor's node panel makes n8n fetch its verified-community-node list from api.n8n.io.
					N8N_VERIFIED_PACKAGES_ENABLED: 'false',
				},
				log: (line) => say(line),
			});
		}
		if (n8n && !stopRequested) {
			await ensureCredential(stack, n8n);
			await ensureWorkflow(n8n);
			printSummary(stack, n8n);
			running = true;
			failure = await waitUntilStopRequestedOrDead(stack, n8n);
		}
	} catch (error) {
		failure = error instanceof Error ? (error.stack ?? error.message) : String(error);
	}
	if (failure) say(`stopping because: ${failure}`);

	const problems: string[] = [];
	if (n8n) {
		say('stopping n8n');
		await n8n.stop().catch((error: unknown) => problems.push(`n8n: ${String(error)}`));
	}
	if (stack) {
		say('stopping the mail sandbox');
		await stack.stop().catch((error: unknown) => problems.push(`sandbox: ${String(error)}`));
	}
	if (problems.length > 0) {
		say(`could not stop everything cleanly: ${problems.join('; ')}`);
		process.exitCode = 1;
		return;
	}
	say('everything stopped');
	if (failure) process.exitCode = 1;
}

void main();
