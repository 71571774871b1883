/**
 * fetchNew over a server that advertises PIPELINING (RFC 2449): RETRs for the next small messages go out before the
 * replies before them arrived, bounded in count and in LIST bytes; every reply is matched in order; a large message is
 * streamed with nothing asked for behind it; a cut connection and lying sizes inside a window. Without PIPELINING
 * (Gmail) nothing changes: one message read ahead.
 */
import { Pop3ConnectionError } from '../../../../nodes/mail/pop3/errors';
import { PIPELINE_MAX_BYTES, PIPELINE_MAX_MESSAGES, READ_AHEAD_MAX_BYTES } from '../../../../nodes/mail/pop3/mailbox';
import { SeenTracker } from '../../../../nodes/mail/pop3/seenState';
import { waitUntil } from '../../../support/waitUntil';
import { GOOD_TOKEN, readAll, USER } from './clientTestKit';
import { FakeMailbox, GMAIL_LIKE_CAPABILITIES, pause } from './fakePop3Server';
import { clientQuiet, closeMailboxFixtures, closesAt, fetchUntilBroken, listedAs, message, open, type Override, serve, tokenSource } from './mailboxTestKit';

afterEach(closeMailboxFixtures);

const PIPELINING_CAPABILITIES = [...GMAIL_LIKE_CAPABILITIES, 'PIPELINING'];

function numberedMailbox(count: number, capabilities: string[] = PIPELINING_CAPABILITIES): FakeMailbox {
	const messages = Array.from({ length: count }, (_value, index) => message(`m${index + 1}`));
	return new FakeMailbox({ messages, capabilities, validToken: GOOD_TOKEN, user: USER });
}

const isRetr = (command: string) => command.startsWith('RETR ');

/**
 * RETR answered as the mailbox would, after the client went quiet, recording how many RETRs were outstanding
 * (written by the client, not yet answered) at each: the depth of the pipeline as the server sees it.
 */
function watchingRetrs(then: Override = () => false): { override: Override; outstanding: number[] } {
	const outstanding: number[] = [];
	let answered = 0;
	const override: Override = async (command, session) => {
		if (!isRetr(command)) return then(command, session);
		await clientQuiet(session);
		outstanding.push(session.received.filter(isRetr).length - answered);
		answered++;
		return then(command, session);
	};
	return { override, outstanding };
}

async function fetchAll(mailbox: FakeMailbox, override: Override, options: { deleteAfter?: boolean } = {}) {
	const server = await serve(mailbox, override);
	const session = await open(server, tokenSource([GOOD_TOKEN]));
	const result = await session.fetchNew(SeenTracker.empty('acct'), {
		deleteAfter: options.deleteAfter ?? false,
		continueOnMessageError: false,
		consume: async (source) => (await readAll(source)).toString('latin1'),
	});
	const values = result.outcomes.map((outcome) => ('value' in outcome ? outcome.value : outcome.error));
	return { server, session, values };
}

const expectedTexts = (mailbox: FakeMailbox) => mailbox.messages.map((content) => content.toString('latin1'));

