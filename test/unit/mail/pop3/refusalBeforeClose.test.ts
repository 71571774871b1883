/**
 * A server that refuses a command (`-ERR [SYS/PERM] …`) and then closes the connection at once, as Gmail does when POP
 * access is switched off in the middle of a session. The refusal had fully arrived before the close, so it is what is
 * reported (with its RFC 3206 response code), not "the connection was closed": in lock-step (no PIPELINING, Gmail) and
 * inside a pipelined window, where the RETRs written behind the refused one are the ones the close cut off.
 */
import { Pop3CommandError, Pop3ConnectionError } from '../../../../nodes/mail/pop3/errors';
import { waitUntil } from '../../../support/waitUntil';
import { clientFor, GOOD_TOKEN, readAll, USER } from './clientTestKit';
import { FakeMailbox, type FakePop3Server, GMAIL_LIKE_CAPABILITIES, startFakePop3Server } from './fakePop3Server';
import { clientQuiet, closeMailboxFixtures, fetchUntilBroken, message, type Override } from './mailboxTestKit';

const PIPELINING_CAPABILITIES = [...GMAIL_LIKE_CAPABILITIES, 'PIPELINING'];
const POP_DISABLED = '-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page.\r\n';

let servers: FakePop3Server[] = [];
afterEach(async () => {
	await closeMailboxFixtures();
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

function numberedMailbox(count: number, capabilities: string[]): FakeMailbox {
	const messages = Array.from({ length: count }, (_value, index) => message(`m${index + 1}`));
	return new FakeMailbox({ messages, capabilities, validToken: GOOD_TOKEN, user: USER });
}

/**
 * Answers `command` with Gmail's "POP disabled" refusal and closes its side right after (FIN), answering nothing
 * more. `waitForPipeline`: first waits until the client stopped writing, so every RETR it pipelines is in flight.
 */
function refusesThenCloses(command: string, options: { waitForPipeline?: boolean } = {}): Override {
	let closed = false;
	return async (received, session) => {
		if (closed) return true;
		if (received !== command) return false;
		closed = true;
		if (options.waitForPipeline) await clientQuiet(session);
		session.socket.end(POP_DISABLED);
		return true;
	};
}

function expectRefusal(error: unknown, step: string): void {
	expect(error).toBeInstanceOf(Pop3CommandError);
	expect(error).toMatchObject({ step, responseCode: 'SYS/PERM' });
	expect((error as Error).message).toContain('[SYS/PERM] Your account is not enabled for POP access');
	expect((error as Error).message).not.toMatch(/closed the connection|ended before/);
}

describe('Pop3Client: -ERR then close', () => {
	it('a pipelined RETR whose -ERR arrived before the close gets the refusal; the RETR written behind it names the cut', async () => {
		const mailbox = numberedMailbox(4, PIPELINING_CAPABILITIES);
		const fallback = mailbox.handler();
		const override = refusesThenCloses('RETR 2', { waitForPipeline: true });
		const server = await startFakePop3Server({
			onCommand: async (command, session) => {
				if (!(await override(command, session))) await fallback(command, session);
			},
		});
		servers.push(server);
		const client = clientFor(server);
		await client.connect();
		await client.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect(client.pipelining).toBe(true);
		const replies = [1, 2, 3].map((number) => client.retr(number, { pipelined: true }));
		for (const reply of replies) reply.catch(() => undefined);
		const first = await replies[0];
		// The -ERR and the close arrive while RETR 1's body is still unread.
		await waitUntil(() => !client.usable, 'the client to see the close');
		expect((await readAll(first)).toString('latin1')).toBe(message('m1'));
		expectRefusal(await replies[1].catch((error: unknown) => error), 'RETR 2');
		const third = await replies[2].catch((error: unknown) => error);
		expect(third).toBeInstanceOf(Pop3ConnectionError);
		expect(third).toMatchObject({ step: 'RETR 3', message: 'The POP3 connection ended before the server answered RETR 3' });
	});
});

describe('fetchNew: a RETR refused with [SYS/PERM], then the connection closed', () => {
	describe.each([false, true])('continueOnMessageError: %s', (continueOnMessageError) => {
		it.each([
			['RETR 1', 'at its turn'],
			['RETR 3', 'read ahead'],
		])('lock-step (no PIPELINING, Gmail), %s refused %s: the error is the refusal, not the close', async (refused) => {
			const mailbox = numberedMailbox(6, GMAIL_LIKE_CAPABILITIES);
			const { server, error, consumed, unseen } = await fetchUntilBroken(mailbox, refusesThenCloses(refused), { continueOnMessageError, consumeMs: 30 });
			const before = Number(refused.split(' ')[1]) - 1;
			expectRefusal(error, refused);
			expect(consumed).toEqual(mailbox.messages.slice(0, before).map((content) => content.toString('latin1')));
			expect(unseen).toEqual(mailbox.uids.slice(before));
			expect(server.allCommands).not.toContain('QUIT');
		});

		it('lock-step with deletion: the error is the refusal, not the DELE the close cut off', async () => {
			const mailbox = numberedMailbox(6, GMAIL_LIKE_CAPABILITIES);
			const { server, error, consumed } = await fetchUntilBroken(mailbox, refusesThenCloses('RETR 3'), { continueOnMessageError, deleteAfter: true, consumeMs: 30 });
			expectRefusal(error, 'RETR 3');
			expect(consumed).toEqual([message('m1'), message('m2')]);
			expect(server.allCommands).not.toContain('QUIT');
			expect(mailbox.removed).toEqual([]);
		});

		// Without Continue On Fail a refused RETR 3 ends the run itself (its refusal is the error), before any RETR 4.
		it.each(continueOnMessageError ? [['RETR 4', false] as const, ['DELE 2', true] as const] : [['DELE 2', true] as const])(
			'a refusal of one message (no session-level code), then the server drops at %s: the drop is reported, not the refusal', async (droppedAt, deleteAfter) => {
			const mailbox = numberedMailbox(6, GMAIL_LIKE_CAPABILITIES);
			let refused = false;
			const { server, error } = await fetchUntilBroken(
				mailbox,
				(command, session) => {
					if (command === 'RETR 3') {
						refused = true;
						session.socket.write('-ERR no such message\r\n');
						return true;
					}
					if (!refused || command !== droppedAt) return false;
					session.socket.end();
					return true;
				},
				{ continueOnMessageError, deleteAfter, consumeMs: 30 },
			);
			expect(error).toBeInstanceOf(Pop3ConnectionError);
			expect((error as Error).message).not.toMatch(/no such message/);
			expect(server.allCommands).not.toContain('QUIT');
			expect(mailbox.removed).toEqual([]);
		},
		);

		it('pipelined window (several RETRs in flight): the error is the refusal, not the RETRs the close cut off', async () => {
			const mailbox = numberedMailbox(20, PIPELINING_CAPABILITIES);
			const { server, error, consumed, unseen } = await fetchUntilBroken(
				mailbox,
				refusesThenCloses('RETR 4', { waitForPipeline: true }),
				{ continueOnMessageError, consumeMs: 30 },
			);
			// RETR 2..17 were written before the server answered RETR 2.
			expect(server.allCommands.filter((command) => command.startsWith('RETR ')).length).toBeGreaterThan(4);
			expectRefusal(error, 'RETR 4');
			expect(consumed).toEqual([message('m1'), message('m2'), message('m3')]);
			expect(unseen).toEqual(mailbox.uids.slice(3));
			expect(server.allCommands).not.toContain('QUIT');
		});
	});
});
