/**
 * The credential check (checkImapLogin / testMailCredential) against the stack's Dovecot: a good token logs in, a bad
 * one fails with the server's decoded OAuth status, certificates are verified unless the credential allows
 * unauthorized ones.
 *
 * The stack's certificate is self-signed. In this process (Node's default trust store) it must be refused unless
 * allowUnauthorizedCerts is on. With the stack's certificate trusted as a CA, which for a self-hosted n8n means
 * NODE_EXTRA_CA_CERTS, verification stays on and the login succeeds: those checks run in a child process
 * (credentialCheckProcess.ts), because Node reads that variable only at start-up.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ICredentialDataDecryptedObject, INodeCredentialTestResult } from 'n8n-workflow';

import { checkImapLogin, testMailCredential } from '../../../nodes/mail/auth/credentialTest';
import { MAIL_SERVER_TYPE, StoredCredential } from '../harness/credentials';
import { getStack, waitForTokenExpiry } from '../../stack';
import { SecretLedger } from './secrets';

// Each check process starts tsx and imapflow (a second or two on this machine); jest's default 5 s is too tight.
jest.setTimeout(30_000);

const stack = getStack();
const ledger = new SecretLedger();
const results: Array<{ where: string; result: INodeCredentialTestResult }> = [];
const childErrorOutput: string[] = [];
let caDir: string;
let caFile: string;

/** A stored credential for `user` with a token from the stack; `fields` override any stored field. */
async function credentialFor(
	user: string,
	fields: ICredentialDataDecryptedObject = {},
	options: { accessToken?: string; expiresAt?: number; tokensFor?: string } = {},
): Promise<StoredCredential> {
	const issued = await stack.issueTokens(options.tokensFor ?? user);
	ledger.addTokenData('issued token', issued);
	ledger.add('stored token', options.accessToken);
	return StoredCredential.mailServer(
		stack,
		user,
		{ ...issued, access_token: options.accessToken ?? issued.access_token },
		{ imapHost: stack.host, imapPort: stack.ports.imaps, imapSecurity: 'auto', ...fields },
		{ expiresAt: options.expiresAt },
	);
}

async function check(where: string, credential: StoredCredential): Promise<INodeCredentialTestResult> {
	const result = await checkImapLogin(credential.type, credential.read(), { timeoutMs: 10_000 });
	results.push({ where, result });
	return result;
}

/**
 * checkImapLogin in a child process, one process for all given credentials. `trustStackCa`: the process trusts the
 * stack's CA through NODE_EXTRA_CA_CERTS. Without it the process has Node's default trust store, like this one;
 * it still runs outside jest's sandbox, so errors reach the check with their own prototypes, as they do in n8n.
 */
function checkInChildProcess(
	where: string,
	credentials: StoredCredential[],
	options: { trustStackCa: boolean },
): Promise<INodeCredentialTestResult[]> {
	const script = path.join(__dirname, 'credentialCheckProcess.ts');
	const input = JSON.stringify(credentials.map((credential) => ({ credentialType: credential.type, data: credential.read() })));
	const env: NodeJS.ProcessEnv = { ...process.env };
	if (options.trustStackCa) env.NODE_EXTRA_CA_CERTS = caFile;
	else delete env.NODE_EXTRA_CA_CERTS;
	return new Promise((resolve, reject) => {
		const child = execFile(
			process.execPath,
			['--require', require.resolve('tsx/cjs'), script],
			{ env, timeout: 60_000 },
			(error, stdout, stderr) => {
				childErrorOutput.push(stderr);
				if (error) {
					reject(new Error(`${where}: the check process failed (${error.message.split('\n')[0]}): ${stderr.trim()}`));
					return;
				}
				const parsed = JSON.parse(stdout) as INodeCredentialTestResult[];
				parsed.forEach((result, index) => results.push({ where: `${where} #${index + 1}`, result }));
				resolve(parsed);
			},
		);
		child.stdin?.end(input);
	});
}

/** An access token of `user` that Dovecot refuses as expired. */
async function expiredAccessToken(user: string): Promise<string> {
	const token = (await stack.issueTokens(user, { lifetimeSeconds: 1 })).access_token;
	ledger.add('expired token', token);
	await waitForTokenExpiry(token);
	return token;
}

/** Login lines of `user` in Dovecot's log (successful or refused): whether the check reached the server at all. */
function dovecotLoginLines(user: string): string[] {
	return fs
		.readFileSync(stack.info.files.dovecotLog, 'utf8')
		.split('\n')
		.filter((line) => line.includes(`user=<${user}>`) || line.includes(`oauth2(${user},`));
}

/**
 * Dovecot's log process writes a moment after the client got its answer: wait up to `waitMs` for `count` matching
 * lines (count 0: look again after `waitMs`, so a late line is not missed).
 */
