/**
 * Durable delivery on the real stack (Dovecot), through the real trigger node as the harness runs it: refusals at
 * activation (a loop into a watched folder; a server without UIDPLUS, or without MOVE and UIDPLUS — a second Dovecot
 * over the same mail that announces fewer capabilities), the retry list for a message whose item cannot be stored
 * (n8n's binary store failing with ENOSPC), a server restored from a backup (UIDNEXT back under the same UIDVALIDITY:
 * the user's Maildir with its uidlist and indexes put back under a running trigger) and a future INTERNALDATE followed
 * by a folder recreated under a new UIDVALIDITY. Every message is checked for exactly one item.
 *
 * Not here, and why: Gmail's one run per message under two watched labels needs X-GM-EXT-1, which Dovecot does not
 * offer (unit tests, test/unit/mail/imap/recovery.test.ts). An APPEND cannot carry a future INTERNALDATE into
 * Dovecot (it stores now instead, asserted below); a Maildir file whose mtime is a year ahead can, and is used.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import type { DovecotVariant } from '../../stack/stack';
import { getStack } from '../../stack';
import { CredentialStore, TriggerHarness } from './triggerHarness';

const stack = getStack();
jest.setTimeout(30_000);
const run = promisify(execFile);

const running: TriggerHarness[] = [];
const BASE_PARAMETERS: IDataObject = { mailbox: 'INBOX', postProcessAction: 'nothing', format: 'simple', options: {} };

/** A fresh mailbox and its credential; `imapsPort`: a variant Dovecot's port instead of the stack's. */
async function setup(options: { imapsPort?: number; user?: string } = {}) {
	const user = options.user ?? stack.newMailbox('deliv');
	const tokens = await stack.issueTokens(user, { lifetimeSeconds: 3600 });
	const credentials = new CredentialStore(stack, user, tokens);
	if (options.imapsPort !== undefined) credentials.data = { ...credentials.data, imapPort: options.imapsPort };
	return { user, credentials };
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

/** A plain imapflow client of the test (another mail client), on the stack's Dovecot or a variant's port. */
async function userClient(user: string, port = stack.ports.imaps): Promise<ImapFlow> {
	const client = new ImapFlow({
		host: stack.host,
		port,
		secure: true,
		tls: stack.tlsOptions(),
		auth: { user, accessToken: await stack.accessToken(user) },
		logger: false,
	});
	client.on('error', () => undefined);
	await client.connect();
	return client;
}

/** The subject of an item, or of an error item (which has the ENVELOPE's headers instead). */
function subjectOf(item: INodeExecutionData): string {
	return String(item.json.subject ?? (item.json.headers as IDataObject | undefined)?.subject ?? '');
}

function emittedItems(trigger: TriggerHarness): INodeExecutionData[] {
	return trigger.emits.flatMap((emit) => emit.items);
}

/** Exactly once: every expected subject came out in exactly one item, and nothing else came out. */
function expectExactlyOnce(trigger: TriggerHarness, subjects: string[]): void {
	const counts = new Map<string, number>();
	for (const item of emittedItems(trigger)) counts.set(subjectOf(item), (counts.get(subjectOf(item)) ?? 0) + 1);
	expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(subjects.map((subject) => [subject, 1])));
}

interface SavedState {
	folders?: Record<string, { lastUid: number; uidValidity?: string; newestEmittedAt?: number; generation?: number }>;
	retries?: Record<string, Array<{ uid: number; attempts: number; firstFailedAt: number; nextAttemptAt: number; reason: string }>>;
}

function savedState(trigger: TriggerHarness): SavedState {
	return ((trigger.database['node:Gmail IMAP Trigger'] as IDataObject | undefined)?.gmailImapTrigger ?? {}) as SavedState;
}

function warnings(trigger: TriggerHarness, pattern: RegExp): string[] {
	return trigger.logs.filter((entry) => entry.level === 'warn' && pattern.test(entry.message)).map((entry) => entry.message);
}

/** The directory of a user's folder in the stack's Maildir (userdb home = <mail>/<domain>/<local part>). */
function maildirOf(user: string, folder = 'INBOX'): string {
	const [local, domain] = user.toLowerCase().split('@');
	const root = path.join(stack.dir, 'mail', domain, local, 'Maildir');
	return folder === 'INBOX' ? root : path.join(root, `.${folder}`);
}

function doveadm(...args: string[]): Promise<{ stdout: string }> {
	return run('doveadm', ['-c', stack.info.files.dovecotConfig, ...args]);
}

