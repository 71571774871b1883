/**
 * The POP3 mailbox operations (login with one token retry, listing, fetch-new with a seen record, delete, end of
 * session) over the real client and a scripted server, and the user-facing texts of every POP3 failure.
 */

import { Readable } from 'node:stream';

import { AccessTokenRejectedError } from '../../../../nodes/mail/auth/tokenErrors';
import { describePop3Failure } from '../../../../nodes/mail/pop3/describeError';
import {
	Pop3AccessDisabledError,
	Pop3CertificateError,
	Pop3CommandError,
	Pop3ConnectionError,
	Pop3MechanismUnsupportedError,
	Pop3ProtocolError,
	Pop3ServerBusyError,
	Pop3StlsUnavailableError,
	Pop3TimeoutError,
} from '../../../../nodes/mail/pop3/errors';
import {
	READ_AHEAD_MAX_BYTES,
	Pop3DeletionNotConfirmedError,
	Pop3MessageNotFoundError,
	unconfirmedDeletion,
	xoauth2LoginUser,
} from '../../../../nodes/mail/pop3/mailbox';
import { SeenTracker } from '../../../../nodes/mail/pop3/seenState';
import { waitUntil } from '../../../support/waitUntil';
import { BAD_TOKEN, everythingIn, GOOD_TOKEN, readAll, secretForms, USER } from './clientTestKit';
import { FakeMailbox, pause } from './fakePop3Server';
import { closeMailboxFixtures, closesAt, listedAs, message, open, serve, tokenSource } from './mailboxTestKit';

afterEach(closeMailboxFixtures);