async function waitForDovecotLines(user: string, pattern: RegExp, count: number, waitMs = 3000): Promise<string[]> {
	if (count === 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
	const deadline = Date.now() + waitMs;
	let lines = dovecotLoginLines(user).filter((line) => pattern.test(line));
	while (lines.length < count && Date.now() < deadline) {
		await new Promise((resolve) => setTimeout(resolve, 50));
		lines = dovecotLoginLines(user).filter((line) => pattern.test(line));
	}
	return lines;
}

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const where = `${stack.host}:${stack.ports.imaps}`;
const whereRe = escapeRegExp(where);
const refusedStatus = /the server answered status (401|invalid_token)/;

beforeAll(() => {
	caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gx-auth-ca-'));
	caFile = path.join(caDir, 'stack-ca.pem');
	fs.writeFileSync(caFile, stack.caCertPem);
});

afterAll(() => {
	fs.rmSync(caDir, { recursive: true, force: true });
});

describe('credential check against the stack (checkImapLogin / testMailCredential)', () => {
	it('with the stack CA trusted: passes over implicit TLS and over STARTTLS with a good token, fails with the decoded status for a refused one', async () => {
		const user = stack.newMailbox('check');
		const implicitTls = await credentialFor(user);
		const startTls = await credentialFor(user, { imapPort: stack.ports.imap, imapSecurity: 'starttls' });
		const refused = await credentialFor(user, {}, { accessToken: await expiredAccessToken(user), expiresAt: Date.now() + 3_600_000 });

		const [implicitResult, startTlsResult, refusedResult] = await checkInChildProcess('stack CA trusted', [implicitTls, startTls, refused], {
			trustStackCa: true,
		});

		expect(implicitResult).toEqual({ status: 'OK', message: `Logged in to ${where} as ${user}` });
		expect(startTlsResult).toEqual({ status: 'OK', message: `Logged in to ${stack.host}:${stack.ports.imap} as ${user}` });
		expect(refusedResult.status).toBe('Error');
		expect(refusedResult.message).toMatch(new RegExp(`^IMAP login to ${whereRe} failed: ${refusedStatus.source}`));
		expect(refusedResult.message).toMatch(/AUTHENTICATIONFAILED|Authentication failed/);
	});

	it('refuses the self-signed certificate by default, before any token is sent', async () => {
		const user = stack.newMailbox('check');
		const credential = await credentialFor(user);

		const [result] = await checkInChildProcess('self-signed refused', [credential], { trustStackCa: false });

		expect(result.status).toBe('Error');
		expect(result.message).toMatch(new RegExp(`^Could not log in to ${whereRe}: self[- ]signed certificate`));
		expect(await waitForDovecotLines(user, /./, 0, 500)).toEqual([]);
	});

	it('accepts the self-signed certificate when allowUnauthorizedCerts is on: a good token passes (also through testMailCredential)', async () => {
		const user = stack.newMailbox('check');
		const credential = await credentialFor(user, { allowUnauthorizedCerts: true });

		expect(await check('unauthorized certs allowed', credential)).toEqual({ status: 'OK', message: `Logged in to ${where} as ${user}` });

		const viaTestFunction = await testMailCredential({ id: 'cred-1', name: 'Stack mailbox', type: MAIL_SERVER_TYPE, data: credential.read() });
		results.push({ where: 'testMailCredential', result: viaTestFunction });
		expect(viaTestFunction).toEqual({ status: 'OK', message: `Logged in to ${where} as ${user}` });
		expect(await waitForDovecotLines(user, /Login: user=/, 2)).toHaveLength(2);
	});

	it('fails clearly with a token the server refuses: expired at the server, or issued for another account', async () => {
		const user = stack.newMailbox('check');
		const expired = await credentialFor(
			user,
			{ allowUnauthorizedCerts: true },
			{ accessToken: await expiredAccessToken(user), expiresAt: Date.now() + 3_600_000 },
		);
		const otherAccount = await credentialFor(user, { allowUnauthorizedCerts: true }, { tokensFor: stack.newMailbox('other') });

		for (const [label, credential] of [
			['expired at the server', expired],
			['another account', otherAccount],
		] as const) {
			const result = await check(`refused: ${label}`, credential);
			expect(result.status).toBe('Error');
			expect(result.message).toMatch(new RegExp(`^IMAP login to ${whereRe} failed: ${refusedStatus.source}`));
		}
		expect(await waitForDovecotLines(user, /oauth2 failed/, 2)).toHaveLength(2);
	});

	it('reports a token that n8n_expires_at marks as expired without contacting the server (a check cannot refresh)', async () => {
		const user = stack.newMailbox('check');
		const credential = await credentialFor(user, { allowUnauthorizedCerts: true }, { expiresAt: Date.now() - 1000 });

		const result = await check('expired per n8n_expires_at', credential);

		expect(result.status).toBe('Error');
		expect(result.message).toMatch(/^The stored access token expired at .* cannot refresh it/);
		expect(await waitForDovecotLines(user, /./, 0, 500)).toEqual([]);
	});

	it('leaves no token in any check result, the check process output, or the Dovecot and token server logs', () => {
		expect(results.length).toBeGreaterThanOrEqual(8);
		expect(ledger.size).toBeGreaterThanOrEqual(14);
		const findings = ledger.findInServerLogs(stack);
		for (const { where: label, result } of results) findings.push(...ledger.findIn(`the result of "${label}"`, JSON.stringify(result)));
		findings.push(...ledger.findIn('the check process stderr', childErrorOutput.join('\n')));
		expect(findings).toEqual([]);
	});
});