function rawMessage(subject: string): string {
	return `From: sender@${stack.domain}\r\nTo: someone@${stack.domain}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W+/g, '-')}-${Date.now()}@${stack.domain}>\r\nDate: ${new Date().toUTCString()}\r\n\r\n${subject}\r\n`;
}

describe('refusals at activation on the real stack', () => {
	let withoutUidplus: DovecotVariant;
	let withoutMoveAndUidplus: DovecotVariant;
	let announced: string[];

	beforeAll(async () => {
		// What the stack's Dovecot announces after login, to take names away from.
		const probe = await userClient(stack.newMailbox('caps'));
		announced = [...probe.capabilities.entries()].map(([name, value]) => (value === true ? name : `${name}=${String(value)}`));
		await probe.logout();
		const without = (...names: string[]) => announced.filter((name) => !names.includes(name.toUpperCase())).join(' ');
		[withoutUidplus, withoutMoveAndUidplus] = await Promise.all([
			stack.startDovecotVariant({ imapCapability: without('UIDPLUS') }),
			stack.startDovecotVariant({ imapCapability: without('UIDPLUS', 'MOVE') }),
		]);
	});

	afterAll(async () => {
		await Promise.all([withoutUidplus?.stop(), withoutMoveAndUidplus?.stop()]);
	});

	it('a Move to Folder into a watched folder is refused (INBOX in any case, an additional folder by its name); nothing stays connected', async () => {
		const { user, credentials } = await setup();
		await stack.createFolder(user, 'Archive');
		for (const [moveToFolder, watched] of [
			['inbox', 'INBOX'],
			['Inbox', 'INBOX'],
			['Archive', 'Archive'],
		]) {
			const trigger = harness({
				stack,
				credentials,
				parameters: { ...BASE_PARAMETERS, options: { moveToFolder, additionalFolders: 'Archive' } },
			});
			await expect(trigger.activate()).rejects.toThrow(`Move to Folder "${moveToFolder}" is a watched folder ("${watched}")`);
		}
		await stack.waitForNoSessions(user, 3000);
		// The same plan into a folder that is not watched is accepted.
		await stack.createFolder(user, 'Done');
		await harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, options: { moveToFolder: 'Done' } } }).activate();
	});

	it('queue mode: a Gmail POP Get Many after the trigger is refused at activation (it would roll the position back); other neighbours are accepted', async () => {
		const { user, credentials } = await setup();
		const pop = { name: 'Fetch POP', type: 'n8n-nodes-gmail-xoauth2.gmailPop', typeVersion: 1, disabled: false, parameters: {} };
		const saved = process.env.EXECUTIONS_MODE;
		process.env.EXECUTIONS_MODE = 'queue';
		try {
			const refused = harness({ stack, credentials, parameters: BASE_PARAMETERS, childNodes: [pop] });
			await expect(refused.activate()).rejects.toThrow(
				'In n8n\'s queue mode the Gmail POP node "Fetch POP" (Get Many) cannot run in the same workflow as the Gmail IMAP Trigger "Gmail IMAP Trigger"',
			);
			expect(refused.database).toEqual({});
			await stack.waitForNoSessions(user, 3000);
			const counting = { ...pop, parameters: { operation: 'getCount' } };
			await harness({ stack, credentials, parameters: BASE_PARAMETERS, childNodes: [counting, { ...pop, disabled: true }] }).activate();
		} finally {
			if (saved === undefined) delete process.env.EXECUTIONS_MODE;
			else process.env.EXECUTIONS_MODE = saved;
		}
		// Without queue mode (one n8n process, one static data object) the same workflow is accepted.
		await harness({ stack, credentials, parameters: BASE_PARAMETERS, childNodes: [pop] }).activate();
	});

	it('a Dovecot that does not announce UIDPLUS: Delete After Run is refused naming UIDPLUS; Move to Folder (MOVE is there) is accepted', async () => {
		expect(announced).toEqual(expect.arrayContaining(['UIDPLUS', 'MOVE']));
		const { user, credentials } = await setup({ imapsPort: withoutUidplus.imapsPort });
		const client = await userClient(user, withoutUidplus.imapsPort);
		expect(client.capabilities.has('UIDPLUS')).toBe(false);
		expect(client.capabilities.has('MOVE')).toBe(true);
		await client.logout();

		const deleting = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, options: { deleteAfter: true } } });
		await expect(deleting.activate()).rejects.toThrow(/Delete After Run needs the IMAP extension UIDPLUS/);
		await stack.createFolder(user, 'Done');
		await harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, options: { moveToFolder: 'Done' } } }).activate();
		// The stack's own Dovecot (UIDPLUS announced) accepts Delete After Run for the same mailbox.
		const { credentials: onStack } = await setup({ user });
		await harness({ stack, credentials: onStack, parameters: { ...BASE_PARAMETERS, options: { deleteAfter: true } } }).activate();
	});

	it('a Dovecot with neither MOVE nor UIDPLUS: Move to Folder is refused naming both; Mark as Read is accepted', async () => {
		const { user, credentials } = await setup({ imapsPort: withoutMoveAndUidplus.imapsPort });
		const client = await userClient(user, withoutMoveAndUidplus.imapsPort);
		expect(client.capabilities.has('UIDPLUS') || client.capabilities.has('MOVE')).toBe(false);
		await client.logout();
		await stack.createFolder(user, 'Done');
		const moving = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, options: { moveToFolder: 'Done' } } });
		await expect(moving.activate()).rejects.toThrow(/Move to Folder needs the IMAP extension MOVE or UIDPLUS/);
		const deleting = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, options: { deleteAfter: true } } });
		await expect(deleting.activate()).rejects.toThrow(/UIDPLUS/);

		// Mark as Read needs neither: accepted, and the trigger works on this server.
		const reading = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, postProcessAction: 'read' } });
		await reading.activate();
		await stack.deliver({ to: user, subject: 'on the variant' }, { via: 'lmtp' });
		await reading.waitFor(() => reading.emits.length === 1, 5000, 'the emit through the variant Dovecot');
		// Marked as read after the run, over the variant's connection.
		const deadline = Date.now() + 5000;
		let flags = (await stack.mailboxState(user)).messages[0]?.flags ?? [];
		while (!flags.includes('\\Seen') && Date.now() < deadline) {
			await sleep(50);
			flags = (await stack.mailboxState(user)).messages[0]?.flags ?? [];
		}
		expect(flags).toContain('\\Seen');
		await sleep(500);
		expectExactlyOnce(reading, ['on the variant']);
	});
});