describe('fetchNew with PIPELINING advertised', () => {
	it(`keeps up to ${PIPELINE_MAX_MESSAGES} RETRs outstanding and returns every message once, in order, intact`, async () => {
		const mailbox = numberedMailbox(40);
		const { override, outstanding } = watchingRetrs();
		const { server, values } = await fetchAll(mailbox, override);
		expect(values).toEqual(expectedTexts(mailbox));
		expect(server.allCommands.filter(isRetr)).toEqual(mailbox.messages.map((_content, index) => `RETR ${index + 1}`));
		// RETR 2..17 reached the server before it answered RETR 2; never more than the bound.
		expect(outstanding[1]).toBe(PIPELINE_MAX_MESSAGES);
		expect(Math.max(...outstanding)).toBe(PIPELINE_MAX_MESSAGES);
	});

	it('bounds the outstanding RETRs by their LIST sizes', async () => {
		const mailbox = numberedMailbox(20);
		const listedSize = 700_000;
		const sizes = Object.fromEntries(mailbox.messages.map((_content, index) => [index + 1, listedSize]));
		const { override, outstanding } = watchingRetrs(listedAs(mailbox, sizes));
		const { values } = await fetchAll(mailbox, override);
		expect(values).toEqual(expectedTexts(mailbox));
		expect(Math.max(...outstanding)).toBe(Math.floor(PIPELINE_MAX_BYTES / listedSize));
	});

	it('streams a message large by LIST at its turn, with nothing asked for behind it until it is consumed', async () => {
		const mailbox = numberedMailbox(8);
		const server = await serve(mailbox, listedAs(mailbox, { 4: READ_AHEAD_MAX_BYTES + 1 }));
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const retrsWhenConsumed: string[][] = [];
		const result = await session.fetchNew(SeenTracker.empty('acct'), {
			deleteAfter: false,
			continueOnMessageError: false,
			consume: async (source) => {
				const text = (await readAll(source)).toString('latin1');
				if (!Buffer.isBuffer(source)) await pause(50); // a RETR 5 pipelined behind it would arrive meanwhile
				retrsWhenConsumed.push(server.allCommands.filter(isRetr));
				return text;
			},
		});
		expect(result.outcomes.map((outcome) => ('value' in outcome ? outcome.value : outcome.error))).toEqual(expectedTexts(mailbox));
		expect(retrsWhenConsumed[3]).toEqual(['RETR 1', 'RETR 2', 'RETR 3', 'RETR 4']);
	});

	/** Ends its side cleanly (FIN, no reset) when it receives `command`, and answers nothing more. */
	function endsAt(command: string): Override {
		let ended = false;
		return (received, session) => {
			if (received === command) {
				ended = true;
				session.end();
			}
			return ended;
		};
	}

	it('the server closing inside a window: every reply before the cut is consumed, the error names the RETR it cut', async () => {
		const mailbox = numberedMailbox(20);
		const { server, error, consumed, unseen } = await fetchUntilBroken(mailbox, endsAt('RETR 6'));
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect((error as Pop3ConnectionError).step).toMatch(/^RETR 6\b/);
		expect(consumed).toEqual(expectedTexts(mailbox).slice(0, 5));
		expect(unseen).toEqual(mailbox.uids.slice(5));
		expect(server.allCommands).not.toContain('QUIT');
	});

	it('a connection reset inside a window (replies received may be lost): the error names the first message not consumed', async () => {
		const mailbox = numberedMailbox(20);
		const { error, consumed, unseen } = await fetchUntilBroken(mailbox, closesAt('RETR 6'));
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect(consumed.length).toBeLessThanOrEqual(5);
		expect(consumed).toEqual(expectedTexts(mailbox).slice(0, consumed.length));
		expect((error as Pop3ConnectionError).step).toMatch(new RegExp(`^RETR ${consumed.length + 1}\\b`));
		expect(unseen).toEqual(mailbox.uids.slice(consumed.length));
	});

	it('a RETR refused (-ERR) inside a window is not reported as what broke the session', async () => {
		const mailbox = numberedMailbox(20);
		const closesAtRetr5 = endsAt('RETR 5');
		const server = await serve(mailbox, async (command, session) => {
			if (command !== 'RETR 3') return closesAtRetr5(command, session);
			await session.send('-ERR [SYS/TEMP] try later\r\n');
			return true;
		});
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const error = await session
			.fetchNew(SeenTracker.empty('acct'), {
				deleteAfter: false,
				continueOnMessageError: true,
				consume: async (source) => {
					// The server closes while message 1 is consumed: the refused RETR 3 is read after that.
					await waitUntil(() => !session.usable, 'the server to close');
					return (await readAll(source)).length;
				},
			})
			.then(
				() => undefined,
				(failure: unknown) => failure,
			);
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect((error as Pop3ConnectionError).step).toMatch(/^RETR 5\b/);
	});

	it('with deletion, a cut inside a window is reported as that RETR and no DELE goes out behind it', async () => {
		const mailbox = numberedMailbox(20);
		const server = await serve(mailbox, closesAt('RETR 6'));
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const error = await session
			.fetchNew(SeenTracker.empty('acct'), {
				deleteAfter: true,
				continueOnMessageError: true,
				consume: async (source) => (await readAll(source)).length,
			})
			.then(
				() => undefined,
				(failure: unknown) => failure,
			);
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect((error as Pop3ConnectionError).step).toMatch(/^RETR 6\b/);
		// DELE 1 waits behind the RETRs written before it; the session broke first.
		expect(server.allCommands.filter((command) => command.startsWith('DELE'))).toEqual([]);
		expect(mailbox.removed).toEqual([]);
	});

	it('a message read ahead that is larger than LIST said is skipped inside the window and asked for again at its turn', async () => {
		const huge = `Subject: huge\r\n\r\n${'z\r\n'.repeat(READ_AHEAD_MAX_BYTES)}`;
		const mailbox = new FakeMailbox({
			messages: [message('a'), message('b'), message('c'), huge, message('e'), message('f')],
			capabilities: PIPELINING_CAPABILITIES,
			validToken: GOOD_TOKEN,
			user: USER,
		});
		const { server, session, values } = await fetchAll(mailbox, listedAs(mailbox, { 4: 100 }), { deleteAfter: true });
		expect(values).toEqual(expectedTexts(mailbox));
		expect(server.allCommands.filter((command) => /^(RETR|DELE)/.test(command))).toEqual([
			...['RETR 1', 'RETR 2', 'RETR 3', 'RETR 4', 'RETR 5', 'RETR 6'],
			...['DELE 1', 'DELE 2', 'DELE 3', 'RETR 4', 'DELE 4', 'DELE 5', 'DELE 6'],
		]);
		expect(await session.quit()).toEqual(mailbox.uids);
	});
});

describe('fetchNew without PIPELINING (Gmail)', () => {
	it('never has more than the one RETR read ahead outstanding', async () => {
		const mailbox = numberedMailbox(12, GMAIL_LIKE_CAPABILITIES);
		const { override, outstanding } = watchingRetrs();
		const { values } = await fetchAll(mailbox, override);
		expect(values).toEqual(expectedTexts(mailbox));
		expect(Math.max(...outstanding)).toBe(1);
	});
});