describe('openPop3Mailbox', () => {
	it('a refused token is refreshed once and retried on the same connection', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const tokens = tokenSource([BAD_TOKEN, GOOD_TOKEN]);
		const session = await open(server, tokens);
		expect(tokens.refreshed).toEqual([BAD_TOKEN]);
		expect(server.sessions).toHaveLength(1);
		expect(server.allCommands.filter((command) => command.startsWith('AUTH'))).toHaveLength(2);
		expect((await session.stat()).count).toBe(1);
	});

	it('when the server hangs up after refusing, the retry opens a new connection', async () => {
		const mailbox = new FakeMailbox({ messages: [], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, async (command, session) => {
			if (command !== '') return false;
			await session.send('-ERR [AUTH] Invalid credentials.\r\n');
			session.end();
			return true;
		});
		await open(server, tokenSource([BAD_TOKEN, GOOD_TOKEN]));
		expect(server.sessions).toHaveLength(2);
	});

	it('refused again after the refresh: AccessTokenRejectedError, connection closed, no token anywhere in the error', async () => {
		const mailbox = new FakeMailbox({ messages: [], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const error = await open(server, tokenSource([BAD_TOKEN, `${BAD_TOKEN}-2`])).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(AccessTokenRejectedError);
		expect((error as Error).message).toMatch(/status 400/);
		for (const secret of [...secretForms(USER, BAD_TOKEN), ...secretForms(USER, `${BAD_TOKEN}-2`)]) {
			expect(everythingIn(error)).not.toContain(secret);
		}
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(server.sessions.every((session) => session.closed)).toBe(true);
	});

	it('[SYS/PERM] (Gmail: POP disabled) is not a token problem: no refresh, connection closed', async () => {
		const mailbox = new FakeMailbox({ messages: [], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, async (command, session) => {
			if (!command.startsWith('AUTH')) return false;
			await session.send('-ERR [SYS/PERM] Your account is not enabled for POP access.\r\n');
			return true;
		});
		const tokens = tokenSource([GOOD_TOKEN]);
		await expect(open(server, tokens)).rejects.toBeInstanceOf(Pop3AccessDisabledError);
		expect(tokens.refreshed).toEqual([]);
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(server.sessions[0].closed).toBe(true);
	});

	it('sends the XOAUTH2 user it is given, e.g. Gmail recent mode; recent: only for the Google credential', async () => {
		expect(xoauth2LoginUser(USER, { gmail: true, recentMode: true })).toBe(`recent:${USER}`);
		expect(xoauth2LoginUser(USER, { gmail: true, recentMode: false })).toBe(USER);
		expect(xoauth2LoginUser(USER, { gmail: false, recentMode: true })).toBe(USER);
		const mailbox = new FakeMailbox({ messages: [message('a')], validToken: GOOD_TOKEN, user: `recent:${USER}` });
		const server = await serve(mailbox);
		const session = await open(server, tokenSource([GOOD_TOKEN]), `recent:${USER}`);
		expect((await session.stat()).count).toBe(1);
	});
});

describe('Pop3Mailbox operations', () => {
	it('lists UIDL joined with LIST, oldest first; find() by UIDL; an unknown UIDL is Pop3MessageNotFoundError', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('bb')], uids: ['U1', 'U2'], validToken: GOOD_TOKEN, user: USER });
		const session = await open(await serve(mailbox), tokenSource([GOOD_TOKEN]));
		expect(await session.listing()).toEqual([
			{ messageNumber: 1, uidl: 'U1', size: mailbox.messages[0].length },
			{ messageNumber: 2, uidl: 'U2', size: mailbox.messages[1].length },
		]);
		expect((await session.find(' U2 ')).messageNumber).toBe(2);
		await expect(session.find('U3')).rejects.toBeInstanceOf(Pop3MessageNotFoundError);
	});

	it('reads the listing once per session; a message marked deleted drops out of it, as on the server', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b'), message('c')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		await session.find('uid-1');
		await session.delete(await session.find('uid-2'));
		await expect(session.find('uid-2')).rejects.toBeInstanceOf(Pop3MessageNotFoundError);
		expect((await session.listing()).map((entry) => entry.uidl)).toEqual(['uid-1', 'uid-3']);
		expect(server.allCommands.filter((command) => command === 'UIDL' || command === 'LIST')).toEqual(['UIDL', 'LIST']);
	});

	it('refuses a listing that gives one UIDL to two messages', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b')], uids: ['same', 'same'], validToken: GOOD_TOKEN, user: USER });
		const session = await open(await serve(mailbox), tokenSource([GOOD_TOKEN]));
		await expect(session.listing()).rejects.toThrow(new Pop3ProtocolError('The POP3 server gave the same UIDL to two messages ("same")'));
	});

	it('retrieve() releases the session even when the consumer never reads the stream', async () => {
		const mailbox = new FakeMailbox({ messages: [`Subject: big\r\n\r\n${'x'.repeat(200_000)}\r\n`, message('b')], validToken: GOOD_TOKEN, user: USER });
		const session = await open(await serve(mailbox), tokenSource([GOOD_TOKEN]));
		const [first, second] = await session.listing();
		await session.retrieve(first, async () => 'ignored');
		const body = await session.retrieve(second, (stream) => readAll(stream));
		expect(body.toString('latin1')).toBe(message('b'));
	});

	it('fetchNew: oldest unseen first, up to the limit, DELE after each message; deletions applied only by QUIT', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b'), message('c')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const tracker = SeenTracker.empty('acct');
		const result = await session.fetchNew(tracker, {
			limit: 2,
			deleteAfter: true,
			continueOnMessageError: false,
			consume: async (stream) => (await readAll(stream)).toString('latin1'),
		});
		expect(result.outcomes.map((outcome) => ('value' in outcome ? outcome.value : outcome.error))).toEqual([message('a'), message('b')]);
		expect(result.remaining).toBe(1);
		// RETR 2 goes out once message 1 has arrived, before message 1's item is made (read-ahead); DELE 1 after its item.
		expect(server.allCommands.filter((command) => /^(RETR|DELE)/.test(command))).toEqual(['RETR 1', 'RETR 2', 'DELE 1', 'DELE 2']);
		expect(mailbox.removed).toEqual([]);
		expect(await session.quit()).toEqual(['uid-1', 'uid-2']);
		expect(mailbox.removed).toEqual([1, 2]);
		expect(tracker.compact().state.pendingDelete).toEqual(['uid-1', 'uid-2']);
	});

	it('fetchNew: a consumer failure is an outcome (message stays unseen) or, without continueOnMessageError, thrown', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('bad'), message('c')], validToken: GOOD_TOKEN, user: USER });
		const session = await open(await serve(mailbox), tokenSource([GOOD_TOKEN]));
		const consume = async (stream: Buffer | Readable) => {
			const text = (await readAll(stream)).toString('latin1');
			if (text.includes('bad')) throw new Error('cannot store this one');
			return text;
		};
		const tracker = SeenTracker.empty('acct');
		const result = await session.fetchNew(tracker, { deleteAfter: true, continueOnMessageError: true, consume });
		expect(result.outcomes.map((outcome) => ('value' in outcome ? 'ok' : outcome.error.message))).toEqual(['ok', 'cannot store this one', 'ok']);
		expect(tracker.observe(await session.listing()).unseen.map((entry) => entry.uidl)).toEqual(['uid-2']);

		const strict = SeenTracker.empty('acct');
		await expect(session.fetchNew(strict, { deleteAfter: false, continueOnMessageError: false, consume })).rejects.toThrow('cannot store this one');
		// The session survived the consumer's failure.
		expect(session.usable).toBe(true);
		expect((await session.stat()).count).toBe(1);
	});

	it('fetchNew reads a small message ahead while the one before is consumed; a large one is streamed, nothing read ahead of it', async () => {
		const big = `Subject: big\r\n\r\n${'y'.repeat(READ_AHEAD_MAX_BYTES + 1000)}\r\n`;
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b'), big, message('c')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const retrs = () => server.allCommands.filter((command) => command.startsWith('RETR'));
		const seen: Array<{ kind: string; retrsAtStart: string[] }> = [];
		const result = await session.fetchNew(SeenTracker.empty('acct'), {
			deleteAfter: false,
			continueOnMessageError: false,
			consume: async (source) => {
				const text = (await readAll(source)).toString('latin1');
				if (text.includes('body of a')) {
					// message 1's consumer is still running when RETR 2 reaches the server
					const deadline = Date.now() + 2000;
					while (!retrs().includes('RETR 2') && Date.now() < deadline) await pause(5);
				}
				if (text.startsWith('Subject: big')) await pause(100); // no RETR 4 while the big one is being read
				seen.push({ kind: Buffer.isBuffer(source) ? 'buffer' : 'stream', retrsAtStart: retrs() });
				return text;
			},
		});
		expect(result.outcomes.map((outcome) => ('value' in outcome ? outcome.value : outcome.error))).toEqual([message('a'), message('b'), big, message('c')]);
		expect(seen.map((entry) => entry.kind)).toEqual(['buffer', 'buffer', 'stream', 'buffer']);
		expect(seen[0].retrsAtStart).toEqual(['RETR 1', 'RETR 2']);
		expect(seen[2].retrsAtStart).toEqual(['RETR 1', 'RETR 2', 'RETR 3']);
		expect(retrs()).toEqual(['RETR 1', 'RETR 2', 'RETR 3', 'RETR 4']);
	});

	it('fetchNew: a small message (by LIST) that turns out larger than the read-ahead bound reaches the consumer whole, as a stream', async () => {
		const huge = `Subject: huge\r\n\r\n${'z\r\n'.repeat(READ_AHEAD_MAX_BYTES)}`;
		const mailbox = new FakeMailbox({ messages: [message('a'), huge], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, listedAs(mailbox, { 2: 100 }));
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const kinds: string[] = [];
		const result = await session.fetchNew(SeenTracker.empty('acct'), {
			deleteAfter: false,
			continueOnMessageError: false,
			consume: async (source) => {
				kinds.push(Buffer.isBuffer(source) ? 'buffer' : 'stream');
				return (await readAll(source)).toString('latin1');
			},
		});
		expect(kinds).toEqual(['buffer', 'stream']);
		expect(result.outcomes.map((outcome) => ('value' in outcome ? outcome.value === huge : outcome.error))).toEqual([false, true]);
		expect((await session.stat()).count).toBe(2);
	});

	it('fetchNew with deletion: a message read ahead that is larger than LIST said is read again at its turn (no hang on DELE)', async () => {
		const huge = `Subject: huge\r\n\r\n${'z\r\n'.repeat(READ_AHEAD_MAX_BYTES)}`;
		const mailbox = new FakeMailbox({ messages: [message('a'), huge, message('c')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, listedAs(mailbox, { 2: 100 }));
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const result = await session.fetchNew(SeenTracker.empty('acct'), {
			deleteAfter: true,
			continueOnMessageError: false,
			consume: async (source) => (await readAll(source)).length,
		});
		expect(result.outcomes.map((outcome) => ('value' in outcome ? outcome.value : outcome.error))).toEqual([message('a').length, huge.length, message('c').length]);
		expect(server.allCommands.filter((command) => /^(RETR|DELE)/.test(command))).toEqual(['RETR 1', 'RETR 2', 'DELE 1', 'RETR 2', 'DELE 2', 'RETR 3', 'DELE 3']);
		expect(await session.quit()).toEqual(['uid-1', 'uid-2', 'uid-3']);
	});

	it('fetchNew: a consumer that leaves a larger-than-listed message unread releases the session', async () => {
		const huge = `Subject: huge\r\n\r\n${'z\r\n'.repeat(READ_AHEAD_MAX_BYTES)}`;
		const mailbox = new FakeMailbox({ messages: [huge], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, listedAs(mailbox, { 1: 100 }));
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const result = await session.fetchNew(SeenTracker.empty('acct'), { deleteAfter: false, continueOnMessageError: false, consume: async () => 'not read' });
		expect(result.outcomes).toHaveLength(1);
		expect((await session.stat()).count).toBe(1);
	});

	it('fetchNew: when the RETR read ahead breaks the session while the message before it fails, the RETR\'s error is reported', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, closesAt('RETR 2'));
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const unparseable = new Error('cannot parse message a');
		const run = session.fetchNew(SeenTracker.empty('acct'), {
			deleteAfter: false,
			continueOnMessageError: true,
			isMessageFault: (error) => error === unparseable,
			consume: async () => {
				await waitUntil(() => !session.usable, 'RETR 2 to break the session'); // while this message is consumed
				throw unparseable;
			},
		});
		const error = await run.then(
			() => undefined,
			(failure: unknown) => failure,
		);
		expect(error).toBeInstanceOf(Pop3ConnectionError);
		expect((error as Pop3ConnectionError).step).toMatch(/^RETR 2/);
	});

	it('fetchNew: a RETR read ahead that breaks the connection fails at its own message; the message before it keeps its item', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, closesAt('RETR 2'));
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		const tracker = SeenTracker.empty('acct');
		const consumed: string[] = [];
		const run = session.fetchNew(tracker, {
			deleteAfter: false,
			continueOnMessageError: true,
			consume: async (source) => {
				const text = (await readAll(source)).toString('latin1');
				await waitUntil(() => !session.usable, 'RETR 2 to fail'); // while this message is consumed
				consumed.push(text);
				return text;
			},
		});
		await expect(run).rejects.toBeInstanceOf(Pop3ConnectionError);
		expect(consumed).toEqual([message('a')]);
		expect(tracker.observe([{ messageNumber: 1, uidl: 'uid-1', size: 1 }, { messageNumber: 2, uidl: 'uid-2', size: 1 }]).unseen.map((entry) => entry.uidl)).toEqual(['uid-2']);
	});

	it('fetchNew deletes messages of an earlier run whose deletion was never confirmed, without returning them again', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b')], validToken: GOOD_TOKEN, user: USER });
		const session = await open(await serve(mailbox), tokenSource([GOOD_TOKEN]));
		const { tracker } = SeenTracker.load({ version: 1, account: 'acct', uidls: ['uid-1'], pendingDelete: ['uid-1'] }, 'acct');
		const result = await session.fetchNew(tracker, { deleteAfter: true, continueOnMessageError: false, consume: async (stream) => (await readAll(stream)).length });
		expect(result.retriedDeletions).toBe(1);
		expect(result.outcomes.map((outcome) => outcome.entry.uidl)).toEqual(['uid-2']);
		await session.quit();
		expect(mailbox.removed.sort()).toEqual([1, 2]);
	});

	it('end({ quit: true }): QUIT applies the deletions, which come back confirmed', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a'), message('b')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		await session.delete(await session.find('uid-2'));
		const ended = await session.end({ quit: true });
		expect(ended.quitError).toBeUndefined();
		expect([...(ended.confirmedDeletions ?? [])]).toEqual(['uid-2']);
		expect(unconfirmedDeletion(ended, 'uid-2')).toBeUndefined();
		expect(server.allCommands).toContain('QUIT');
		expect(mailbox.removed).toEqual([2]);
		expect(session.usable).toBe(false);
	});

	it('end({ quit: true }): a QUIT the server refuses is returned, not thrown; the connection is closed and no deletion counts as confirmed', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox, async (command, fake) => {
			if (command !== 'QUIT') return false;
			await fake.send('-ERR [SYS/TEMP] could not apply changes\r\n');
			fake.end();
			return true;
		});
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		await session.delete((await session.listing())[0]);
		const ended = await session.end({ quit: true });
		expect(ended.quitError).toBeInstanceOf(Error);
		expect(ended.confirmedDeletions).toBeUndefined();
		const failure = unconfirmedDeletion(ended, 'uid-1');
		expect(failure).toBeInstanceOf(Pop3DeletionNotConfirmedError);
		expect(failure?.message).toBe('The POP3 server did not confirm the deletion of message "uid-1"');
		expect(mailbox.removed).toEqual([]);
		expect(session.usable).toBe(false);
	});

	it('end({ quit: false }) drops the connection without QUIT, and so does end() on a connection that is no longer usable', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		await session.delete((await session.listing())[0]);
		expect(await session.end({ quit: false })).toEqual({});
		expect(await session.end({ quit: true })).toEqual({});
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(server.allCommands).not.toContain('QUIT');
		expect(mailbox.removed).toEqual([]);
		expect(unconfirmedDeletion({}, 'uid-1')).toBeInstanceOf(Pop3DeletionNotConfirmedError);
	});

	it('destroy() ends without QUIT: nothing marked for deletion is removed', async () => {
		const mailbox = new FakeMailbox({ messages: [message('a')], validToken: GOOD_TOKEN, user: USER });
		const server = await serve(mailbox);
		const session = await open(server, tokenSource([GOOD_TOKEN]));
		await session.delete((await session.listing())[0]);
		session.destroy();
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(server.allCommands).not.toContain('QUIT');
		expect(mailbox.removed).toEqual([]);
	});
});

