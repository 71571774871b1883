/**
 * The generic credential's "CA Certificate (PEM)" field against the real stack. The stack's certificate is issued by
 * its own CA (stack.caCertPem), which Node does not trust: like a company mail server with a private CA.
 *
 * For IMAP (the trigger's session opener), SMTP (the SMTP node) and POP3 (the POP node), over implicit TLS and
 * STARTTLS, with certificate checks on ("Ignore Mail Server Certificate Errors" off):
 * - the stack's CA in the field → the connection is made and the server certificate verified;
 * - the field empty → a certificate error, before any token reaches the server;
 * - a different CA in the field → still a certificate error (the field adds trust, it does not switch checks off).
 */
import * as fs from 'node:fs';

import type { ImapFlow } from 'imapflow';
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

import { createTokenSource } from '../../../nodes/mail/auth/tokens';
import { isCertificateVerificationCode, resolveMailConnection } from '../../../nodes/mail/connection';
import { TEST_CA_PEM } from '../../fixtures/testCa';
import { getStack } from '../../stack';
import { MAIL_SERVER_TYPE, StoredCredential } from '../harness/credentials';
import { newAccount } from '../pop3/popTestKit';
import { PostfixLog, delivered, messageCount, runSmtpNode, smtpFields, type SmtpPort } from '../smtp/smtpTestKit';
import { nodeContext, openTriggerSession } from './nodeContext';

jest.setTimeout(30_000);

const stack = getStack();

type Trust = 'stack CA' | 'no CA' | 'another CA';
const UNTRUSTED: Trust[] = ['no CA', 'another CA'];

/** The credential fields for a trust choice; certificate checks always on. */
function trustFields(trust: Trust): ICredentialDataDecryptedObject {
	const caCertificate = trust === 'stack CA' ? stack.caCertPem : trust === 'another CA' ? TEST_CA_PEM : '';
	return { allowUnauthorizedCerts: false, caCertificate };
}

/** The Node certificate-verification code somewhere on an error or its causes (undefined if none). */
function certificateCode(error: unknown): string | undefined {
	for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
		const { code, tlsCode, cause } = current as { code?: unknown; tlsCode?: unknown; cause?: unknown };
		if (isCertificateVerificationCode(code)) return code;
		if (isCertificateVerificationCode(tlsCode)) return tlsCode;
		current = cause;
	}
	return undefined;
}

const imapModes = [
	['implicit TLS', () => stack.ports.imaps, 'tls'],
	['STARTTLS', () => stack.ports.imap, 'starttls'],
] as const;

describe('IMAP (the trigger opening a session) with certificate checks on', () => {
	async function imapScenario(trust: Trust, port: number, security: 'tls' | 'starttls') {
		const user = stack.newMailbox('ca-imap');
		const credential = StoredCredential.mailServer(stack, user, await stack.issueTokens(user), {
			imapHost: stack.host,
			imapPort: port,
			imapSecurity: security,
			...trustFields(trust),
		});
		const context = nodeContext(credential, { refreshHelper: true });
		const tokens = await createTokenSource(context, MAIL_SERVER_TYPE);
		const endpoint = resolveMailConnection(credential.type, credential.read(), ['imap']).imap;
		expect(endpoint.tls.rejectUnauthorized).toBe(true);
		return { user, context, tokens, endpoint };
	}

	it.each(imapModes)('with the stack CA in the credential: logs in over %s, the certificate verified', async (_mode, port, security) => {
		const { context, tokens, endpoint } = await imapScenario('stack CA', port(), security);
		const clients: ImapFlow[] = [];
		const session = await openTriggerSession(tokens, endpoint, context, { tried: [], clients });
		try {
			expect(session.isOpen).toBe(true);
			expect(clients).toHaveLength(1);
			const [client] = clients;
			expect(client.authenticated).toBeTruthy();
			// What tls.connect reported: the chain checked against the credential's CA, not waved through.
			expect(client.tls && client.tls.authorized).toBe(true);
		} finally {
			await session.retire();
		}
	});

	describe.each(UNTRUSTED)('with %s in the credential', (trust) => {
		it.each(imapModes)('refuses the certificate over %s with a certificate error; no login reaches Dovecot', async (_mode, port, security) => {
			const { user, context, tokens, endpoint } = await imapScenario(trust, port(), security);
			const error = await openTriggerSession(tokens, endpoint, context, { tried: [] }).then(
				async (session) => {
					await session.retire();
					throw new Error('expected a certificate error, but the session opened');
				},
				(failure: unknown) => failure,
			);
			expect(certificateCode(error)).toMatch(/SELF_SIGNED|UNABLE_TO/);
			expect(await stack.tokenRequestCount({ user, since: 0 })).toBe(0);
			// Dovecot names the user only once a login arrives: none did (the token was never sent).
			await new Promise((resolve) => setTimeout(resolve, 200));
			expect(fs.readFileSync(stack.info.files.dovecotLog, 'utf8').split('\n').filter((line) => line.includes(user))).toEqual([]);
		});
	});
});

