/**
 * Connections and tokens of the Gmail SMTP node against the real stack: one connection per execution (counted by
 * Postfix's own log and by a relay in front of it), a token that expires in the middle of a run while the provider
 * drops the connection, a token the credential believes valid but the server refuses, a revoked refresh token, and
 * certificate verification.
 */
import { NodeOperationError } from 'n8n-workflow';

import { getStack, waitForTokenExpiry } from '../../stack';
import { waitUntil } from '../../support/waitUntil';
import { binaryFromBuffer, expression } from '../harness/executeHarness';
import { TcpProxy } from '../harness/tcpProxy';
import { PostfixLog, delivered, messageCount, runSmtpNode, senderCredential, type SmtpPort } from './smtpTestKit';

const stack = getStack();

function subjects(mails: Array<{ mail: { subject?: string } }>): string[] {
	return mails.map(({ mail }) => mail.subject ?? '').sort((a, b) => Number(a.split(' ')[1]) - Number(b.split(' ')[1]));
}

describe('one SMTP connection per execution', () => {
	it.each<[SmtpPort, number]>([
		['smtps', 100],
		['submission', 20],
	])('sends %s × %i items over a single connection with a single login, each message once, in item order', async (port, count) => {
		const user = stack.newMailbox('bulk');
		const recipient = stack.newMailbox('rcpt');
		const proxy = await TcpProxy.start({ host: stack.host, port: stack.ports[port] });
		const log = new PostfixLog(stack);
		try {
			const run = await runSmtpNode({
				credential: await senderCredential(stack, user, port, { viaPort: proxy.port }),
				parameters: {
					authentication: 'mailServerOAuth2Api',
					toEmail: recipient,
					subject: expression((item) => `Item ${String(item.json.n)}`),
					emailFormat: 'text',
					text: expression((item) => `Body of item ${String(item.json.n)}`),
					options: { appendAttribution: false },
				},
				items: Array.from({ length: count }, (_, n) => ({ json: { n } })),
			});
			expect(run.error).toBeUndefined();
			expect(run.output).toHaveLength(count);
			expect(run.output?.map((item) => item.pairedItem)).toEqual(Array.from({ length: count }, (_, item) => ({ item })));
			expect(run.output?.every((item) => item.json.error === undefined)).toBe(true);

			const mails = await delivered(stack, recipient, count, 60_000);
			expect(subjects(mails)).toEqual(Array.from({ length: count }, (_, n) => `Item ${n}`));
			expect(new Set(mails.map(({ mail }) => mail.messageId)).size).toBe(count);

			expect(proxy.connectionsAccepted).toBe(1);
			expect(await log.settledConnects(port, 1)).toBe(1);
			// Postfix names the SASL user on every message it accepts: all of them came through one smtpd session.
			const accepted = log.lines().filter((line) => line.includes(`sasl_username=${user}`));
			expect(accepted).toHaveLength(count);
			expect(new Set(accepted.map((line) => /smtpd\[(\d+)\]/.exec(line)?.[1])).size).toBe(1);
			// Closed at the end of the execution.
			await waitUntil(() => proxy.openConnections === 0, 'the connection to be closed');
		} finally {
			await proxy.close();
		}
	}, 120_000);

	it('opens no connection when every item is invalid', async () => {
		const user = stack.newMailbox('sender');
		const log = new PostfixLog(stack);
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps'),
			parameters: { authentication: 'mailServerOAuth2Api', toEmail: 'not-an-address', subject: 's', emailFormat: 'text', text: 'x', options: {} },
			items: [{ json: {} }, { json: {} }],
			continueOnFail: true,
		});
		expect(run.output?.map((item) => item.json.error)).toEqual([
			'To Email contains "not-an-address", which is not an email address (item 0)',
			'To Email contains "not-an-address", which is not an email address (item 1)',
		]);
		await new Promise((resolve) => setTimeout(resolve, 300));
		expect(log.connects('smtps')).toBe(0);
	});
});

