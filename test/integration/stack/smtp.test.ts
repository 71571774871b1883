/**
 * SMTP submission on the stack with nodemailer and XOAUTH2 on both Gmail-style ports (465 implicit TLS, 587 with
 * STARTTLS required), the mail landing in the mailbox, expired tokens refused with 535, and TLS rules enforced.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { buildXOAuth2InitialResponse, decodeXOAuth2Challenge } from '../../../nodes/mail/auth/xoauth2';
import { getStack, LineClient, waitForTokenExpiry } from '../../stack';

const stack = getStack();

const ports = {
	'465 (implicit TLS)': (): SMTPTransport.Options => ({ port: stack.ports.smtps, secure: true }),
	'587 (STARTTLS required)': (): SMTPTransport.Options => ({ port: stack.ports.submission, secure: false, requireTLS: true }),
};

function transport(options: SMTPTransport.Options, user: string, accessToken: string): Transporter<SMTPTransport.SentMessageInfo> {
	return nodemailer.createTransport({
		host: stack.host,
		tls: stack.tlsOptions(),
		auth: { type: 'OAuth2', user, accessToken },
		...options,
	});
}

interface SmtpFailure {
	code?: string;
	responseCode?: number;
}

describe('SMTP submission with OAuth2 access tokens', () => {
	const user = stack.newMailbox('smtp');
	let shortLivedToken: string;

	beforeAll(async () => {
		shortLivedToken = (await stack.issueTokens(user, { lifetimeSeconds: 1 })).access_token;
	});

	it.each(Object.entries(ports))('sends over %s with XOAUTH2 and the message arrives', async (label, options) => {
		const recipient = stack.newMailbox('rcpt');
		const mailer = transport(options(), user, await stack.accessToken(user));
		try {
			const info = await mailer.sendMail({ from: user, to: recipient, subject: `via ${label}`, text: 'hello' });
			expect(info.accepted).toEqual([recipient]);
			expect(info.response).toMatch(/^250 /);
		} finally {
			mailer.close();
		}
		const state = await stack.waitForMessages(recipient, 1, { includeRaw: true });
		expect(state.messages[0].raw).toContain(`Subject: via ${label}`);
	});

	it.each(Object.entries(ports))('refuses an expired token over %s: EAUTH with 535', async (_label, options) => {
		await waitForTokenExpiry(shortLivedToken);
		const mailer = transport(options(), user, shortLivedToken);
		try {
			const failure: SmtpFailure = await mailer.sendMail({ from: user, to: user, subject: 'never', text: 'x' }).then(
				() => ({}),
				(error: unknown) => error as SmtpFailure,
			);
			expect(failure).toMatchObject({ code: 'EAUTH', responseCode: 535 });
		} finally {
			mailer.close();
		}
	});

	it('answers an expired XOAUTH2 token with a 334 JSON challenge (status 401), then 535 5.7.8', async () => {
		await waitForTokenExpiry(shortLivedToken);
		const client = await LineClient.connect({ host: stack.host, port: stack.ports.smtps, tls: stack.tlsOptions() });
		try {
			expect(await client.readLine()).toMatch(/^220 /);
			client.send('EHLO client.example.test');
			const capabilities = await client.readUntil(/^250 /);
			expect(capabilities).toContainEqual(expect.stringMatching(/^250-AUTH .*XOAUTH2/));
			const challenge = await client.command(`AUTH XOAUTH2 ${buildXOAuth2InitialResponse(user, shortLivedToken)}`);
			expect(challenge).toMatch(/^334 /);
			expect(decodeXOAuth2Challenge(challenge.slice(4))).toMatchObject({ status: '401' });
			expect(await client.command('')).toMatch(/^535 5\.7\.8/);
		} finally {
			client.close();
		}
	});

	it('the 587-style port offers no AUTH before STARTTLS and refuses one', async () => {
		const client = await LineClient.connect({ host: stack.host, port: stack.ports.submission });
		try {
			expect(await client.readLine()).toMatch(/^220 /);
			client.send('EHLO client.example.test');
			const capabilities = await client.readUntil(/^250 /);
			expect(capabilities).toContainEqual(expect.stringMatching(/^250-STARTTLS/));
			expect(capabilities.some((line) => /AUTH/.test(line))).toBe(false);
			expect(await client.command(`AUTH XOAUTH2 ${buildXOAuth2InitialResponse(user, await stack.accessToken(user))}`)).toMatch(/^5\d\d /);
		} finally {
			client.close();
		}
	});

	it('certificate verification stays on: without the stack CA the TLS handshake fails', async () => {
		const mailer = nodemailer.createTransport({
			host: stack.host,
			port: stack.ports.smtps,
			secure: true,
			auth: { type: 'OAuth2', user, accessToken: await stack.accessToken(user) },
		});
		try {
			await expect(mailer.verify()).rejects.toThrow(/self[- ]signed certificate/);
		} finally {
			mailer.close();
		}
	});
});
