/**
 * Gmail POP Get / Delete by UIDL, Get Count, byte-exact content, and the errors a real server can produce
 * (untrusted certificate, a port that does not speak POP3, nothing listening, a token for another account, a revoked
 * refresh token), each a NodeOperationError that names the cause and the fix and never contains a token.
 */
import * as crypto from 'node:crypto';
import type { INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import * as net from 'node:net';

import { attributes, deliverNumbered, everythingIn, expectRejection, GET_MANY, newAccount, popSessionEnds, stack } from './popTestKit';

jest.setTimeout(60_000);

const BASE = { authentication: 'mailServerOAuth2Api', format: 'simple', options: {} };
const hex = (value: number) => value.toString(16).padStart(8, '0');

async function uidlsOf(user: string): Promise<string[]> {
	const state = await stack.mailboxState(user);
	return state.messages.map((message) => `${hex(message.uid)}${hex(state.uidValidity)}`);
}

function binaryBytes(item: INodeExecutionData, property: string): Buffer {
	const data = item.binary?.[property];
	if (!data) throw new Error(`no binary property ${property}`);
	return Buffer.from(data.data, 'base64');
}

describe('Gmail POP operations on Dovecot POP3S', () => {
	it('Get Count reports what STAT reports: the number of messages and their total size', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const state = await stack.mailboxState(account.user);
		const run = await account.harness.run({ parameters: { ...BASE, operation: 'getCount' } });
		expect(run.items).toEqual([
			{ json: { count: 3, size: state.messages.reduce((sum, message) => sum + message.size, 0) }, pairedItem: { item: 0 } },
		]);
		expect(run.staticDataSaved).toBe(false);
		expect(await popSessionEnds(account.user, 1)).toEqual([{ how: 'quit', retrieved: 0, deleted: 0 }]);
	});

	it('Get returns one message by UIDL per item (an expression), in the same shape as Get Many; the mailbox is unchanged', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const uidls = await uidlsOf(account.user);
		const run = await account.harness.run({
			parameters: { ...BASE, operation: 'get', uidl: (item: INodeExecutionData) => item.json.wanted },
			items: [{ json: { wanted: uidls[2] } }, { json: { wanted: ` ${uidls[0]} ` } }],
		});
		expect(run.items.map((item) => [item.json.subject, attributes(item), item.pairedItem])).toEqual([
			['message 3', { uidl: uidls[2], messageNumber: 3, size: expect.any(Number) }, { item: 0 }],
			['message 1', { uidl: uidls[0], messageNumber: 1, size: expect.any(Number) }, { item: 1 }],
		]);
		expect(await uidlsOf(account.user)).toEqual(uidls);

		expect(run.staticDataSaved).toBe(false);

		// Get left no trace in the record: Get Many still returns all three, the third exactly as Get returned it.
		const many = await account.harness.run({ parameters: GET_MANY });
		expect(many.items).toHaveLength(3);
		expect(many.items[2]).toEqual(run.items[0]);
	});

	it('Delete removes exactly the message named, and says so only after the server confirmed it at QUIT', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const uidls = await uidlsOf(account.user);
		const run = await account.harness.run({ parameters: { ...BASE, operation: 'delete', uidl: uidls[1] } });
		expect(run.items).toEqual([{ json: { uidl: uidls[1], deleted: true }, pairedItem: { item: 0 } }]);
		expect(await uidlsOf(account.user)).toEqual([uidls[0], uidls[2]]);
	});

	it('a UIDL that is not on the server fails clearly; with Continue On Fail it is an error item and the others proceed', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 2);
		const uidls = await uidlsOf(account.user);
		const error = await expectRejection(
			account.harness.run({ parameters: { ...BASE, operation: 'get', uidl: 'not-a-uidl' } }),
		);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe('No message with UIDL "not-a-uidl" is in the POP3 mailbox');
		expect(error.description).toContain('attributes.uidl');

		const run = await account.harness.run({
			parameters: { ...BASE, operation: 'delete', uidl: (item: INodeExecutionData) => item.json.uidl },
			items: [{ json: { uidl: 'gone' } }, { json: { uidl: uidls[0] } }],
			continueOnFail: true,
		});
		expect(run.items).toEqual([
			{ json: { error: 'No message with UIDL "gone" is in the POP3 mailbox' }, pairedItem: { item: 0 } },
			{ json: { uidl: uidls[0], deleted: true }, pairedItem: { item: 1 } },
		]);
		expect(await uidlsOf(account.user)).toEqual([uidls[1]]);
	});

	it('content is byte-exact: dot-stuffed lines in raw format, and binary attachments in resolved format', async () => {
		const account = await newAccount();
		// Stored as is (no SMTP on the way), with lines a POP3 server must dot-stuff and 8-bit bytes.
		const raw =
			'From: a@example.test\r\nTo: ' + account.user + '\r\nSubject: dots\r\nContent-Type: text/plain; charset=utf-8\r\n' +
			'Content-Transfer-Encoding: 8bit\r\n\r\n.\r\n..\r\n.leading dot\r\n...three\r\nGrüße € end\r\n';
		await stack.saveMessage(account.user, raw);
		const attachment = crypto.randomBytes(300_000);
		const dotted = Buffer.from('.line one\r\n.\r\n..\r\nlast\r\n', 'latin1');
		await stack.deliver({
			to: account.user,
			subject: 'attachments',
			text: 'see attached',
			attachments: [
				{ filename: 'random.bin', content: attachment, contentType: 'application/octet-stream' },
				{ filename: 'dotted.txt', content: dotted, contentType: 'application/octet-stream' },
			],
		});

		const rawRun = await account.harness.run({ parameters: { ...GET_MANY, format: 'raw', returnAll: false, limit: 1 } });
		const stored = (await stack.mailboxState(account.user, 'INBOX', { includeRaw: true })).messages[0].raw ?? '';
		expect(`${String(rawRun.items[0].json.rawHeaders)}\r\n${String(rawRun.items[0].json.raw)}`).toBe(stored);
		expect(String(rawRun.items[0].json.raw)).toBe('.\r\n..\r\n.leading dot\r\n...three\r\nGrüße € end\r\n');

		const resolved = await account.harness.run({ parameters: { ...GET_MANY, format: 'resolved' } });
		expect(resolved.items).toHaveLength(1);
		const item = resolved.items[0];
		expect(item.json.subject).toBe('attachments');
		expect(binaryBytes(item, 'attachment_0').equals(attachment)).toBe(true);
		expect(binaryBytes(item, 'attachment_1').equals(dotted)).toBe(true);
		expect(item.binary?.attachment_0?.fileName).toBe('random.bin');
	});

	it('STARTTLS on the plain port works when the credential asks for it', async () => {
		const account = await newAccount({ fields: { popPort: stack.ports.pop3, popSecurity: 'starttls' } });
		await deliverNumbered(account.user, 1);
		const run = await account.harness.run({ parameters: { ...BASE, operation: 'getCount' } });
		expect(run.items[0].json.count).toBe(1);
	});
});

