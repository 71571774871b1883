/**
 * The SMTP transport against a scripted ESMTP server: one connection per execution, token refresh on refusal
 * (with and without the XOAUTH2 challenge), refusal after refresh, token source errors passed through, refused
 * recipients, an ambiguous drop after DATA (not resent), and no file or URL access from message fields.
 */
import type { SendMailOptions } from 'nodemailer';

import { AccessTokenRejectedError, CredentialReconnectRequiredError } from '../../../../nodes/mail/auth/tokenErrors';
import type { MailEndpoint } from '../../../../nodes/mail/connection';
import { SmtpSender, SmtpSendError } from '../../../../nodes/mail/smtp/transport';
import { FakeSmtpServer } from './fakeSmtpServer';
import { FakeTokens } from './fakeTokens';

const USER = 'sender@example.test';

function endpoint(port: number): MailEndpoint {
	return {
		host: '127.0.0.1',
		port,
		security: 'none',
		secure: false,
		requireTLS: false,
		tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2' },
	};
}

function message(index: number, overrides: Partial<SendMailOptions> = {}): SendMailOptions {
	return { from: USER, to: 'rcpt@example.test', subject: `message ${index}`, text: `body ${index}`, ...overrides };
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!predicate()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}

describe('SmtpSender', () => {
	let server: FakeSmtpServer | undefined;

	afterEach(async () => {
		await server?.stop();
		server = undefined;
	});

	it('sends every message over one connection and one login, in order, and closes it at the end', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['token-1']) });
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens: new FakeTokens(USER, 'token-1') });
		const results = [];
		for (let index = 0; index < 5; index++) results.push(await sender.send(message(index)));
		sender.close();

		expect(server.connections).toBe(1);
		expect(sender.connectionsOpened).toBe(1);
		expect(server.logins).toEqual([{ connection: 1, user: USER, token: 'token-1', ok: true }]);
		expect(server.messages.map((received) => /Subject: (.*)/.exec(received.data)?.[1])).toEqual([0, 1, 2, 3, 4].map((i) => `message ${i}`));
		expect(results[0]).toMatchObject({
			accepted: ['rcpt@example.test'],
			rejected: [],
			response: '250 2.0.0 Ok: queued as FAKE1',
			envelope: { from: USER, to: ['rcpt@example.test'] },
		});
		expect(results[0].messageId).toMatch(/^<.+@example\.test>$/);
		await waitFor(() => server?.openConnections === 0, 'the connection to close');
	});

	it('opens no connection when nothing is sent', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['token-1']) });
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens: new FakeTokens(USER, 'token-1') });
		sender.close();
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(server.connections).toBe(0);
	});

	it('refreshes once when the server refuses the token with the XOAUTH2 challenge, then sends on the same connection', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['fresh']), refusal: 'challenge' });
		const tokens = new FakeTokens(USER, 'expired', ['fresh']);
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens });
		await sender.send(message(1));
		await sender.send(message(2));
		sender.close();

		expect(tokens.refreshCalls).toEqual(['expired']);
		expect(server.logins.map(({ token, ok }) => [token, ok])).toEqual([
			['expired', false],
			['fresh', true],
		]);
		expect(server.connections).toBe(1);
		expect(server.messages).toHaveLength(2);
		expect(sender.tokenRenewals).toBe(1);
	});

	it('refreshes and sends again when the server refuses the token without a challenge (bare 535); the message arrives once', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['fresh']), refusal: 'bare535' });
		const tokens = new FakeTokens(USER, 'expired', ['fresh']);
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens });
		const sent = await sender.send(message(1));
		sender.close();

		expect(sent.accepted).toEqual(['rcpt@example.test']);
		expect(tokens.refreshCalls).toEqual(['expired']);
		expect(server.messages).toHaveLength(1);
		expect(server.logins.map(({ ok }) => ok)).toEqual([false, true]);
	});

	it.each(['challenge', 'bare535'] as const)(
		'gives AccessTokenRejectedError (with the server text, without tokens) when a refreshed token is refused too (%s)',
		async (refusal) => {
			server = await FakeSmtpServer.start({ acceptTokens: new Set(), refusal });
			const tokens = new FakeTokens(USER, 'old-token-value', ['new-token-value']);
			const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens });
			const error: unknown = await sender.send(message(1)).catch((caught: unknown) => caught);
			sender.close();

			expect(error).toBeInstanceOf(AccessTokenRejectedError);
			const rejected = error as AccessTokenRejectedError;
			expect(rejected.protocol).toBe('smtp');
			expect(rejected.message).toContain('535 5.7.8');
			expect(tokens.refreshCalls).toEqual(['old-token-value']);
			expect(server.messages).toHaveLength(0);
			expect(JSON.stringify({ message: rejected.message, description: rejected.description })).not.toMatch(/token-value/);
		},
	);

	it('passes the token source’s own errors through unchanged (credential must be reconnected)', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(), refusal: 'challenge' });
		const tokens = new FakeTokens(USER, 'expired');
		const reconnect = new CredentialReconnectRequiredError({ type: 'mailServerOAuth2Api' }, { cause: 'invalid_grant' });
		tokens.refreshError = reconnect;
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens });
		await expect(sender.send(message(1))).rejects.toBe(reconnect);
		sender.close();
		expect(server.messages).toHaveLength(0);
	});

	it('reports recipients the server refused: all refused fails the message (not sent), the connection stays usable', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['token-1']), refuseRecipients: new Set(['nobody@example.test']) });
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens: new FakeTokens(USER, 'token-1') });

		const partial = await sender.send(message(1, { to: ['rcpt@example.test', 'nobody@example.test'] }));
		expect(partial.accepted).toEqual(['rcpt@example.test']);
		expect(partial.rejected).toEqual(['nobody@example.test']);

		const error: unknown = await sender.send(message(2, { to: 'nobody@example.test' })).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(SmtpSendError);
		expect(error).toMatchObject({ code: 'EENVELOPE', delivery: 'notSent', responseCode: 550 });
		expect((error as SmtpSendError).response).toContain('Recipient address rejected');

		await sender.send(message(3));
		sender.close();
		expect(server.connections).toBe(1);
		expect(server.messages).toHaveLength(2);
	});

	it('does not resend a message whose connection broke after its content went out (delivery unknown)', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['token-1']), dropAfterDataOnce: true });
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens: new FakeTokens(USER, 'token-1') });

		const error: unknown = await sender.send(message(1)).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(SmtpSendError);
		expect((error as SmtpSendError).delivery).toBe('unknown');
		// Give a hidden retry every chance to happen: it must not.
		await new Promise((resolve) => setTimeout(resolve, 300));
		expect(server.dataReceived).toBe(1);

		// The next message gets a new connection.
		await sender.send(message(2));
		sender.close();
		expect(server.dataReceived).toBe(2);
		expect(server.messages.map((received) => /Subject: (.*)/.exec(received.data)?.[1])).toEqual(['message 2']);
		expect(server.connections).toBe(2);
	});

	it.each([
		['a local file', { path: '/etc/hostname' }],
		['a URL', { href: 'http://127.0.0.1:9/secret' }],
	])('refuses to read %s named by a message field, and sends nothing', async (_label, source) => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['token-1']) });
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens: new FakeTokens(USER, 'token-1') });
		const error: unknown = await sender
			.send(message(1, { attachments: [{ filename: 'x.txt', ...source }] }))
			.catch((caught: unknown) => caught);
		sender.close();
		expect(error).toBeInstanceOf(SmtpSendError);
		expect((error as SmtpSendError).code).toMatch(/^E(FILE|URL)ACCESS$/);
		expect(server.dataReceived).toBe(0);
	});

	it('refuses to send after close', async () => {
		server = await FakeSmtpServer.start({ acceptTokens: new Set(['token-1']) });
		const sender = new SmtpSender({ endpoint: endpoint(server.port), tokens: new FakeTokens(USER, 'token-1') });
		sender.close();
		await expect(sender.send(message(1))).rejects.toThrow(/already closed/);
	});
});
