/**
 * The Gmail POP node against a scripted POP3 server (TLS, its own CA) for replies Dovecot cannot produce: Gmail's
 * "POP not enabled" ([SYS/PERM]), a busy server, malformed listings, a QUIT the server refuses, a connection cut in
 * the middle of a message. Each must end in a clear error or a safe outcome: nothing lost, nothing returned twice.
 */
import { NodeOperationError } from 'n8n-workflow';

import { SEEN_STATE_KEY } from '../../../nodes/GmailPop/execute';
import type { StoredSeenState } from '../../../nodes/mail/pop3/seenState';
import {
	FakeMailbox,
	type FakePop3Server,
	type FakeSession,
	makeSelfSignedCertificate,
	startFakePop3Server,
} from '../../unit/mail/pop3/fakePop3Server';
import { StoredCredential } from '../harness/credentials';
import { PopNodeHarness } from './popHarness';
import { expectRejection, stack } from './popTestKit';

jest.setTimeout(30_000);

const USER = 'someone@example.com';
const TOKEN = 'ya29.fake-valid-token';
const certificate = makeSelfSignedCertificate();
const message = (subject: string) => `From: a@example.com\r\nTo: ${USER}\r\nSubject: ${subject}\r\n\r\nbody ${subject}\r\n`;

let servers: FakePop3Server[] = [];
afterEach(async () => {
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

type Override = (command: string, session: FakeSession) => Promise<boolean> | boolean;

/** A TLS fake server answering from `mailbox`, except where `override` handles the command (returns true). */
async function serve(mailbox: FakeMailbox, override?: Override, greeting?: string) {
	const fallback = mailbox.handler();
	const server = await startFakePop3Server({
		tls: certificate,
		greeting: greeting ?? '+OK Gpop ready for requests from 127.0.0.1\r\n',
		onCommand: async (command, session) => {
			if (override && (await override(command, session))) return;
			await fallback(command, session);
		},
	});
	servers.push(server);
	const credential = StoredCredential.mailServer(
		stack,
		USER,
		{ access_token: TOKEN, refresh_token: 'refresh-not-used', expires_in: 3600 },
		{ popHost: '127.0.0.1', popPort: server.port, popSecurity: 'tls' },
	);
	const harness = new PopNodeHarness(credential, {
		tls: { ca: certificate.cert, servername: 'localhost' },
		timeouts: { command: 3000, idle: 3000 },
	});
	return { server, harness, credential };
}

const GET_MANY = { authentication: 'mailServerOAuth2Api', operation: 'getAll', returnAll: true, format: 'simple', options: {} };

function record(harness: PopNodeHarness): StoredSeenState | undefined {
	return harness.nodeStaticData?.[SEEN_STATE_KEY] as StoredSeenState | undefined;
}

describe('Gmail POP node with Gmail-only and broken server replies', () => {
	it('POP disabled in Gmail ([SYS/PERM] after AUTH): says how to enable it; no token refresh, connection dropped', async () => {
		const mailbox = new FakeMailbox({ messages: [message('one')], validToken: TOKEN, user: USER });
		const { server, harness, credential } = await serve(mailbox, async (command, session) => {
			if (!command.startsWith('AUTH ')) return false;
			await session.send('-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.\r\n');
			return true;
		});
		const error = await expectRejection(harness.run({ parameters: GET_MANY }));
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe(`POP3 access is disabled for the account "${USER}"`);
		expect(error.description).toContain('Enable POP for all mail');
		expect(error.description).not.toContain(TOKEN);
		expect(credential.refreshRequests).toBe(0);
		expect(server.allCommands.filter((command) => command.startsWith('AUTH'))).toHaveLength(1);
		expect(server.allCommands).not.toContain('QUIT');
	});

	it('a busy mailbox ([IN-USE] after AUTH, [SYS/TEMP] in the greeting): "try again later", nothing downloaded', async () => {
		const mailbox = new FakeMailbox({ messages: [message('one')], validToken: TOKEN, user: USER });
		const inUse = await serve(mailbox, async (command, session) => {
			if (!command.startsWith('AUTH ')) return false;
			await session.send('-ERR [IN-USE] Mailbox locked by another session\r\n');
			return true;
		});
		const error = await expectRejection(inUse.harness.run({ parameters: GET_MANY }));
		expect(error.message).toBe(`The POP3 server 127.0.0.1:${inUse.server.port} is busy for this mailbox and refused the session`);
		expect(error.description).toContain('try again later');

		const temp = await serve(mailbox, undefined, '-ERR [SYS/TEMP] Too many simultaneous connections\r\n');
		const greetingError = await expectRejection(temp.harness.run({ parameters: GET_MANY }));
		expect(greetingError.message).toBe(`The POP3 server 127.0.0.1:${temp.server.port} is busy for this mailbox and refused the session`);
		expect(temp.server.allCommands).toEqual([]);
	});

	it('malformed replies (a STAT without numbers, UIDL and LIST that disagree) end in a clear protocol error', async () => {
		const mailbox = new FakeMailbox({ messages: [message('one'), message('two')], validToken: TOKEN, user: USER });
		const badStat = await serve(mailbox, async (command, session) => {
			if (command !== 'STAT') return false;
			await session.send('+OK lots of mail\r\n');
			return true;
		});
		const statError = await expectRejection(badStat.harness.run({ parameters: { ...GET_MANY, operation: 'getCount' } }));
		expect(statError.message).toBe(`The POP3 server 127.0.0.1:${badStat.server.port} sent a malformed reply to STAT`);
		expect(statError.description).toContain('lots of mail');

		const badListing = await serve(mailbox, async (command, session) => {
			if (command !== 'UIDL') return false;
			await session.send('+OK\r\n1 uid-1\r\n.\r\n');
			return true;
		});
		const listingError = await expectRejection(badListing.harness.run({ parameters: GET_MANY }));
		expect(listingError.message).toBe(`The POP3 server 127.0.0.1:${badListing.server.port} sent a malformed reply to LIST`);
		expect(listingError.description).toContain('2 messages in LIST but 1 in UIDL');
		expect(badListing.server.allCommands.some((command) => command.startsWith('RETR'))).toBe(false);
	});

	it.each([
		['lock-step (no PIPELINING, as Gmail)', []],
		['a pipelined window (PIPELINING)', ['PIPELINING']],
	])('POP switched off mid-session ([SYS/PERM] to a RETR, then the server hangs up), %s: the refusal is reported, not the close', async (_label, extra) => {
		const messages = ['one', 'two', 'three', 'four', 'five', 'six'].map(message);
		const capabilities = ['USER', 'RESP-CODES', 'TOP', 'UIDL', 'SASL PLAIN XOAUTH2 OAUTHBEARER', ...extra];
		const mailbox = new FakeMailbox({ messages, capabilities, validToken: TOKEN, user: USER });
		const refusal = '[SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.';
		let hungUp = false;
		const { server, harness } = await serve(mailbox, async (command, session) => {
			if (hungUp) return true;
			if (command !== 'RETR 3') return false;
			hungUp = true;
			await new Promise((resolve) => setTimeout(resolve, 50)); // every RETR the client pipelines is in flight
			session.socket.end(`-ERR ${refusal}\r\n`);
			return true;
		});
		for (const continueOnFail of [false, true]) {
			hungUp = false;
			const sentBefore = server.allCommands.length;
			const run = harness.run({ parameters: { ...GET_MANY, options: { deleteAfterDownload: true } }, continueOnFail });
			const error = continueOnFail ? undefined : await expectRejection(run);
			const text = error ? error.message : String((await run).items.at(-1)?.json.error);
			expect(text).toBe(`The POP3 server 127.0.0.1:${server.port} refused RETR 3: ${refusal}`);
			// What to do: the account's problem, not the message's (with a Google credential, how to switch POP on).
			if (error) expect(error.description).toMatch(/permanent problem with the account, not with the message.*(Enable POP for all mail|operator)/);
			expect(record(harness)).toBeUndefined();
			// With PIPELINING, RETR 4..6 were written before the refusal of RETR 3 came back; the close cut them off.
			const retrs = server.allCommands.slice(sentBefore).filter((command) => command.startsWith('RETR '));
			if (extra.length > 0) expect(retrs).toEqual(['RETR 1', 'RETR 2', 'RETR 3', 'RETR 4', 'RETR 5', 'RETR 6']);
		}
		expect(server.allCommands).not.toContain('QUIT');
		expect(mailbox.removed).toEqual([]);
	});

	it('a connection cut in the middle of a message: the run fails, nothing is remembered, the next run gets everything', async () => {
		const mailbox = new FakeMailbox({ messages: [message('one'), `${message('two')}${'x'.repeat(50_000)}\r\n`], validToken: TOKEN, user: USER });
		let cut = true;
		const { harness } = await serve(mailbox, async (command, session) => {
			if (command !== 'RETR 2' || !cut) return false;
			cut = false;
			await session.send('+OK message follows\r\nFrom: a@example.com\r\nSubject: two\r\n\r\npartial');
			session.destroy();
			return true;
		});
		const error = await expectRejection(harness.run({ parameters: { ...GET_MANY, options: { deleteAfterDownload: true } } }));
		expect(error.message).toMatch(/^The POP3 connection to 127\.0\.0\.1:\d+ failed \(step: RETR 2 \(message body\)\)$/);
		expect(record(harness)).toBeUndefined();
		expect(mailbox.removed).toEqual([]);
		// RETR 2 went out (read ahead) before DELE 1, so the cut came first and message 1 was never even marked; a mark
		// would not have counted either, as a server forgets them when a session ends without QUIT.
		expect(mailbox.deleted).toEqual(new Set());

		const retry = await harness.run({ parameters: { ...GET_MANY, options: { deleteAfterDownload: true } } });
		expect(retry.items.map((item) => item.json.subject)).toEqual(['one', 'two']);
		expect(mailbox.removed).toEqual([1, 2]);
	});

	it('a QUIT the server refuses: Delete fails (not confirmed); Get Many keeps its items and retries the deletions next run', async () => {
		const mailbox = new FakeMailbox({ messages: [message('one'), message('two'), message('three')], validToken: TOKEN, user: USER });
		let refuseQuit = true;
		const { harness } = await serve(mailbox, async (command, session) => {
			if (command !== 'QUIT' || !refuseQuit) return false;
			await session.send('-ERR [SYS/TEMP] could not apply changes\r\n');
			session.end();
			return true;
		});

		const deleteError = await expectRejection(
			harness.run({ parameters: { ...GET_MANY, operation: 'delete', uidl: 'uid-3' } }),
		);
		expect(deleteError.message).toBe('The POP3 server did not confirm the deletion of message "uid-3"');
		expect(mailbox.removed).toEqual([]);
		mailbox.deleted.clear();

		const parameters = { ...GET_MANY, returnAll: false, limit: 2, options: { deleteAfterDownload: true } };
		const first = await harness.run({ parameters });
		expect(first.items.map((item) => item.json.subject)).toEqual(['one', 'two']);
		expect(first.logs.some((entry) => entry.level === 'warn' && /did not confirm the end of the session/.test(entry.message))).toBe(true);
		expect(mailbox.removed).toEqual([]);
		expect(record(harness)).toMatchObject({ uidls: ['uid-1', 'uid-2'], pendingDelete: ['uid-1', 'uid-2'] });

		refuseQuit = false;
		mailbox.deleted.clear();
		const second = await harness.run({ parameters });
		// Only the new message is returned; the two delivered before are deleted now.
		expect(second.items.map((item) => item.json.subject)).toEqual(['three']);
		expect(mailbox.removed.sort()).toEqual([1, 2, 3]);
		expect(record(harness)).toMatchObject({ uidls: [] });
		expect(record(harness)?.pendingDelete).toBeUndefined();
	});

	it('"Gmail Recent Mode" is ignored for a non-Gmail credential: the login user stays the plain address', async () => {
		const mailbox = new FakeMailbox({ messages: [], validToken: TOKEN, user: USER });
		const { server, harness } = await serve(mailbox);
		await harness.run({ parameters: { ...GET_MANY, operation: 'getCount', options: { gmailRecentMode: true } } });
		const auth = server.allCommands.find((command) => command.startsWith('AUTH XOAUTH2 '));
		expect(Buffer.from(auth?.split(' ')[2] ?? '', 'base64').toString()).toMatch(new RegExp(`^user=${USER}\x01`));
	});
});
