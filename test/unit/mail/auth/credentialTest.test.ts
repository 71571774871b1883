import * as net from 'node:net';

import type { ICredentialDataDecryptedObject, ICredentialsDecrypted, ICredentialTestFunction } from 'n8n-workflow';

import { MAIL_CREDENTIAL_TEST_NAME, checkImapLogin, testMailCredential } from '../../../../nodes/mail/auth/credentialTest';

// Compile-time check: the function fits n8n's `methods.credentialTest` slot.
export const asN8nCredentialTest: ICredentialTestFunction = testMailCredential;

const GOOD_TOKEN = 'good-access-token-123456';
const BAD_TOKEN = 'refused-access-token-654321';
const NOW = 1_750_000_000_000;

/**
 * Just enough of an IMAP server for a login: SASL-IR XOAUTH2, the error challenge Dovecot sends for a bad token,
 * CAPABILITY, ID, ENABLE, NOOP and LOGOUT.
 */
async function startFakeImapServer() {
	const logins: string[] = [];
	let connections = 0;
	const server = net.createServer((socket) => {
		connections++;
		let buffer = '';
		let pendingFailureTag: string | undefined;
		socket.write('* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 ID] fake server ready\r\n');
		socket.on('data', (chunk) => {
			buffer += chunk.toString('utf8');
			let newline: number;
			while ((newline = buffer.indexOf('\r\n')) >= 0) {
				const line = buffer.slice(0, newline);
				buffer = buffer.slice(newline + 2);
				if (pendingFailureTag) {
					// The client answers the error challenge with an empty line; then the final NO.
					socket.write(`${pendingFailureTag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`);
					pendingFailureTag = undefined;
					continue;
				}
				const [tag, command = '', ...args] = line.split(' ');
				switch (command.toUpperCase()) {
					case 'CAPABILITY':
						socket.write(`* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 ID\r\n${tag} OK done\r\n`);
						break;
					case 'ID':
						socket.write(`* ID NIL\r\n${tag} OK done\r\n`);
						break;
					case 'AUTHENTICATE': {
						const decoded = Buffer.from(args[1] ?? '', 'base64').toString('utf8');
						logins.push(decoded);
						if (decoded.includes(`auth=Bearer ${GOOD_TOKEN}\x01`)) {
							socket.write(`${tag} OK [CAPABILITY IMAP4rev1 ID] Logged in\r\n`);
						} else {
							const challenge = Buffer.from(JSON.stringify({ status: '401', schemes: 'bearer', scope: 'mail' })).toString('base64');
							socket.write(`+ ${challenge}\r\n`);
							pendingFailureTag = tag;
						}
						break;
					}
					case 'LOGOUT':
						socket.end(`* BYE Logging out\r\n${tag} OK Logout completed\r\n`);
						break;
					default:
						socket.write(`${tag} OK done\r\n`);
				}
			}
		});
		socket.on('error', () => undefined);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as net.AddressInfo;
	return {
		port,
		logins,
		connections: () => connections,
		close: () => new Promise<void>((resolve) => server.close(() => resolve())),
	};
}

function credentialData(port: number, tokenData: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) {
	return {
		email: 'user@example.test',
		clientId: 'id',
		clientSecret: 'client-secret-value',
		imapHost: '127.0.0.1',
		imapPort: port,
		// Plain text, acceptable only because this server is on the loopback interface.
		imapSecurity: 'none',
		oauthTokenData: tokenData,
		...extra,
	} as ICredentialDataDecryptedObject;
}

describe('checkImapLogin', () => {
	let server: Awaited<ReturnType<typeof startFakeImapServer>>;
	beforeEach(async () => {
		server = await startFakeImapServer();
	});
	afterEach(async () => {
		await server.close();
	});

	it('logs in over IMAP with the stored token and reports success', async () => {
		const result = await checkImapLogin('mailServerOAuth2Api', credentialData(server.port, { access_token: GOOD_TOKEN }));
		expect(result).toEqual({ status: 'OK', message: `Logged in to 127.0.0.1:${server.port} as user@example.test` });
		expect(server.logins).toEqual([`user=user@example.test\x01auth=Bearer ${GOOD_TOKEN}\x01\x01`]);
	});

	it("reports the server's decoded XOAUTH2 refusal without the token", async () => {
		const result = await checkImapLogin('mailServerOAuth2Api', credentialData(server.port, { access_token: BAD_TOKEN }));
		expect(result.status).toBe('Error');
		expect(result.message).toBe(
			`IMAP login to 127.0.0.1:${server.port} failed: the server answered status 401 (scope "mail") (Authentication failed.)`,
		);
		expect(result.message).not.toContain(BAD_TOKEN);
	});

	it('reports an expired token without contacting the server, since a test cannot refresh and save it', async () => {
		const result = await checkImapLogin(
			'mailServerOAuth2Api',
			credentialData(server.port, { access_token: GOOD_TOKEN, n8n_expires_at: String(NOW - 1000) }),
			{ now: () => NOW },
		);
		expect(result.status).toBe('Error');
		expect(result.message).toContain('expired at 2025-06-15T15:06:39.000Z');
		expect(result.message).toContain('cannot refresh');
		expect(server.connections()).toBe(0);
	});

	it('reports a credential that is not connected', async () => {
		const result = await checkImapLogin('mailServerOAuth2Api', credentialData(server.port, undefined));
		expect(result).toEqual({ status: 'Error', message: 'The credential is not connected: click "Connect my account" first' });
	});

	it('names the missing field when the generic credential has no IMAP host', async () => {
		const result = await checkImapLogin('mailServerOAuth2Api', credentialData(server.port, { access_token: GOOD_TOKEN }, { imapHost: '' }));
		expect(result.status).toBe('Error');
		expect(result.message).toContain('"IMAP Host" (imapHost)');
	});

	it('reports a server that cannot be reached', async () => {
		const closedPort = server.port;
		await server.close();
		server = await startFakeImapServer();
		const result = await checkImapLogin('mailServerOAuth2Api', credentialData(closedPort, { access_token: GOOD_TOKEN }));
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(new RegExp(`^Could not log in to 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
	});

	it('is usable as an n8n credential test function', async () => {
		const credential: ICredentialsDecrypted = {
			id: '1',
			name: 'Local stack',
			type: 'mailServerOAuth2Api',
			data: credentialData(server.port, { access_token: GOOD_TOKEN }),
		};
		expect(MAIL_CREDENTIAL_TEST_NAME).toBe('mailOAuth2ImapLoginTest');
		expect(await testMailCredential(credential)).toMatchObject({ status: 'OK' });
	});
});
