/**
 * A second, private stack next to the run's shared one: proves that instances coexist (own ports, own directory),
 * that stop() leaves nothing behind, and that restarting in the same directory keeps the signing key and the refresh
 * tokens (the demo restarts its stack and expects n8n's stored credential to keep working).
 */
import * as fs from 'node:fs';
import { ImapFlow } from 'imapflow';
import { getStack, PORT_NAMES, startStack, type RunningStack } from '../../stack';
import { portClosed, processAlive } from '../../stack/processes';

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
});