describe('retry list on the real stack: a message whose attachment cannot be stored (ENOSPC)', () => {
	const ENOSPC = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

	/** n8n's binary store, failing for the attachment "stuck.bin" while `full()`; counts the failures. */
	function diskFull(full: () => boolean) {
		const disk = {
			failures: 0,
			firstFailureAt: 0,
			beforeStoringBinary: (fileName: string | undefined) => {
				if (fileName === 'stuck.bin' && full()) {
					if (disk.failures === 0) disk.firstFailureAt = Date.now();
					disk.failures++;
					throw ENOSPC();
				}
			},
		};
		return disk;
	}

	/**
	 * Delivers the message whose attachment cannot be stored, and waits for the trigger's first attempt at it: mail
	 * delivered afterwards then has higher UIDs. (Dovecot's Maildir numbers a message when its save can lock
	 * dovecot-uidlist, else at the next sync, so two quick deliveries are not promised UIDs in delivery order.)
	 */
	async function deliverStuck(user: string, trigger: TriggerHarness, disk: { failures: number }): Promise<void> {
		await stack.deliver(
			{ to: user, subject: 'stuck', text: 'has an attachment', attachments: [{ filename: 'stuck.bin', content: 'x'.repeat(100) }] },
			{ via: 'lmtp' },
		);
		await trigger.waitFor(() => disk.failures >= 1, 10_000, 'the first attempt at the stuck message');
	}

	it('with the default policy the first retry is due a minute after the failure; later mail is not held', async () => {
		const { user, credentials } = await setup();
		const disk = diskFull(() => true);
		const trigger = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, downloadAttachments: true }, beforeStoringBinary: disk.beforeStoringBinary });
		await trigger.activate();
		await deliverStuck(user, trigger, disk);
		await stack.deliver({ to: user, subject: 'later' }, { via: 'lmtp' });
		await trigger.waitFor(() => trigger.emits.length === 1, 10_000, 'the later message');
		const entries = savedState(trigger).retries?.INBOX ?? [];
		// One comparison of everything, so that a failure shows the whole state (seen once under load, not since).
		expect({
			entries,
			firstDelay: entries[0] ? entries[0].nextAttemptAt - entries[0].firstFailedAt : undefined,
			failures: disk.failures,
			subjects: trigger.emittedSubjects(),
			log: trigger.logs.filter((entry) => entry.level !== 'debug').map((entry) => `${entry.level}: ${entry.message}`),
			emits: trigger.emits.map((emit) => (emit.items as Array<{ json: IDataObject }>).map((item) => (item.json.attributes as IDataObject)?.uid)),
		}).toMatchObject({
			entries: [{ uid: 1, attempts: 1, reason: expect.stringMatching(/no space left on device/) }],
			firstDelay: 60_000,
			failures: 1,
			subjects: ['later'],
		});
		expectExactlyOnce(trigger, ['later']);
	});

	it('later mail flows while it is tried again; once the store works it goes out exactly once, with its attachment', async () => {
		const { user, credentials } = await setup();
		let full = true;
		const disk = diskFull(() => full);
		const trigger = harness({
			stack,
			credentials,
			parameters: { ...BASE_PARAMETERS, downloadAttachments: true },
			beforeStoringBinary: disk.beforeStoringBinary,
			watcherDefaults: { itemRetry: { firstDelayMs: 300, maxDelayMs: 600, attempts: 1000, minSpanMs: 3600_000, maxEntries: 100 } },
		});
		await trigger.activate();
		await deliverStuck(user, trigger, disk);
		await stack.deliver({ to: user, subject: 'later 1' }, { via: 'lmtp' });
		await stack.deliver({ to: user, subject: 'later 2' }, { via: 'lmtp' });
		await trigger.waitFor(() => trigger.emits.length === 2, 10_000, 'the later messages');
		expect(trigger.emittedSubjects().sort()).toEqual(['later 1', 'later 2']);
		const [entry] = savedState(trigger).retries?.INBOX ?? [];
		expect(entry).toMatchObject({ uid: 1, attempts: 1 });
		expect(entry.nextAttemptAt - entry.firstFailedAt).toBe(300);
		expect(savedState(trigger).folders?.INBOX.lastUid).toBe(3);

		// Tried again and again (the real server reads it each time) while new mail still goes out at once.
		await trigger.waitFor(() => disk.failures >= 3, 10_000, 'two more attempts');
		await stack.deliver({ to: user, subject: 'later 3' }, { via: 'lmtp' });
		await trigger.waitFor(() => trigger.emits.length === 3, 5000, 'a message arriving during the retries');
		const failuresWhileFull = disk.failures;

		full = false;
		await trigger.waitFor(() => trigger.emits.length === 4, 5000, 'the stuck message once the store works');
		await sleep(1500);
		expect([...trigger.emittedSubjects().slice(0, 2).sort(), ...trigger.emittedSubjects().slice(2)]).toEqual(['later 1', 'later 2', 'later 3', 'stuck']);
		expectExactlyOnce(trigger, ['stuck', 'later 1', 'later 2', 'later 3']);
		const stuck = trigger.emits[3].items[0];
		expect(stuck.json.error).toBeUndefined();
		expect(stuck.json.attributes).toMatchObject({ uid: 1, mailbox: 'INBOX' });
		expect(Buffer.from(stuck.binary?.attachment_0?.data ?? '', 'base64').toString()).toBe('x'.repeat(100));
		expect(disk.failures).toBe(failuresWhileFull);
		expect(savedState(trigger).retries?.INBOX ?? []).toEqual([]);
		expect(savedState(trigger).folders?.INBOX.lastUid).toBe(4);
		expect(trigger.skippedAsDuplicate).toBe(0);
	});

	it('a store that keeps failing: after the attempts and the time span one error item (uid, mailbox, reason) goes out, once', async () => {
		const { user, credentials } = await setup();
		const disk = diskFull(() => true);
		const policy = { firstDelayMs: 200, maxDelayMs: 400, attempts: 3, minSpanMs: 2000, maxEntries: 100 };
		const trigger = harness({
			stack,
			credentials,
			parameters: { ...BASE_PARAMETERS, downloadAttachments: true },
			beforeStoringBinary: disk.beforeStoringBinary,
			watcherDefaults: { itemRetry: policy },
		});
		await trigger.activate();
		await deliverStuck(user, trigger, disk);
		await stack.deliver({ to: user, subject: 'later' }, { via: 'lmtp' });
		// Under load the error item can go out before the later message's run (the give-up is timed), so
		// the emits are found by UID, not by position.
		await trigger.waitFor(() => trigger.emits.length === 2, 10_000, 'the later message and the error item');
		const errorEmit = trigger.emits.find((emit) => emit.items[0].json.error !== undefined);
		expect(errorEmit).toBeDefined();
		const givenUpAt = errorEmit?.at ?? 0;
		const failures = disk.failures;
		await sleep(1500);

		expect(trigger.emits).toHaveLength(2);
		expectExactlyOnce(trigger, ['later', 'stuck']);
		const item = errorEmit?.items[0] ?? trigger.emits[0].items[0];
		expect(item.binary).toBeUndefined();
		expect(item.json.attributes).toMatchObject({ uid: 1, mailbox: 'INBOX' });
		const reason = String(item.json.error);
		expect(reason).toMatch(/^The message could not be turned into an item after \d+ attempts over [\d.]+ h: .*ENOSPC: no space left on device/);
		const attempts = Number(/after (\d+) attempts/.exec(reason)?.[1]);
		expect(attempts).toBe(failures);
		expect(attempts).toBeGreaterThanOrEqual(policy.attempts);
		expect(givenUpAt - disk.firstFailureAt).toBeGreaterThanOrEqual(policy.minSpanMs);
		// No attempt after the error item, the list is empty, the checkpoint is past both messages.
		expect(disk.failures).toBe(failures);
		expect(savedState(trigger).retries?.INBOX ?? []).toEqual([]);
		expect(savedState(trigger).folders?.INBOX.lastUid).toBe(2);
		expect(warnings(trigger, /is given up after/)).toHaveLength(1);
	});
});

