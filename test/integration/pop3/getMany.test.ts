/**
 * Gmail POP "Get Many" against Dovecot POP3 over TLS (the stack's CA passed to the node, certificate verified):
 * each message returned once across runs, limit, delete after download, failed runs that change nothing, manual
 * test runs that leave the mailbox alone, and an expired token refreshed exactly once.
 */
import { NodeOperationError } from 'n8n-workflow';

import {
	attributes,
	deliverNumbered,
	expectRejection,
	GET_MANY,
	newAccount,
	popSessionEnds,
	stack,
	storedRecord,
	subjects,
} from './popTestKit';

jest.setTimeout(60_000);

describe('Gmail POP Get Many on Dovecot POP3S', () => {
	it('returns every message once, oldest first, with UIDL/number/size; the next run returns nothing; later mail only', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const stored = await stack.mailboxState(account.user);

		const first = await account.harness.run({ parameters: GET_MANY });
		expect(subjects(first.items)).toEqual(['message 1', 'message 2', 'message 3']);
		expect(first.items.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 0 }, { item: 0 }]);
		expect(first.items.map((item) => attributes(item).messageNumber)).toEqual([1, 2, 3]);
		expect(first.items.map((item) => attributes(item).size)).toEqual(stored.messages.map((message) => message.size));
		// Dovecot's default UIDL: the message UID and the UIDVALIDITY, 8 hex digits each.
		const hex = (value: number) => value.toString(16).padStart(8, '0');
		expect(first.items.map((item) => attributes(item).uidl)).toEqual(
			stored.messages.map((message) => `${hex(message.uid)}${hex(stored.uidValidity)}`),
		);
		expect(first.items[0].json.textPlain).toBe('body of message 1\n');
		expect(first.staticDataSaved).toBe(true);
		expect(storedRecord(account)?.uidls).toEqual(first.items.map((item) => attributes(item).uidl));
		// The session ended with QUIT; nothing was deleted.
		expect(await popSessionEnds(account.user, 1)).toEqual([{ how: 'quit', retrieved: 3, deleted: 0 }]);
		expect((await stack.mailboxState(account.user)).messages).toHaveLength(3);

		const second = await account.harness.run({ parameters: GET_MANY });
		expect(second.items).toEqual([]);
		expect(second.staticDataSaved).toBe(false);

		await deliverNumbered(account.user, 1, 4);
		const third = await account.harness.run({ parameters: GET_MANY });
		expect(subjects(third.items)).toEqual(['message 4']);
		expect(attributes(third.items[0]).messageNumber).toBe(4);
		expect(storedRecord(account)?.uidls).toHaveLength(4);
		await stack.waitForNoSessions(account.user);
	});

	it('honours the limit per run and continues with the next oldest messages', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 5);
		const parameters = { ...GET_MANY, returnAll: false, limit: 2 };
		const runs: unknown[][] = [];
		for (let run = 0; run < 4; run++) runs.push(subjects((await account.harness.run({ parameters })).items));
		expect(runs).toEqual([['message 1', 'message 2'], ['message 3', 'message 4'], ['message 5'], []]);
		const infos = (await account.harness.run({ parameters })).logs;
		expect(infos.filter((entry) => entry.level === 'warn')).toEqual([]);
	});

	it('deletes each message after its item was produced; the record shrinks to what is still on the server', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const parameters = { ...GET_MANY, options: { deleteAfterDownload: true } };
		const first = await account.harness.run({ parameters });
		expect(subjects(first.items)).toEqual(['message 1', 'message 2', 'message 3']);
		expect((await stack.mailboxState(account.user)).messages).toEqual([]);
		expect(storedRecord(account)).toEqual({ version: 1, account: expect.stringContaining(account.user), uidls: [] });

		await deliverNumbered(account.user, 1, 4);
		expect(subjects((await account.harness.run({ parameters })).items)).toEqual(['message 4']);
		expect((await stack.mailboxState(account.user)).messages).toEqual([]);
	});

	it('a run that fails part-way deletes nothing and remembers nothing: the next run returns every message', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 1, 1);
		await stack.deliver({
			to: account.user,
			subject: 'message 2',
			text: 'has an attachment',
			attachments: [{ filename: 'a.bin', content: Buffer.from([1, 2, 3]), contentType: 'application/octet-stream' }],
		});
		await deliverNumbered(account.user, 1, 3);
		const parameters = { ...GET_MANY, format: 'resolved', options: { deleteAfterDownload: true } };

		const error = await expectRejection(
			account.harness.run({
				parameters,
				prepareBinaryData: async () => {
					throw new Error('binary data storage is full');
				},
			}),
		);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toContain('binary data storage is full');
		// Message 1 had been marked deleted (DELE) before message 2 failed; the connection was dropped without QUIT,
		// so the server kept it. Message 3 had been read ahead (RETR) while message 2's item was being made.
		const transcript = account.harness.lastLogs.map((entry) => entry.message);
		expect(transcript).toContain('POP3 C: DELE 1');
		expect(transcript).not.toContain('POP3 C: QUIT');
		expect(await popSessionEnds(account.user, 1)).toEqual([{ how: 'closed', retrieved: 3, deleted: 0 }]);
		expect((await stack.mailboxState(account.user)).messages).toHaveLength(3);
		expect(storedRecord(account)).toBeUndefined();

		const retry = await account.harness.run({ parameters });
		expect(subjects(retry.items)).toEqual(['message 1', 'message 2', 'message 3']);
		expect((await stack.mailboxState(account.user)).messages).toEqual([]);
	});

	it('with Continue On Fail, a message that fails becomes an error item, stays on the server and comes back next run', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 1, 1);
		await stack.deliver({
			to: account.user,
			subject: 'message 2',
			text: 'has an attachment',
			attachments: [{ filename: 'a.bin', content: Buffer.from([1, 2, 3]), contentType: 'application/octet-stream' }],
		});
		await deliverNumbered(account.user, 1, 3);
		const parameters = { ...GET_MANY, format: 'resolved', options: { deleteAfterDownload: true } };
		const first = await account.harness.run({
			parameters,
			continueOnFail: true,
			prepareBinaryData: async () => {
				throw new Error('binary data storage is full');
			},
		});
		expect(first.items.map((item) => item.json.subject ?? item.json.error)).toEqual([
			'message 1',
			expect.stringContaining('binary data storage is full'),
			'message 3',
		]);
		expect(first.items[1].json.uidl).toEqual(expect.any(String));
		const left = await stack.mailboxState(account.user);
		expect(left.messages).toHaveLength(1);

		const second = await account.harness.run({ parameters });
		expect(subjects(second.items)).toEqual(['message 2']);
		expect((second.items[0].binary ?? {}).attachment_0?.fileName).toBe('a.bin');
	});

	it('a manual test run neither deletes, nor QUITs, nor saves what it returned', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 2);
		const parameters = { ...GET_MANY, options: { deleteAfterDownload: true } };
		const manual = await account.harness.run({ parameters, mode: 'manual' });
		expect(subjects(manual.items)).toEqual(['message 1', 'message 2']);
		expect(manual.staticDataSaved).toBe(false);
		expect(await popSessionEnds(account.user, 1)).toEqual([{ how: 'closed', retrieved: 2, deleted: 0 }]);
		expect((await stack.mailboxState(account.user)).messages).toHaveLength(2);

		// The production run still gets both, and then deletes them.
		const production = await account.harness.run({ parameters, mode: 'trigger' });
		expect(subjects(production.items)).toEqual(['message 1', 'message 2']);
		expect((await stack.mailboxState(account.user)).messages).toEqual([]);
	});

	it('an expired access token that n8n still believes valid is refused, refreshed exactly once, and the run succeeds', async () => {
		const account = await newAccount({ lifetimeSeconds: 1, storedExpiresAt: Date.now() + 3_600_000 });
		await deliverNumbered(account.user, 2);
		await new Promise((resolve) => setTimeout(resolve, 2100));
		const since = Date.now();
		const run = await account.harness.run({ parameters: GET_MANY });
		expect(subjects(run.items)).toEqual(['message 1', 'message 2']);
		expect(await stack.tokenRequestCount({ grantType: 'refresh_token', user: account.user, since })).toBe(1);
		expect(account.credential.refreshRequests).toBe(1);
		// n8n's helper stored the new token; it is not the refused one.
		expect(account.credential.tokenData.access_token).not.toBe(account.accessToken);
		expect(JSON.stringify(run.items)).not.toContain(account.accessToken);
		await stack.waitForNoSessions(account.user);
	});

	it('a token that n8n knows to be expired is refreshed once before the login, without a refused AUTH', async () => {
		const account = await newAccount({ lifetimeSeconds: 60, storedExpiresAt: Date.now() - 1000 });
		await deliverNumbered(account.user, 1);
		const since = Date.now();
		const run = await account.harness.run({ parameters: GET_MANY });
		expect(subjects(run.items)).toEqual(['message 1']);
		expect(await stack.tokenRequestCount({ grantType: 'refresh_token', user: account.user, since })).toBe(1);
		expect(run.logs.some((entry) => /refused the OAuth2 access token/.test(entry.message))).toBe(false);
	});

	it('several input items in one execution share one session: the second item gets only what the first left', async () => {
		const account = await newAccount();
		await deliverNumbered(account.user, 3);
		const run = await account.harness.run({
			parameters: { ...GET_MANY, returnAll: false, limit: 2 },
			items: [{ json: {} }, { json: {} }, { json: {} }],
		});
		expect(run.items.map((item) => [item.json.subject, item.pairedItem])).toEqual([
			['message 1', { item: 0 }],
			['message 2', { item: 0 }],
			['message 3', { item: 1 }],
		]);
		expect(storedRecord(account)?.uidls).toHaveLength(3);
	});
});