describe('Gmail POP errors from a real server', () => {
	it('an untrusted certificate: the token is never sent, the error says how to fix it', async () => {
		const account = await newAccount({ trustStackCa: false });
		const since = Date.now();
		const error = await expectRejection(account.harness.run({ parameters: { ...BASE, operation: 'getCount' } }));
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe(`The TLS certificate of the POP3 server ${stack.host}:${stack.ports.pop3s} is not trusted`);
		expect(error.description).toMatch(/"CA Certificate \(PEM\)".*"Ignore Mail Server Certificate Errors \(Insecure\)" only if that is not possible/);
		expect(await stack.tokenRequestCount({ user: account.user, since })).toBe(0);

		// The credential's switch makes it work (verification off).
		const insecure = await newAccount({ trustStackCa: false, fields: { allowUnauthorizedCerts: true } });
		expect((await insecure.harness.run({ parameters: { ...BASE, operation: 'getCount' } })).items[0].json.count).toBe(0);
	});

	it('a port that does not speak POP3 (IMAPS): a malformed-reply error naming the step, nothing else tried', async () => {
		const account = await newAccount({ fields: { popPort: stack.ports.imaps } });
		const error = await expectRejection(account.harness.run({ parameters: GET_MANY }));
		expect(error.message).toBe(`The POP3 server ${stack.host}:${stack.ports.imaps} sent a malformed reply to greeting`);
		expect(error.description).toContain('nothing was lost');
	});

	it('nothing listening: a connection error with host, port and what to check (not n8n\'s generic text)', async () => {
		const closedPort = await new Promise<number>((resolve) => {
			const server = net.createServer().listen(0, '127.0.0.1', () => {
				const { port } = server.address() as net.AddressInfo;
				server.close(() => resolve(port));
			});
		});
		const account = await newAccount({ fields: { popPort: closedPort } });
		const error = await expectRejection(account.harness.run({ parameters: GET_MANY }));
		expect(error.message).toBe(`The POP3 connection to ${stack.host}:${closedPort} failed (step: connect)`);
		expect(error.description).toContain('ECONNREFUSED');
		expect(error.description).toContain('Check the host and port in the credential');
	});

	it('a token for another account: refused, refreshed once, refused again → a clear error without any token in it', async () => {
		const account = await newAccount({ tokenUser: stack.newMailbox('someone-else') });
		const since = Date.now();
		const error = await expectRejection(account.harness.run({ parameters: GET_MANY }));
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/^The POP3 server refused a freshly refreshed access token: /);
		expect(error.description).toContain(`account "${account.user}"`);
		expect(await stack.tokenRequestCount({ grantType: 'refresh_token', since, outcome: 'ok' })).toBeGreaterThanOrEqual(1);
		expect(account.credential.refreshRequests).toBe(1);
		const exposed = everythingIn(error);
		for (const secret of [account.accessToken, String(account.credential.tokenData.access_token), account.refreshToken]) {
			expect(exposed).not.toContain(secret);
		}
		expect(exposed).not.toContain(Buffer.from(`auth=Bearer ${account.accessToken}`).toString('base64').slice(0, 40));
		await stack.waitForNoSessions(account.user);
	});

	it('a revoked refresh token with an expired access token: "reconnect the credential", no login attempted', async () => {
		const account = await newAccount({ lifetimeSeconds: 60, storedExpiresAt: Date.now() - 1000 });
		await stack.revokeRefreshToken(account.refreshToken);
		const error = await expectRejection(account.harness.run({ parameters: GET_MANY }));
		expect(error.message).toMatch(/must be reconnected/);
		expect(await popSessionEnds(account.user, 0, 0)).toEqual([]);
	});
});
