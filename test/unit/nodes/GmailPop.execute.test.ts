/**
 * The Gmail POP node's execute() over a scripted POP3 server: messages too large to download, messages that cannot be
 * parsed, and the ranges of the user's numbers.
 */

import { NodeOperationError } from 'n8n-workflow';

import { GmailPop } from '../../../nodes/GmailPop/GmailPop.node';
import { POP_NUMBER_RANGES, SEEN_STATE_KEY } from '../../../nodes/GmailPop/execute';
import { MessageContentError } from '../../../nodes/mail/message/errors';
import * as toItem from '../../../nodes/mail/message/toItem';
import type { StoredSeenState } from '../../../nodes/mail/pop3/seenState';
import { StoredCredential } from '../../integration/harness/credentials';
import { PopNodeHarness } from '../../integration/pop3/popHarness';
import { GOOD_TOKEN, USER } from '../mail/pop3/clientTestKit';
import { FakeMailbox, type FakePop3Server, type FakeSession, startFakePop3Server } from '../mail/pop3/fakePop3Server';

const message = (subject: string, body = `body of ${subject}`) =>
	`From: a@example.com\r\nTo: ${USER}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.com>\r\n\r\n${body}\r\n`;

let servers: FakePop3Server[] = [];
afterEach(async () => {
	jest.restoreAllMocks();
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

interface Setup {
	server: FakePop3Server;
	mailbox: FakeMailbox;
	harness: PopNodeHarness;
}

/** A fake mailbox; `listedSizes` makes LIST report other sizes than the real ones (a message number → octets). */
async function setup(
	messages: string[],
	listedSizes: Record<number, number> = {},
	user = USER,
	override?: (command: string, session: FakeSession) => boolean,
): Promise<Setup> {
	const mailbox = new FakeMailbox({ messages, validToken: GOOD_TOKEN, user });
	const answer = mailbox.handler();
	const server = await startFakePop3Server({
		onCommand: async (command, session) => {
			if (override?.(command, session)) return;
			if (command === 'LIST' && Object.keys(listedSizes).length > 0) {
				const lines = mailbox.messages
					.map((content, index) => `${index + 1} ${listedSizes[index + 1] ?? content.length}\r\n`)
					.filter((_line, index) => !mailbox.deleted.has(index + 1))
					.join('');
				await session.send(`+OK\r\n${lines}.\r\n`);
				return;
			}
			await answer(command, session);
		},
	});
	servers.push(server);
	const credential = new StoredCredential('mailServerOAuth2Api', 'Fake mailbox', {
		email: user,
		authUrl: 'http://127.0.0.1:9/authorize',
		accessTokenUrl: 'http://127.0.0.1:9/token',
		clientId: 'client',
		clientSecret: 'secret',
		scope: 'mail',
		authentication: 'body',
		popHost: '127.0.0.1',
		popPort: server.port,
		popSecurity: 'none',
		oauthTokenData: { access_token: GOOD_TOKEN, refresh_token: 'refresh', token_type: 'Bearer', n8n_expires_at: String(Date.now() + 3_600_000) },
	});
	return { server, mailbox, harness: new PopNodeHarness(credential) };
}

const GET_MANY = { authentication: 'mailServerOAuth2Api', operation: 'getAll', returnAll: true, format: 'simple' };

function record(harness: PopNodeHarness): StoredSeenState | undefined {
	return harness.nodeStaticData?.[SEEN_STATE_KEY] as StoredSeenState | undefined;
}

describe('Gmail POP: the account key of the fetched-messages record', () => {
	const USER_WITH_CAPITALS = 'User.Name@Example.com';

	it('finds a record saved under the former key (not lower-cased), uses it and saves it under the new key', async () => {
		const { server, harness } = await setup([message('one'), message('two'), message('three')], {}, USER_WITH_CAPITALS);
		const formerKey = `127.0.0.1:${server.port}/${USER_WITH_CAPITALS}`;
		// What versions before the shared mailAccountKey() saved after returning messages one and two.
		const former: StoredSeenState = { version: 1, account: formerKey, uidls: ['uid-1', 'uid-2'] };
		harness.storedStaticData = { [`node:${harness.node.name}`]: { [SEEN_STATE_KEY]: former } };

		const run = await harness.run({ parameters: GET_MANY });
		expect(run.items.map((item) => item.json.subject)).toEqual(['three']);
		expect(run.logs.filter((entry) => entry.level === 'warn')).toEqual([]);
		expect(record(harness)).toEqual({
			version: 1,
			account: `127.0.0.1:${server.port}/user.name@example.com`,
			uidls: ['uid-1', 'uid-2', 'uid-3'],
		});

		const next = await harness.run({ parameters: GET_MANY });
		expect(next.items).toEqual([]);
	});

	it('still starts afresh for a record of another account', async () => {
		const { server, harness } = await setup([message('one')], {}, USER_WITH_CAPITALS);
		const other: StoredSeenState = { version: 1, account: `127.0.0.1:${server.port}/someone@example.com`, uidls: ['uid-1'] };
		harness.storedStaticData = { [`node:${harness.node.name}`]: { [SEEN_STATE_KEY]: other } };
		const run = await harness.run({ parameters: GET_MANY });
		expect(run.items.map((item) => item.json.subject)).toEqual(['one']);
		expect(run.logs.map((entry) => entry.message)).toContainEqual(expect.stringContaining('belongs to another account or server'));
	});
});

describe('Gmail POP: Max Message Size', () => {
	it('a LIST size above the option is not RETRieved: error item with uidl and size, the run goes on, never deleted nor repeated', async () => {
		const { server, mailbox, harness } = await setup([message('one'), message('two', 'x'.repeat(2 * 1024 * 1024)), message('three')]);
		const parameters = { ...GET_MANY, options: { maxMessageSizeMb: 1, deleteAfterDownload: true } };
		const run = await harness.run({ parameters });
		expect(run.items.map((item) => item.json.subject ?? 'error')).toEqual(['one', 'error', 'three']);
		const size = mailbox.messages[1].length;
		expect(run.items[1]).toEqual({
			json: { error: expect.any(String), uidl: 'uid-2', size },
			pairedItem: { item: 0 },
		});
		const text = String(run.items[1].json.error);
		expect(text).toContain(`(${size} bytes)`);
		expect(text).toContain('"Max Message Size (MB)"');
		expect(text).toContain('(1 MB)');
		expect(text).toContain('uid-2');
		expect(server.allCommands).not.toContain('RETR 2');
		expect(server.allCommands).not.toContain('DELE 2');
		// Deleted: the two that were downloaded; the large one stays on the server.
		expect(mailbox.removed.sort()).toEqual([1, 3]);
		expect(record(harness)?.uidls).toEqual(['uid-2']);

		// Handled: the next run does not report it again.
		const next = await harness.run({ parameters });
		expect(next.items).toEqual([]);
	});

	it('by default (50 MB) a listed size of 10 GB is refused without a download, whatever the real size', async () => {
		const { server, harness } = await setup([message('one'), message('huge')], { 2: 10 * 1024 * 1024 * 1024 });
		const run = await harness.run({ parameters: { ...GET_MANY, options: {} } });
		expect(run.items.map((item) => item.json.subject ?? item.json.error)).toEqual(['one', expect.stringContaining('(50 MB)')]);
		expect(run.items[1].json).toMatchObject({ uidl: 'uid-2', size: 10 * 1024 * 1024 * 1024 });
		expect(server.allCommands).toContain('RETR 1');
		expect(server.allCommands).not.toContain('RETR 2');
	});

	it('Get of a message above the option gives the error item instead of downloading it', async () => {
		const { server, harness } = await setup([message('one'), message('huge')], { 2: 3 * 1024 * 1024 });
		const run = await harness.run({
			parameters: { authentication: 'mailServerOAuth2Api', operation: 'get', uidl: 'uid-2', format: 'simple', options: { maxMessageSizeMb: 2 } },
		});
		expect(run.items).toEqual([{ json: { error: expect.stringContaining('(2 MB)'), uidl: 'uid-2', size: 3 * 1024 * 1024 }, pairedItem: { item: 0 } }]);
		expect(server.allCommands).not.toContain('RETR 2');
	});
});

describe('Gmail POP: a message that cannot be parsed', () => {
	/** messageToItem as the parser behaves once it refuses a message's content: reads part of it, then throws. */
	function refuseSubjects(word: string): void {
		const real = toItem.messageToItem;
		jest.spyOn(toItem, 'messageToItem').mockImplementation(async (source, options) => {
			if (Buffer.isBuffer(source)) {
				// a small message read ahead, whole
				if (source.toString('latin1').includes(word)) throw new MessageContentError('tooManyParts', 'it has more than 1000 MIME parts');
				return real(source, options);
			}
			const stream = source;
			const first = (await stream[Symbol.asyncIterator]().next()).value as Buffer | undefined;
			if (first?.toString('latin1').includes(word)) {
				throw new MessageContentError('tooManyParts', 'it has more than 1000 MIME parts');
			}
			const rest: Buffer[] = first ? [first] : [];
			for await (const chunk of stream) rest.push(chunk as Buffer);
			return real(Buffer.concat(rest), options);
		});
	}

	it('becomes an item with error, uidl and size; the run goes on; it counts as handled and is not deleted', async () => {
		refuseSubjects('BROKEN');
		const { mailbox, harness } = await setup([message('BROKEN one'), message('two')]);
		const parameters = { ...GET_MANY, options: { deleteAfterDownload: true } };
		const run = await harness.run({ parameters });
		expect(run.items[0]).toEqual({
			json: { error: 'The message could not be parsed: it has more than 1000 MIME parts', uidl: 'uid-1', size: mailbox.messages[0].length },
			pairedItem: { item: 0 },
		});
		expect(run.items[1].json.subject).toBe('two');
		expect(mailbox.removed).toEqual([2]);
		expect((await harness.run({ parameters })).items).toEqual([]);
	});

	it('Get: the same error item', async () => {
		refuseSubjects('BROKEN');
		const { harness } = await setup([message('BROKEN one')]);
		const run = await harness.run({
			parameters: { authentication: 'mailServerOAuth2Api', operation: 'get', uidl: 'uid-1', format: 'simple', options: {} },
		});
		expect(run.items).toEqual([
			{ json: { error: expect.stringMatching(/^The message could not be parsed: /), uidl: 'uid-1', size: expect.any(Number) }, pairedItem: { item: 0 } },
		]);
	});

	it('other failures keep their handling: without Continue On Fail the run fails and nothing is remembered', async () => {
		jest.spyOn(toItem, 'messageToItem').mockRejectedValue(new Error('binary data storage is full'));
		const { harness } = await setup([message('one')]);
		await expect(harness.run({ parameters: { ...GET_MANY, options: {} } })).rejects.toThrow('binary data storage is full');
		expect(record(harness)).toBeUndefined();
	});
});

describe('Gmail POP: ranges of the user numbers', () => {
	it.each([
		['limit', { returnAll: false, limit: 0 }, '"Limit" must be from 1 to 500000'],
		['limit', { returnAll: false, limit: 500_001 }, '"Limit" must be from 1 to 500000'],
		['limit', { returnAll: false, limit: 2.5 }, '"Limit" must be a whole number from 1 to 500000'],
		['maxRemembered', { options: { maxRemembered: 99 } }, '"Remember Up To" must be from 100 to 100000'],
		['maxRemembered', { options: { maxRemembered: 100_001 } }, '"Remember Up To" must be from 100 to 100000'],
		['maxAttachmentSizeMb', { options: { maxAttachmentSizeMb: -1 } }, '"Max Attachment Size (MB)" must be from 0 to 1024'],
		['maxAttachmentSizeMb', { options: { maxAttachmentSizeMb: 1025 } }, '"Max Attachment Size (MB)" must be from 0 to 1024'],
		['maxMessageSizeMb', { options: { maxMessageSizeMb: 0 } }, '"Max Message Size (MB)" must be from 1 to 1024'],
		['maxMessageSizeMb', { options: { maxMessageSizeMb: 5000 } }, '"Max Message Size (MB)" must be from 1 to 1024'],
		['maxMessageSizeMb', { options: { maxMessageSizeMb: 'lots' } }, '"Max Message Size (MB)" must be a number from 1 to 1024'],
	])('%s out of range (%j) is refused with a NodeOperationError naming the field and the range, before connecting', async (_name, extra, text) => {
		const { server, harness } = await setup([message('one')]);
		const error = await harness.run({ parameters: { ...GET_MANY, options: {}, ...extra } }).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as Error).message).toContain(text);
		expect(server.sessions).toHaveLength(0);
	});

	it('the bounds themselves are accepted', async () => {
		const { harness } = await setup([message('one')]);
		const run = await harness.run({
			parameters: {
				...GET_MANY,
				returnAll: false,
				limit: 500_000,
				options: { maxRemembered: 100_000, maxAttachmentSizeMb: 1024, maxMessageSizeMb: 1024 },
			},
		});
		expect(run.items.map((item) => item.json.subject)).toEqual(['one']);
		const low = await (await setup([message('two')])).harness.run({
			parameters: { ...GET_MANY, returnAll: false, limit: 1, options: { maxRemembered: 100, maxAttachmentSizeMb: 0, maxMessageSizeMb: 1 } },
		});
		expect(low.items.map((item) => item.json.subject)).toEqual(['two']);
	});

	it('with Continue On Fail a refused value fails only its own item', async () => {
		const { harness } = await setup([message('one')]);
		const run = await harness.run({
			parameters: { ...GET_MANY, returnAll: false, limit: (_item: unknown, index: number) => (index === 0 ? 0 : 5), options: {} },
			items: [{ json: {} }, { json: {} }],
			continueOnFail: true,
		});
		expect(run.items.map((item) => item.json.subject ?? item.json.error)).toEqual([expect.stringContaining('"Limit"'), 'one']);
	});

	it('with Continue On Fail, Get Many that fails part-way (DELE refused) sends no QUIT and remembers nothing: no message is lost', async () => {
		const refuseDele = (command: string, session: FakeSession) => {
			if (command !== 'DELE 1') return false;
			void session.send('-ERR [SYS/PERM] cannot delete now\r\n');
			return true;
		};
		const { server, mailbox, harness } = await setup([message('one'), message('two')], {}, USER, refuseDele);
		const run = await harness.run({ parameters: { ...GET_MANY, options: { deleteAfterDownload: true } }, continueOnFail: true });
		expect(run.items.map((item) => item.json.error ?? item.json.subject)).toEqual([expect.stringContaining('DELE 1')]);
		// Without QUIT the server applies nothing and Gmail marks nothing (not even message two, already read ahead) as popped.
		expect(server.allCommands).not.toContain('QUIT');
		expect(record(harness)).toBeUndefined();
		expect(mailbox.removed).toEqual([]);
		const again = await harness.run({ parameters: { ...GET_MANY, options: {} } });
		expect(again.items.map((item) => item.json.subject)).toEqual(['one', 'two']);
	});

	it('the description carries the same ranges, and the options stay alphabetical', () => {
		const { properties } = new GmailPop().description;
		const limit = properties.find((property) => property.name === 'limit');
		expect(limit?.typeOptions).toEqual({ minValue: 1, maxValue: POP_NUMBER_RANGES.limit.max });
		const options = properties.find((property) => property.name === 'options')?.options as Array<{
			name: string;
			displayName: string;
			typeOptions?: unknown;
			default?: unknown;
		}>;
		const byName = new Map(options.map((option) => [option.name, option]));
		for (const name of ['maxAttachmentSizeMb', 'maxMessageSizeMb', 'maxRemembered'] as const) {
			const range = POP_NUMBER_RANGES[name];
			expect(byName.get(name)?.typeOptions).toEqual({ minValue: range.min, maxValue: range.max });
			expect(byName.get(name)?.default).toBe(range.fallback);
			expect(byName.get(name)?.displayName).toBe(range.label);
		}
		const names = options.map((option) => option.displayName);
		expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
	});
});

