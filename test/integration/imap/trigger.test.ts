/**
 * The Gmail IMAP Trigger node against the real stack (Dovecot + Postfix + token server), through a trigger context
 * that behaves like n8n's (triggerHarness.ts). These are the "Done when" checks of issue 7 that a server can prove.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImapFlow } from 'imapflow';
import type { IDataObject } from 'n8n-workflow';

import { messageIdOf } from '../../../nodes/mail/imap/watch/admission';
import { fetchMetadata } from '../../../nodes/mail/imap/watch/reader';
import { messageToItem } from '../../../nodes/mail/message/toItem';
import { getStack } from '../../stack';
import { waitUntil } from '../../support/waitUntil';
import { CredentialStore, TriggerHarness } from './triggerHarness';

const stack = getStack();
jest.setTimeout(30_000);

const running: TriggerHarness[] = [];

async function setup(options: { lifetimeSeconds?: number; parameters?: IDataObject; user?: string } = {}) {
	const user = options.user ?? stack.newMailbox('trig');
	const tokens = await stack.issueTokens(user, { lifetimeSeconds: options.lifetimeSeconds ?? 3600 });
	const credentials = new CredentialStore(stack, user, tokens);
	return { user, tokens, credentials };
}

function harness(options: ConstructorParameters<typeof TriggerHarness>[0]): TriggerHarness {
	const created = new TriggerHarness(options);
	running.push(created);
	return created;
}

afterEach(async () => {
	for (const trigger of running.splice(0)) await trigger.deactivate();
});

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A plain imapflow client of the test itself (another mail client, or the user in Gmail's web UI). */
async function userClient(user: string): Promise<ImapFlow> {
	const client = new ImapFlow({
		host: stack.host,
		port: stack.ports.imaps,
		secure: true,
		tls: stack.tlsOptions(),
		auth: { user, accessToken: await stack.accessToken(user) },
		logger: false,
	});
	client.on('error', () => undefined);
	await client.connect();
	return client;
}

function savedCheckpoint(database: IDataObject, folder: string): IDataObject | undefined {
	const nodeData = database['node:Gmail IMAP Trigger'] as IDataObject | undefined;
	const state = nodeData?.gmailImapTrigger as { folders?: Record<string, IDataObject> } | undefined;
	return state?.folders?.[folder];
}

const BASE_PARAMETERS: IDataObject = { mailbox: 'INBOX', postProcessAction: 'nothing', format: 'simple', options: {} };