describe('tokens during a run', () => {
	it('recovers when the token expires mid-run and the provider drops the connection: new connection, one refresh, every item once', async () => {
		const user = stack.newMailbox('midrun');
		const recipient = stack.newMailbox('rcpt');
		const tokens = await stack.issueTokens(user, { lifetimeSeconds: 6 });
		// Tokens refreshed from now on live an hour: the test is about the first one running out.
		await stack.setAccessTokenLifetime(3600, { refreshToken: tokens.refresh_token });
		const credential = await senderCredential(stack, user, 'smtps', { tokens });
		const firstToken = tokens.access_token;
		const proxy = await TcpProxy.start({ host: stack.host, port: stack.ports.smtps });
		credential.data.smtpPort = proxy.port;
		const started = Date.now();
		let droppedAt = 0;
		try {
			const run = await runSmtpNode({
				credential,
				parameters: {
					authentication: 'mailServerOAuth2Api',
					toEmail: recipient,
					subject: expression((item) => `Item ${String(item.json.n)}`),
					emailFormat: 'text',
					text: 'x',
					options: { appendAttribution: false, fileAttachments: 'data' },
				},
				items: Array.from({ length: 6 }, (_, n) => ({ json: { n }, binary: { data: binaryFromBuffer(Buffer.from(`file ${n}`), `f${n}.txt`, 'text/plain') } })),
				// While the node waits for item 3's binary data: the first token runs out, then the connection is cut.
				onBinaryRead: async (itemIndex) => {
					if (itemIndex !== 3) return;
					await waitForTokenExpiry(firstToken);
					droppedAt = Date.now();
					expect(proxy.dropAll()).toBe(1);
				},
			});
			expect(run.error).toBeUndefined();
			expect(run.output?.map((item) => item.json.error)).toEqual(Array(6).fill(undefined));
			expect(subjects(await delivered(stack, recipient, 6))).toEqual([0, 1, 2, 3, 4, 5].map((n) => `Item ${n}`));

			expect(proxy.connectionsAccepted).toBe(2);
			// Exactly one refresh, and it happened after the drop (the first connection used the first token).
			const refreshes = await stack.tokenRequests({ grantType: 'refresh_token', user, since: started });
			expect(refreshes).toHaveLength(1);
			expect(refreshes[0].at).toBeGreaterThanOrEqual(droppedAt);
			expect(credential.refreshRequests).toBe(1);
			// Saved like n8n saves it: a new token, the refresh token kept, n8n_expires_at as a string.
			expect(credential.tokenData.access_token).not.toBe(firstToken);
			expect(credential.tokenData.refresh_token).toBe(tokens.refresh_token);
			expect(typeof credential.tokenData.n8n_expires_at).toBe('string');
		} finally {
			await proxy.close();
		}
	}, 60_000);

	it('refreshes once when the server refuses a token the credential still calls valid, on the same connection', async () => {
		const user = stack.newMailbox('refused');
		const recipient = stack.newMailbox('rcpt');
		const tokens = await stack.issueTokens(user, { lifetimeSeconds: 1 });
		await stack.setAccessTokenLifetime(3600, { refreshToken: tokens.refresh_token });
		await waitForTokenExpiry(tokens.access_token);
		// The stored expiry says an hour is left (clock skew, a token revoked at the provider, ...).
		const credential = await senderCredential(stack, user, 'smtps', { tokens, expiresAt: Date.now() + 3600_000 });
		const log = new PostfixLog(stack);
		const run = await runSmtpNode({
			credential,
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: recipient,
				subject: expression((item) => `Item ${String(item.json.n)}`),
				emailFormat: 'text',
				text: 'x',
				options: { appendAttribution: false },
			},
			items: [{ json: { n: 0 } }, { json: { n: 1 } }],
		});
		expect(run.error).toBeUndefined();
		expect(subjects(await delivered(stack, recipient, 2))).toEqual(['Item 0', 'Item 1']);
		expect(credential.refreshRequests).toBe(1);
		expect(await log.settledConnects('smtps', 1)).toBe(1);
		expect(log.lines().filter((line) => /SASL XOAUTH2 authentication failed/.test(line))).toHaveLength(1);
		expect(run.harness.logs.some((entry) => /refused the access token during login/.test(entry.message))).toBe(true);
	}, 60_000);

	it('stops with a clear "reconnect the credential" error when the refresh token was revoked; nothing is sent', async () => {
		const user = stack.newMailbox('revoked');
		const recipient = stack.newMailbox('rcpt');
		const tokens = await stack.issueTokens(user, { lifetimeSeconds: 1 });
		await stack.revokeRefreshToken(tokens.refresh_token);
		await waitForTokenExpiry(tokens.access_token);
		const parameters = { authentication: 'mailServerOAuth2Api', toEmail: recipient, subject: 's', emailFormat: 'text', text: 'x', options: {} };

		const failing = await runSmtpNode({ credential: await senderCredential(stack, user, 'smtps', { tokens }), parameters, items: [{ json: {} }, { json: {} }] });
		expect(failing.error).toBeInstanceOf(NodeOperationError);
		expect((failing.error as NodeOperationError).failure).toEqual({ cause: 'credential-invalid' });
		expect(failing.error?.message).toMatch(/^The OAuth2 credential must be reconnected/);
		expect((failing.error as NodeOperationError).description).toMatch(/"Stack mailbox" \(mailServerOAuth2Api\).*Connect my account/);
		expect(JSON.stringify(failing.error)).not.toContain(tokens.refresh_token);

		// With "Continue On Fail" every item reports it, without asking the token endpoint again for each item.
		const credential = await senderCredential(stack, user, 'smtps', { tokens });
		const continuing = await runSmtpNode({ credential, parameters, items: [{ json: {} }, { json: {} }, { json: {} }], continueOnFail: true });
		expect(continuing.error).toBeUndefined();
		expect(continuing.output?.map((item) => String(item.json.error))).toEqual(Array(3).fill(expect.stringMatching(/^The OAuth2 credential must be reconnected/)));
		expect(continuing.output?.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
		expect(credential.refreshRequests).toBe(1);
		expect(await messageCount(stack, recipient)).toBe(0);
	}, 60_000);
});