describe('a server restored from a backup (UIDNEXT back under the same UIDVALIDITY)', () => {
	it('new mail under reused UIDs is emitted, not taken for the old messages; the old ones are not emitted again; warned once', async () => {
		const { user, credentials } = await setup();
		// Polling every 5 s as well: under heavy load the waits below must not hang on one late IDLE notification.
		const trigger = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, options: { pollIntervalSeconds: 5 } } });
		await trigger.activate();
		await stack.deliver({ to: user, subject: 'before the backup' }, { via: 'lmtp' });
		await trigger.waitFor(() => trigger.runs.length === 1, 15_000, 'the first run');
		await sleep(300);

		// The backup: the user's whole Maildir (messages, dovecot-uidlist, indexes), owners and times kept.
		const maildir = maildirOf(user);
		await run('cp', ['-a', maildir, `${maildir}.backup`]);
		const backedUp = await stack.mailboxState(user);
		expect(backedUp.uidNext).toBe(2);

		await stack.deliver({ to: user, subject: 'after the backup 1' }, { via: 'lmtp' });
		await stack.deliver({ to: user, subject: 'after the backup 2' }, { via: 'lmtp' });
		await trigger.waitFor(() => trigger.runs.length === 3, 15_000, 'the runs after the backup');
		await sleep(300);
		expect(trigger.emittedUids()).toEqual([1, 2, 3]);

		// The restore: the copy replaces the Maildir (two renames, no moment without one), Dovecot resyncs it and the
		// sessions are kicked, so the trigger's next session sees the restored folder.
		await run('cp', ['-a', `${maildir}.backup`, `${maildir}.restore`]);
		fs.renameSync(maildir, `${maildir}.replaced`);
		fs.renameSync(`${maildir}.restore`, maildir);
		await doveadm('force-resync', '-u', user, 'INBOX');
		await stack.kick(user);
		const restored = await stack.mailboxState(user);
		expect(restored).toMatchObject({ uidValidity: backedUp.uidValidity, uidNext: 2 });
		await trigger.waitFor(() => warnings(trigger, /went back: its UIDNEXT/).length > 0, 20_000, 'the trigger to see the restore');

		await stack.deliver({ to: user, subject: 'after the restore 1' }, { via: 'lmtp' });
		await stack.deliver({ to: user, subject: 'after the restore 2' }, { via: 'lmtp' });
		// The server really handed out UIDs 2 and 3 again, under the same UIDVALIDITY.
		const reused = await stack.mailboxState(user);
		expect(reused.uidValidity).toBe(backedUp.uidValidity);
		expect(reused.messages.map((message) => message.uid)).toEqual([1, 2, 3]);
		await trigger.waitFor(() => trigger.emits.length === 5, 20_000, 'the new messages under the reused UIDs');

		// Another session (kicked again) finds nothing new and does not warn again.
		await stack.kick(user);
		await sleep(1500);
		// (Two quick deliveries may be numbered in either order: compared as pairs.)
		const subjects = trigger.emittedSubjects();
		expect([subjects[0], ...subjects.slice(1, 3).sort(), ...subjects.slice(3).sort()]).toEqual([
			'before the backup',
			'after the backup 1',
			'after the backup 2',
			'after the restore 1',
			'after the restore 2',
		]);
		expectExactlyOnce(trigger, ['before the backup', 'after the backup 1', 'after the backup 2', 'after the restore 1', 'after the restore 2']);
		expect(trigger.emittedUids()).toEqual([1, 2, 3, 2, 3]);
		// n8n's deduplication index holds the keys of the first UIDs 2 and 3: the new messages were not skipped as theirs.
		expect(trigger.skippedAsDuplicate).toBe(0);
		expect(warnings(trigger, /went back: its UIDNEXT/)).toHaveLength(1);
		expect(savedState(trigger).folders?.INBOX).toMatchObject({ lastUid: 3, generation: 1, uidValidity: String(backedUp.uidValidity) });
		expect(trigger.emitErrors).toHaveLength(0);
	}, 90_000);
});

