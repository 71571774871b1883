/**
 * A second, private stack next to the run's shared one: proves that instances coexist (own ports, own directory),
 * that stop() leaves nothing behind, and that restarting in the same directory keeps the signing key and the refresh
 * tokens (the demo restarts its stack and expects n8n's stored credential to keep working).
 */
import * as fs from 'node:fs';
import { ImapFlow } from 'imapflow';
import { getStack, PORT_NAMES, startStack, type RunningStack } from '../../stack';
import { descendantsOf, portClosed, processAlive } from '../../stack/processes';

async function imapLogin(stack: RunningStack, user: string, accessToken: string): Promise<void> {
	const client = new ImapFlow({
		host: stack.host,
		port: stack.ports.imaps,
		secure: true,
		tls: stack.tlsOptions(),
		auth: { user, accessToken },
		logger: false,
	});
	client.on('error', () => undefined);
	await client.connect();
	await client.logout();
}

describe('a second stack instance', () => {
	let first: RunningStack | undefined;
	let second: RunningStack | undefined;

	afterAll(async () => {
		await first?.stop();
		await second?.stop();
	});

	it('runs beside the shared stack, stops cleanly, and restarts in its directory with the same key and tokens', async () => {
		const shared = getStack();
		const quiet = (): void => undefined;
		first = await startStack({ log: quiet, install: false });
		expect(first.dir).not.toBe(shared.dir);
		for (const name of PORT_NAMES) expect(Object.values(shared.ports)).not.toContain(first.ports[name]);
		expect(fs.statSync(first.dir).mode & 0o777).toBe(0o755);

		const user = first.newMailbox();
		const tokens = await first.issueTokens(user);
		await imapLogin(first, user, tokens.access_token);
		const jwks = await (await fetch(first.oauth.jwksUrl)).text();
		const { pids, ports, dir } = first.info;

		await first.stop();
		for (const pid of Object.values(pids)) expect(processAlive(pid)).toBe(false);
		for (const port of Object.values(ports)) expect(await portClosed(port)).toBe(true);
		first = undefined;

		second = await startStack({ dir, log: quiet, install: false });
		expect(await (await fetch(second.oauth.jwksUrl)).text()).toBe(jwks);
		const refreshed = await second.refreshAccessToken(tokens.refresh_token);
		expect(refreshed.status).toBe(200);
		await imapLogin(second, user, String(refreshed.body.access_token));
		expect(second.crashes()).toEqual([]);
	});

	it('notices a crashed Dovecot auth process in the log (the check that fails a run on `signal 11`)', async () => {
		const stack = second;
		if (!stack) throw new Error('needs the stack of the previous test');
		// Dovecot 2.3.19's auth process has been seen to SIGSEGV on some JWTs; here we make it crash on purpose.
		// Process titles look like `dovecot-<instance>/auth`.
		const auth = descendantsOf(stack.info.pids.dovecot).find((pid) => /\/auth\b/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')));
		expect(auth).toBeDefined();
		process.kill(auth as number, 'SIGSEGV');
		const deadline = Date.now() + 5000;
		while (stack.crashes().length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
		expect(stack.crashes()).toEqual([expect.stringMatching(/service\(auth\).*killed with signal 11/)]);
		expect(() => stack.assertHealthy()).toThrow(/The mail stack crashed/);
	});
});