const smtpPorts: SmtpPort[] = ['smtps', 'submission'];

describe('SMTP (the SMTP node sending) with certificate checks on', () => {
	async function send(trust: Trust, port: SmtpPort) {
		const user = stack.newMailbox('ca-smtp');
		const recipient = stack.newMailbox('ca-rcpt');
		const credential = StoredCredential.mailServer(stack, user, await stack.issueTokens(user), {
			...smtpFields(stack, port, { allowUnauthorizedCerts: false }),
			...trustFields(trust),
		});
		const run = await runSmtpNode({
			credential,
			parameters: { authentication: 'mailServerOAuth2Api', toEmail: recipient, subject: `ca ${trust}`, emailFormat: 'text', text: 'x', options: {} },
			items: [{ json: {} }],
		});
		return { user, recipient, run };
	}

	it.each(smtpPorts)('with the stack CA in the credential: sends over %s, the certificate verified', async (port) => {
		const { recipient, run } = await send('stack CA', port);
		expect(run.error).toBeUndefined();
		expect(run.output).toHaveLength(1);
		const mails = await delivered(stack, recipient, 1);
		expect(mails[0].mail.subject).toBe('ca stack CA');
	});

	describe.each(UNTRUSTED)('with %s in the credential', (trust) => {
		it.each(smtpPorts)('refuses the certificate over %s: a certificate error, no login, nothing sent', async (port) => {
			const log = new PostfixLog(stack);
			const { user, recipient, run } = await send(trust, port);
			expect(run.error?.message).toMatch(/^The TLS certificate of 127\.0\.0\.1:\d+ was refused: .*certificate/);
			await log.settledConnects(port, 1);
			expect(log.lines().filter((line) => line.includes(user))).toEqual([]);
			expect(await messageCount(stack, recipient)).toBe(0);
		});
	});
});

const popModes = [
	['implicit TLS', () => ({ popPort: stack.ports.pop3s, popSecurity: 'tls' })],
	['STARTTLS (STLS)', () => ({ popPort: stack.ports.pop3, popSecurity: 'starttls' })],
] as const;

describe('POP3 (the POP node) with certificate checks on', () => {
	const getCount = { authentication: 'mailServerOAuth2Api', format: 'simple', options: {}, operation: 'getCount' };

	it.each(popModes)('with the stack CA in the credential: reads the mailbox over %s, the certificate verified', async (_mode, fields) => {
		// trustStackCa false: the node gets no CA from the test, only the credential's field.
		const account = await newAccount({ trustStackCa: false, fields: { ...fields(), ...trustFields('stack CA') } });
		await stack.deliver({ from: 'sender@example.test', to: account.user, subject: 'one', text: 'body' });
		const result = await account.harness.run({ parameters: getCount });
		expect(result.items[0].json.count).toBe(1);
	});

	describe.each(UNTRUSTED)('with %s in the credential', (trust) => {
		it.each(popModes)('refuses the certificate over %s before any token request', async (_mode, fields) => {
			const account = await newAccount({ trustStackCa: false, fields: { ...fields(), ...trustFields(trust) } });
			const since = Date.now();
			const error = await account.harness.run({ parameters: getCount }).then(
				() => {
					throw new Error('expected a certificate error, but the run succeeded');
				},
				(failure: unknown) => failure as Error,
			);
			expect(error.message).toMatch(/^The TLS certificate of the POP3 server 127\.0\.0\.1:\d+ is not trusted$/);
			expect(await stack.tokenRequestCount({ user: account.user, since })).toBe(0);
		});
	});
});