describe('TLS certificate verification', () => {
	it.each<SmtpPort>(['smtps', 'submission'])('refuses the stack’s self-signed certificate by default (%s): no login, a hint at the credential option', async (port) => {
		const user = stack.newMailbox('tls');
		const recipient = stack.newMailbox('rcpt');
		const log = new PostfixLog(stack);
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, port, { allowUnauthorizedCerts: false }),
			parameters: { authentication: 'mailServerOAuth2Api', toEmail: recipient, subject: 's', emailFormat: 'text', text: 'x', options: {} },
			items: [{ json: {} }],
		});
		expect(run.error?.message).toMatch(/^The TLS certificate of 127\.0\.0\.1:\d+ was refused: .*self[- ]signed certificate.* \(item 0\)$/);
		expect((run.error as { description?: string }).description).toMatch(/"CA Certificate \(PEM\)".*"Ignore Mail Server Certificate Errors \(Insecure\)" only if that is not possible/);
		await log.settledConnects(port, 1);
		expect(log.lines().filter((line) => line.includes(user))).toEqual([]);
		expect(await messageCount(stack, recipient)).toBe(0);
	});

	it('with Continue On Fail reports the refused certificate for every item, naming each, after one attempt', async () => {
		const user = stack.newMailbox('tls');
		const recipient = stack.newMailbox('rcpt');
		const log = new PostfixLog(stack);
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps', { allowUnauthorizedCerts: false }),
			parameters: { authentication: 'mailServerOAuth2Api', toEmail: recipient, subject: 's', emailFormat: 'text', text: 'x', options: {} },
			items: [{ json: {} }, { json: {} }, { json: {} }],
			continueOnFail: true,
		});
		expect(run.output?.map((item) => String(item.json.error))).toEqual(
			[0, 1, 2].map((index) => expect.stringMatching(new RegExp(`^The TLS certificate of .* was refused: .* \\(item ${index}\\)$`))),
		);
		await new Promise((resolve) => setTimeout(resolve, 300));
		expect(await log.settledConnects('smtps', 1)).toBe(1);
	});

	it('connects when the credential’s "Ignore Mail Server Certificate Errors" is on', async () => {
		const user = stack.newMailbox('tls');
		const recipient = stack.newMailbox('rcpt');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps', { allowUnauthorizedCerts: true }),
			parameters: { authentication: 'mailServerOAuth2Api', toEmail: recipient, subject: 's', emailFormat: 'text', text: 'x', options: {} },
			items: [{ json: {} }],
		});
		expect(run.error).toBeUndefined();
		await delivered(stack, recipient, 1);
	});
});