describe('describePop3Failure', () => {
	const context = { host: 'pop.example.com', port: 995, account: USER, gmail: true };
	const cases: Array<[string, Error, RegExp, RegExp]> = [
		['access disabled', new Pop3AccessDisabledError({ serverText: '[SYS/PERM] not enabled' }), /POP3 access is disabled for the account/, /Enable POP/],
		['busy', new Pop3ServerBusyError({ serverText: '[IN-USE] locked' }), /is busy/, /try again later/],
		['protocol', new Pop3ProtocolError('bad reply', { step: 'STAT' }), /malformed reply to STAT/, /nothing was lost/],
		['timeout', new Pop3TimeoutError('RETR 1 (message body)', 60_000), /stopped answering \(step: RETR 1/, /Limit/],
		['connection', new Pop3ConnectionError('connect ECONNREFUSED', { step: 'connect' }), /^The POP3 connection to pop\.example\.com:995 failed/, /pop\.gmail\.com, port 995/],
		['certificate', new Pop3CertificateError('self-signed', { tlsCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), /not trusted/, /Ignore Mail Server Certificate Errors/],
		['no STLS', new Pop3StlsUnavailableError('no STLS'), /cannot encrypt/, /SSL\/TLS/],
		['no XOAUTH2', new Pop3MechanismUnsupportedError('offers PLAIN'), /does not accept OAuth2/, /OAuth2/],
		['command refused', new Pop3CommandError('refused', { step: 'RETR 3', serverText: 'no such message' }), /refused RETR 3: no such message/, /run the node again/],
		[
			'command refused, [SYS/PERM] (Gmail: POP switched off mid-session)',
			new Pop3CommandError('refused', { step: 'RETR 3', serverText: '[SYS/PERM] Your account is not enabled for POP access', responseCode: 'SYS/PERM' }),
			/refused RETR 3: \[SYS\/PERM\] Your account is not enabled for POP access/,
			/permanent problem with the account.*Enable POP for all mail/,
		],
		['command refused, [SYS/TEMP]', new Pop3CommandError('refused', { step: 'RETR 3', serverText: '[SYS/TEMP] try later', responseCode: 'SYS/TEMP' }), /refused RETR 3/, /temporary problem.*Try again later/],
		['command refused, [LOGIN-DELAY]', new Pop3CommandError('refused', { step: 'RETR 3', serverText: '[LOGIN-DELAY] wait', responseCode: 'LOGIN-DELAY' }), /refused RETR 3/, /temporary problem.*Try again later/],
		['command refused, [IN-USE/LOCKED] (a refinement)', new Pop3CommandError('refused', { step: 'RETR 3', serverText: '[IN-USE/LOCKED] busy', responseCode: 'IN-USE/LOCKED' }), /refused RETR 3/, /temporary problem.*Try again later/],
		['not found', new Pop3MessageNotFoundError('X1'), /No message with UIDL "X1"/, /attributes\.uidl/],
		['deletion not confirmed', new Pop3DeletionNotConfirmedError('X2'), /did not confirm the deletion of message "X2"/, /still on the server \(pop\.example\.com\); run the node again/],
	];

	it.each(cases)('%s: a message naming the cause and a description naming the fix', (_name, error, message, description) => {
		const text = describePop3Failure(error, context);
		expect(text?.message).toMatch(message);
		expect(text?.description).toMatch(description);
	});

	it('leaves every other error to the caller', () => {
		expect(describePop3Failure(new Error('other'), context)).toBeUndefined();
	});
});