describe('Gmail IMAP Trigger on the mail stack', () => {
	it('emits a delivered message once, within about a second, with the attachment byte-exact; nothing left open after close', async () => {
		const { user, credentials } = await setup();
		const trigger = harness({
			stack,
			credentials,
			parameters: { ...BASE_PARAMETERS, downloadAttachments: true, dataPropertyAttachmentsPrefixName: 'attachment_' },
		});
		await trigger.activate();
		const attachment = crypto.randomBytes(200_000);
		const sentAt = Date.now();
		await stack.deliver({
			to: user,
			subject: 'Invoice 42',
			text: 'Please find the invoice attached.',
			attachments: [{ filename: 'invoice.bin', content: attachment, contentType: 'application/octet-stream' }],
		});
		await trigger.waitFor(() => trigger.emits.length === 1, 5000, 'the emit');
		const latency = trigger.emits[0].at - sentAt;
		expect(latency).toBeLessThan(2500);

		const item = trigger.emits[0].items[0];
		expect(item.json.subject).toBe('Invoice 42');
		expect(String(item.json.textPlain)).toContain('Please find the invoice attached.');
		expect(item.json.attributes).toMatchObject({ uid: 1, mailbox: 'INBOX', uidValidity: expect.any(String) });
		expect((item.json.attributes as IDataObject).flags).not.toContain('\\Seen');
		const binary = item.binary?.attachment_0;
		expect(binary?.fileName).toBe('invoice.bin');
		expect(Buffer.from(binary?.data ?? '', 'base64').equals(attachment)).toBe(true);

		await sleep(500);
		expect(trigger.emits).toHaveLength(1);
		expect((await stack.connectedSessions(user)).length).toBe(1);
		const closeMs = await trigger.deactivate();
		expect(closeMs).toBeLessThan(2000);
		await stack.waitForNoSessions(user, 3000);
	});

	it('gives the same message in simple, resolved and raw format', async () => {
		const { user, credentials } = await setup();
		const triggers = (['simple', 'resolved', 'raw'] as const).map((format) =>
			harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, format } }),
		);
		for (const trigger of triggers) await trigger.activate();
		await stack.deliver({
			to: user,
			subject: 'Formats',
			text: 'plain body',
			html: '<p>html body</p>',
			attachments: [{ filename: 'a.txt', content: 'attached text' }],
		});
		for (const trigger of triggers) await trigger.waitFor(() => trigger.emits.length === 1, 5000, 'emit');
		const [simple, resolved, raw] = triggers.map((trigger) => trigger.emits[0].items[0]);
		expect(simple.json).toMatchObject({ subject: 'Formats', textHtml: expect.stringContaining('html body') });
		expect(simple.binary).toBeUndefined();
		expect(resolved.json).toMatchObject({ subject: 'Formats', text: expect.stringContaining('plain body') });
		expect(Buffer.from(resolved.binary?.attachment_0.data ?? '', 'base64').toString()).toBe('attached text');
		expect(String(raw.json.raw)).toContain('plain body');
		expect(String(raw.json.rawHeaders)).toContain('Subject: Formats');
		for (const item of [simple, resolved, raw]) expect(item.json.attributes).toMatchObject({ uid: 1, mailbox: 'INBOX' });
	});

	it('after deactivation, emits the 20 messages that arrived meanwhile once, and nothing older again', async () => {
		const { user, credentials } = await setup();
		const first = harness({ stack, credentials, parameters: BASE_PARAMETERS });
		await first.activate();
		await stack.deliver({ to: user, subject: 'before' });
		await first.waitFor(() => first.emits.length === 1, 5000, 'first emit');
		await first.deactivate();
		await stack.waitForNoSessions(user, 3000);

		for (let index = 0; index < 20; index++) await stack.deliver({ to: user, subject: `meanwhile ${index}` }, { via: 'lmtp' });
		const second = harness({ stack, credentials, parameters: BASE_PARAMETERS, database: first.database });
		await second.activate();
		await second.waitFor(() => second.emits.length === 20, 10_000, '20 emits');
		await sleep(1000);
		expect(second.emittedSubjects()).toEqual(Array.from({ length: 20 }, (_v, index) => `meanwhile ${index}`));
	});

	it('closes the hole before the first emit: mail that arrived while stopped is emitted after reactivation', async () => {
		const { user, credentials } = await setup();
		await stack.deliver({ to: user, subject: 'old, before the first activation' }, { via: 'lmtp' });
		const first = harness({ stack, credentials, parameters: BASE_PARAMETERS });
		await first.activate();
		// Saved at activation (as n8n's ActiveWorkflowManager does), although nothing was emitted.
		expect(first.emits).toHaveLength(0);
		expect(savedCheckpoint(first.database, 'INBOX')).toMatchObject({ lastUid: 1 });
		await first.deactivate();

		for (let index = 0; index < 10; index++) await stack.deliver({ to: user, subject: `while stopped ${index}` }, { via: 'lmtp' });
		const second = harness({ stack, credentials, parameters: BASE_PARAMETERS, database: first.database, activationMode: 'init' });
		await second.activate();
		await second.waitFor(() => second.emits.length === 10, 10_000, '10 emits');
		await sleep(1000);
		expect(second.emittedSubjects()).toEqual(Array.from({ length: 10 }, (_v, index) => `while stopped ${index}`));
	});

	it('folder deleted and recreated (new UIDVALIDITY): old mail is not emitted again, new mail is, no duplicates', async () => {
		const { user, credentials } = await setup();
		await stack.createFolder(user, 'Work');
		const client = await userClient(user);
		try {
			const oldRaw = Buffer.from(`Message-ID: <old-${Date.now()}@example.test>\r\nSubject: old mail\r\nFrom: a@example.test\r\n\r\nold\r\n`);
			await client.append('Work', oldRaw, [], new Date(Date.now() - 2 * 24 * 3600 * 1000));
			// Dovecot does not tell an IDLE session that its folder was deleted; the next poll notices.
			const trigger = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, mailbox: 'Work', options: { pollIntervalSeconds: 5 } } });
			await trigger.activate();
			const seenRaw = Buffer.from(`Message-ID: <seen-${Date.now()}@example.test>\r\nSubject: seen mail\r\nFrom: a@example.test\r\n\r\nseen\r\n`);
			const seenDate = new Date();
			await client.append('Work', seenRaw, [], seenDate);
			await trigger.waitFor(() => trigger.emits.length === 1, 5000, 'first emit');
			const firstValidity = (trigger.emits[0].items[0].json.attributes as IDataObject).uidValidity;

			// Replace the folder: the old messages come back (same Message-IDs and dates), plus one new message.
			await client.mailboxDelete('Work');
			await client.mailboxCreate('Work');
			await client.append('Work', oldRaw, [], new Date(Date.now() - 2 * 24 * 3600 * 1000));
			await client.append('Work', seenRaw, [], seenDate);
			const newRaw = Buffer.from(`Message-ID: <new-${Date.now()}@example.test>\r\nSubject: new mail\r\nFrom: a@example.test\r\n\r\nnew\r\n`);
			await client.append('Work', newRaw, [], new Date());

			await trigger.waitFor(() => trigger.emits.length >= 2, 15_000, 'the new message');
			await sleep(1500);
			expect(trigger.emittedSubjects()).toEqual(['seen mail', 'new mail']);
			const secondValidity = (trigger.emits[1].items[0].json.attributes as IDataObject).uidValidity;
			expect(secondValidity).not.toBe(firstValidity);
			expect(trigger.emitErrors).toHaveLength(0);
		} finally {
			await client.logout();
		}
	}, 40_000);

	it('runs post-actions only after a successful run: a failing run leaves its message unread and in place', async () => {
		const { user, credentials } = await setup();
		await stack.createFolder(user, 'Processed');
		// The runs end only when the test lets them, so "before the runs finish" below is a fact, not a race between
		// the length of a run and how long the two deliveries take.
		let letRunsEnd!: () => void;
		const runsMayEnd = new Promise<void>((resolve) => (letRunsEnd = resolve));
		const trigger = harness({
			stack,
			credentials,
			parameters: { ...BASE_PARAMETERS, postProcessAction: 'read', options: { moveToFolder: 'Processed' } },
			run: async (items) => {
				await runsMayEnd;
				if (String(items[0].json.subject).startsWith('fail')) throw new Error('downstream node failed');
			},
		});
		await trigger.activate();
		await stack.deliver({ to: user, subject: 'ok 1' });
		await stack.deliver({ to: user, subject: 'fail 2' });
		await trigger.waitFor(() => trigger.emits.length === 2, 5000, 'both emits');
		// Nothing happens before the runs finish (given the time a post-action would take to show).
		await sleep(300);
		let inbox = await stack.mailboxState(user, 'INBOX');
		expect(inbox.messages).toHaveLength(2);
		expect(inbox.messages.every((message) => !message.flags.includes('\\Seen'))).toBe(true);

		letRunsEnd();
		await trigger.waitFor(() => trigger.runs.length === 2, 5000, 'both runs');
		let processed = await stack.mailboxState(user, 'Processed', { includeRaw: true });
		await waitUntil(async () => {
			processed = await stack.mailboxState(user, 'Processed', { includeRaw: true });
			return processed.messages.length >= 1;
		}, 'the successful run\'s message in Processed');
		expect(processed.messages).toHaveLength(1);
		expect(processed.messages[0].raw).toContain('Subject: ok 1');
		expect(processed.messages[0].flags).toContain('\\Seen');
		// Time for a post-action on the failed run's message to show (there must be none).
		await sleep(500);
		// The move is over once "ok 1" has left the INBOX too (the server removes it there after storing the copy).
		await waitUntil(async () => {
			inbox = await stack.mailboxState(user, 'INBOX', { includeRaw: true });
			return !inbox.messages.some((message) => message.raw?.includes('Subject: ok 1'));
		}, '"ok 1" to leave INBOX');
		expect(inbox.messages).toHaveLength(1);
		expect(inbox.messages[0].raw).toContain('Subject: fail 2');
		expect(inbox.messages[0].flags).not.toContain('\\Seen');
		// A workflow that failed is n8n's to retry: its message is not emitted again.
		expect(trigger.emits).toHaveLength(2);
	});

	it('"Test step" emits the newest matching message at once and changes nothing in the mailbox', async () => {
		const { user, credentials } = await setup();
		await stack.deliver({ to: user, subject: 'older' }, { via: 'lmtp' });
		await stack.deliver({ to: user, subject: 'newest' }, { via: 'lmtp' });
		const trigger = harness({
			stack,
			credentials,
			mode: 'manual',
			parameters: { ...BASE_PARAMETERS, postProcessAction: 'read', options: { customEmailConfig: '["UNSEEN"]' } },
		});
		await trigger.testStep();
		await trigger.waitFor(() => trigger.emits.length === 1, 5000, 'the test emit');
		expect(trigger.emittedSubjects()).toEqual(['newest']);
		await sleep(300);
		const inbox = await stack.mailboxState(user, 'INBOX');
		expect(inbox.messages.every((message) => !message.flags.includes('\\Seen'))).toBe(true);
		expect(trigger.database).toEqual({});
	});

	it('delivers the hand-built tricky messages through IMAP with every part intact (same item as parsing the file)', async () => {
		const { user, credentials } = await setup();
		const fixtureDir = path.join(__dirname, '../../fixtures/mail');
		const files = fs.readdirSync(fixtureDir).filter((name) => name.endsWith('.eml')).sort();
		const trigger = harness({
			stack,
			credentials,
			parameters: { ...BASE_PARAMETERS, format: 'resolved', dataPropertyAttachmentsPrefixName: 'attachment_' },
		});
		await trigger.activate();
		// Raw bytes over LMTP (8-bit parts must arrive untouched; saveMessage takes text).
		for (const file of files) await stack.deliver(fs.readFileSync(path.join(fixtureDir, file)), { via: 'lmtp', to: [user] });
		await trigger.waitFor(() => trigger.emits.length === files.length, 15_000, 'every fixture');
		await sleep(500);
		expect(trigger.emits).toHaveLength(files.length);

		const binaries = (item: { binary?: Record<string, { fileName?: string; mimeType?: string; data: string }> }) =>
			Object.fromEntries(Object.entries(item.binary ?? {}).map(([key, value]) => [key, [value.fileName, value.mimeType, value.data]]));
		// IMAP serves bare LF as CRLF; every other message must come out exactly as parsed from disk. (The trace headers
		// LMTP adds are left out of the comparison.)
		const withoutTransport = (json: IDataObject) => {
			const headers = { ...(json.headers as IDataObject) };
			for (const name of ['delivered-to', 'return-path', 'received']) delete headers[name];
			const copy: IDataObject = { ...json, headers };
			delete copy.attributes;
			return copy;
		};
		// 1. Each item is the message the server holds under the item's UID (subjects read by a separate IMAP session).
		const client = await userClient(user);
		const serverSubjects = new Map<number, string>();
		try {
			await client.mailboxOpen('INBOX', { readOnly: true });
			for await (const message of client.fetch('1:*', { uid: true, envelope: true }, { uid: true })) {
				serverSubjects.set(message.uid, message.envelope?.subject ?? '');
			}
		} finally {
			await client.logout().catch(() => undefined);
		}
		const items = trigger.emits.map((emit) => emit.items[0]);
		expect(items.map((item) => [(item.json.attributes as IDataObject).uid, item.json.subject])).toEqual(
			items.map((item) => [(item.json.attributes as IDataObject).uid, serverSubjects.get((item.json.attributes as IDataObject).uid as number)]),
		);
		// 2. Each fixture came out once, exactly as parsing the file gives it. Found by subject: the server numbers two
		// quick deliveries in the order its Maildir sync finds them, not always in delivery order.
		for (const file of files) {
			const direct = await messageToItem(fs.readFileSync(path.join(fixtureDir, file)), {
				format: 'resolved',
				downloadAttachments: true,
				attachmentPrefix: 'attachment_',
				attributes: {},
				prepareBinaryData: async (content, fileName, mimeType) => ({ data: content.toString('base64'), mimeType, fileName }),
			});
			const matching = items.filter((item) => item.json.subject === direct.json.subject);
			expect({ file, found: matching.length }).toEqual({ file, found: 1 });
			const emitted = matching[0];
			if (!emitted) continue;
			// Attachments byte-exact (base64 of the decoded part), names and types as when parsing the file itself.
			expect({ file, binaries: binaries(emitted) }).toEqual({ file, binaries: binaries(direct) });
			if (file !== 'bare-lf.eml') expect({ file, json: withoutTransport(emitted.json) }).toEqual({ file, json: withoutTransport(direct.json) });
		}
	}, 40_000);

	it('a catch-up takes small messages whole with their attributes and fetches longer ones again: every item is the server\'s message, left unread', async () => {
		const { user, credentials } = await setup();
		// Around the 80 KB that come with the attributes: well below, just below, just above, far above.
		const bodies = [100, 80_000, 82_500, 300_000].map((length, index) => `${String(index).repeat(60)}\r\n`.repeat(Math.ceil(length / 62)));
		for (const [index, body] of bodies.entries()) {
			await stack.deliver(`From: a@example.test\r\nTo: ${user}\r\nSubject: size ${index}\r\n\r\n${body}`, { via: 'lmtp', to: [user] });
		}
		const trigger = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, format: 'raw', options: { startFrom: 'unread' } } });
		await trigger.activate();
		await trigger.waitFor(() => trigger.emits.length === 4, 10_000, 'four emits');
		const client = await userClient(user);
		const server = new Map<number, { source: Buffer; seen: boolean }>();
		try {
			await client.mailboxOpen('INBOX', { readOnly: true });
			for await (const message of client.fetch('1:*', { uid: true, flags: true, source: true }, { uid: true })) {
				server.set(message.uid, { source: message.source as Buffer, seen: message.flags?.has('\\Seen') ?? false });
			}
		} finally {
			await client.logout().catch(() => undefined);
		}
		const sizes = [...server.values()].map((message) => message.source.length);
		expect(sizes.filter((size) => size > 81_920)).toHaveLength(2);
		for (const emit of trigger.emits) {
			const item = emit.items[0].json;
			const uid = (item.attributes as IDataObject).uid as number;
			// Format raw: the header section, the blank line between, the body (ASCII here: the UTF-8 strings are the bytes).
			const source = Buffer.from(`${String(item.rawHeaders)}\r\n${String(item.raw)}`);
			expect(source.length).toBe(server.get(uid)?.source.length);
			expect(crypto.createHash('sha256').update(source).digest('hex')).toBe(crypto.createHash('sha256').update(server.get(uid)?.source ?? '').digest('hex'));
			expect(server.get(uid)?.seen).toBe(false);
		}
	});

	it('the Message-ID read from the first bytes of a message is the one Dovecot gives for the header field, and ENVELOPE\'s (the fingerprint is unchanged)', async () => {
		const user = stack.newMailbox('msgid');
		const ids = ['<plain@example.test>', '<with.dots+plus@example.test>', '<folded-id@example.test>', '<spaced@example.test>'];
		const fields = [`Message-ID: ${ids[0]}`, `Message-Id: ${ids[1]}`, `Message-ID:\r\n ${ids[2]}`, `message-id:    ${ids[3]}   `];
		for (const [index, field] of fields.entries()) {
			await stack.deliver(`From: a@example.test\r\nTo: ${user}\r\nSubject: id ${index}\r\n${field}\r\n\r\nbody\r\n`, { via: 'lmtp', to: [user] });
		}
		await stack.deliver(`From: a@example.test\r\nTo: ${user}\r\nSubject: no id\r\n\r\nbody\r\n`, { via: 'lmtp', to: [user] });
		const longHeader = Array.from({ length: 1300 }, (_, index) => `X-Long-${index}: ${'h'.repeat(60)}`).join('\r\n');
		// Stored as they are by APPEND (LMTP would mend some): odd line ends, two fields, a field after an 80 KB header.
		const odd = [
			'Subject: hi\rMessage-ID: <spoof@x>\r\nMessage-ID: <real@x>\r\nFrom: a@x\r\n\r\nbody\r\n',
			'From: a@x\r\n\rMessage-ID: <lone-cr@x>\r\n\r\nbody\r\n',
			'From: a@x\r\nMessage-ID : <space-before-colon@x>\r\n\r\nbody\r\n',
			'From: a@x\nMessage-ID: <lf-only@x>\n\nbody\n',
			'From: a@x\r\nMessage-ID: <no-body@x>\r\n',
			'From: a@x\r\n\r\r\nMessage-ID: <cr-cr-lf@x>\r\n\r\nbody\r\n',
			`From: a@x\r\n${longHeader}\r\nMessage-ID: <after-80-kb@x>\r\n\r\nbody\r\n`,
			'Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\nbody\r\n',
		];
		const client = await userClient(user);
		try {
			for (const source of odd) await client.append('INBOX', Buffer.from(source, 'latin1'));
			await client.mailboxOpen('INBOX', { readOnly: true });
			const uids = (await client.search({ all: true }, { uid: true })) as number[];
			expect(uids).toHaveLength(13);
			const fromPrefix = await fetchMetadata(client, uids, false, 81_920);
			const fromField = await fetchMetadata(client, uids, false);
			const envelopes = new Map<number, string | undefined>();
			for await (const message of client.fetch('1:*', { uid: true, envelope: true }, { uid: true })) envelopes.set(message.uid, message.envelope?.messageId || undefined);
			const read = uids.map((uid) => ({ prefix: messageIdOf(fromPrefix.get(uid)), field: messageIdOf(fromField.get(uid)), envelope: envelopes.get(uid) }));
			for (const { prefix, field } of read) expect(prefix).toBe(field);
			expect(read.map(({ prefix }) => prefix)).toEqual([
				...ids,
				undefined,
				'<real@x>',
				undefined,
				'<space-before-colon@x>',
				'<lf-only@x>',
				'<no-body@x>',
				undefined, // the CR CR LF line ends Dovecot's header: both readings agree
				'<after-80-kb@x>',
				'<first@x>',
			]);
			// ENVELOPE agrees, except that Dovecot's ENVELOPE takes the last of two fields (error items show that one).
			for (const { field, envelope } of read.slice(0, -1)) expect(field).toBe(envelope);
			expect(read[read.length - 1].envelope).toBe('<second@x>');
		} finally {
			await client.logout().catch(() => undefined);
		}
	});

	it('reads a chunk whole while another client changes flags (unsolicited FETCH rows come with the answer)', async () => {
		const user = stack.newMailbox('msgid-flags');
		for (let index = 0; index < 5; index++) {
			await stack.deliver(`From: a@example.test\r\nTo: ${user}\r\nMessage-ID: <flags-${index}@x>\r\n\r\nbody ${index}\r\n`, { via: 'lmtp', to: [user] });
		}
		const reader = await userClient(user);
		const other = await userClient(user);
		try {
			await reader.mailboxOpen('INBOX');
			await other.mailboxOpen('INBOX');
			const uids = (await reader.search({ all: true }, { uid: true })) as number[];
			await other.messageFlagsAdd(String(uids[2]), ['\\Flagged'], { uid: true });
			await other.noop();
			const metadata = await fetchMetadata(reader, uids, false, 81_920);
			expect([...metadata.keys()]).toEqual(uids);
			for (const [index, uid] of uids.entries()) {
				expect(metadata.get(uid)?.source?.length).toBe(metadata.get(uid)?.size);
				expect(messageIdOf(metadata.get(uid))).toBe(`<flags-${index}@x>`);
			}
		} finally {
			await reader.logout().catch(() => undefined);
			await other.logout().catch(() => undefined);
		}
	});
});