describe('Gmail POP: queue mode, in the same workflow as the Gmail IMAP Trigger', () => {
	const TRIGGER = { name: 'New mail', type: 'n8n-nodes-gmail-xoauth2.gmailImapTrigger', typeVersion: 2, disabled: false };
	const saved = process.env.EXECUTIONS_MODE;
	afterEach(() => {
		if (saved === undefined) delete process.env.EXECUTIONS_MODE;
		else process.env.EXECUTIONS_MODE = saved;
	});

	it('Get Many after the trigger is refused before connecting, naming both nodes and the fix; nothing is recorded', async () => {
		process.env.EXECUTIONS_MODE = 'queue';
		const { server, harness } = await setup([message('one')]);
		const error = await harness.run({ parameters: { ...GET_MANY, options: {} }, parentNodes: [TRIGGER] }).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as Error).message).toMatch(/queue mode the Gmail POP node "Gmail POP" \(Get Many\) cannot run in the same workflow as the Gmail IMAP Trigger "New mail"/);
		expect((error as Error).message).toMatch(/Execute Workflow node/);
		expect(server.sessions).toHaveLength(0);
		expect(record(harness)).toBeUndefined();
	});

	it('runs where nothing is shared: without queue mode, without the trigger, a disabled trigger, Get Count, or a manual run', async () => {
		const runs: Array<{ env?: string; parentNodes: Array<typeof TRIGGER>; parameters?: Record<string, unknown>; mode?: 'manual' }> = [
			{ parentNodes: [TRIGGER] },
			{ env: 'regular', parentNodes: [TRIGGER] },
			{ env: 'queue', parentNodes: [] },
			{ env: 'queue', parentNodes: [{ ...TRIGGER, disabled: true }] },
			{ env: 'queue', parentNodes: [TRIGGER], parameters: { operation: 'getCount' } },
			{ env: 'queue', parentNodes: [TRIGGER], mode: 'manual' },
		];
		for (const run of runs) {
			if (run.env === undefined) delete process.env.EXECUTIONS_MODE;
			else process.env.EXECUTIONS_MODE = run.env;
			const { harness } = await setup([message('one')]);
			const result = await harness.run({ parameters: { ...GET_MANY, options: {}, ...run.parameters }, parentNodes: run.parentNodes, mode: run.mode });
			expect(result.items).toHaveLength(1);
		}
	});
});