describe('a future INTERNALDATE', () => {
	it('does not push the time rule a year ahead: after the folder is recreated (new UIDVALIDITY) a normal message is emitted', async () => {
		const { user, credentials } = await setup();
		await stack.createFolder(user, 'Watched');
		await stack.createFolder(user, 'Scratch');

		// Dovecot stores an APPEND's future date as now: an APPEND cannot stage the case.
		const client = await userClient(user);
		const yearAhead = Date.now() + 365 * 24 * 3600 * 1000;
		try {
			await client.append('Scratch', rawMessage('appended with a future date'), [], new Date(yearAhead));
			await client.mailboxOpen('Scratch');
			const appended = await client.fetchOne('*', { internalDate: true });
			expect(appended && new Date(appended.internalDate ?? 0).getTime()).toBeLessThan(Date.now() + 60_000);
		} finally {
			await client.logout();
		}

		const trigger = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, mailbox: 'Watched', options: { pollIntervalSeconds: 5 } } });
		await trigger.activate();
		// Another delivery agent writes a Maildir file with a clock a year ahead: Dovecot's INTERNALDATE is its mtime.
		const folderDir = maildirOf(user, 'Watched');
		const owner = fs.statSync(folderDir);
		const name = `${Math.floor(Date.now() / 1000)}.M1P${process.pid}.future`;
		const staged = path.join(folderDir, 'tmp', name);
		fs.writeFileSync(staged, rawMessage('from a clock a year ahead').replace(/\r\n/g, '\n'));
		fs.chownSync(staged, owner.uid, owner.gid);
		fs.utimesSync(staged, new Date(yearAhead), new Date(yearAhead));
		fs.renameSync(staged, path.join(folderDir, 'new', name));
		await trigger.waitFor(() => trigger.emits.length === 1, 10_000, 'the message dated a year ahead');
		const futureDate = Date.parse(String((trigger.emits[0].items[0].json.attributes as IDataObject).internalDate));
		expect(Math.abs(futureDate - yearAhead)).toBeLessThan(2000);
		// What the time rule will use: the emit time + the 5-minute skew at most, not the message's date.
		expect(savedState(trigger).folders?.Watched.newestEmittedAt).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
		const oldValidity = savedState(trigger).folders?.Watched.uidValidity;
		await sleep(1100);

		// The folder is recreated with a message in it before the trigger looks: a new folder gets the message, the old
		// one is deleted and the new one takes its name (so the message is judged by the UIDVALIDITY time rule whenever
		// the trigger's next pass comes).
		await stack.createFolder(user, 'Watched-new');
		await stack.saveMessage(user, rawMessage('normal after the recreation'), 'Watched-new');
		await doveadm('mailbox', 'delete', '-u', user, 'Watched');
		await doveadm('mailbox', 'rename', '-u', user, 'Watched-new', 'Watched');
		const recreated = await stack.mailboxState(user, 'Watched');
		expect(String(recreated.uidValidity)).not.toBe(oldValidity);
		expect(recreated.messages.map((message) => message.uid)).toEqual([1]);

		await trigger.waitFor(() => trigger.emits.length === 2, 15_000, 'the normal message in the recreated folder');
		await sleep(1000);
		expectExactlyOnce(trigger, ['from a clock a year ahead', 'normal after the recreation']);
		expect(warnings(trigger, /has a new UIDVALIDITY/)).toHaveLength(1);
		expect((trigger.emits[1].items[0].json.attributes as IDataObject).uidValidity).toBe(String(recreated.uidValidity));
		expect(trigger.emitErrors).toHaveLength(0);
	}, 40_000);
});
