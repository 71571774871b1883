/** The protocol side of the action node without a server: search building, flags, wording of failures, and the UIDVALIDITY check. */
import { checkFlags } from '../../../../../nodes/mail/imap/actions/append';
import { describeImapFailure, ImapActionError } from '../../../../../nodes/mail/imap/actions/errors';
import { locateMessages } from '../../../../../nodes/mail/imap/actions/locate';
import { buildSearch, searchMessages } from '../../../../../nodes/mail/imap/actions/read';
import { parseCustomCriteria } from '../../../../../nodes/mail/imap/search';
import { FakeImapServer } from '../fakeImap';
import { FakeActionServerExtras, fakeActionClientFactory } from './fakeActionClient';

describe('buildSearch', () => {
	it('ANDs Custom Email Rules, Gmail Search and the received dates (BEFORE widened by a day, checked exactly later)', () => {
		const since = new Date('2024-05-01T10:00:00Z');
		const before = new Date('2024-05-03T10:00:00Z');
		expect(buildSearch({ criteria: parseCustomCriteria('["UNSEEN"]'), gmailSearch: ' from:x ', since, before, newestFirst: true }, true)).toEqual({
			seen: false,
			gmraw: 'from:x',
			since,
			before: new Date('2024-05-04T10:00:00Z'),
		});
		expect(buildSearch({ newestFirst: true }, false)).toEqual({ all: true });
	});

	it('refuses Gmail-only keys on other servers instead of letting them be dropped', () => {
		expect(() => buildSearch({ gmailSearch: 'is:starred', newestFirst: true }, false)).toThrow(ImapActionError);
		expect(() => buildSearch({ criteria: parseCustomCriteria('[["X-GM-LABELS", "Work"]]'), newestFirst: true }, false)).toThrow('need a Gmail server (X-GM-EXT-1)');
	});
});

describe('checkFlags', () => {
	it('accepts system flags and keywords, refuses what IMAP cannot store', () => {
		expect(checkFlags(['\\Seen', '$Processed', 'Work-2024'])).toEqual(['\\Seen', '$Processed', 'Work-2024']);
		for (const bad of ['two words', '(x)', '"q"', 'a*', '\\Recent', '']) expect(() => checkFlags([bad])).toThrow('is not a flag the server can store');
	});
});

describe('describeImapFailure', () => {
	const server = { host: 'imap.example.test', port: 993 };
	it('names the server for network and certificate failures, and says what to check', () => {
		expect(describeImapFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), server)).toEqual({
			message: 'The IMAP server imap.example.test:993 refused the connection',
			description: 'Check the IMAP host and port of the credential.',
		});
		expect(describeImapFailure(Object.assign(new Error('x'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), server)?.description).toContain('CA Certificate (PEM)');
		expect(describeImapFailure(Object.assign(new Error('Command failed'), { responseText: 'Quota exceeded' }), server)).toEqual({ message: 'Command failed: Quota exceeded' });
		expect(describeImapFailure(new Error('other'), server)).toBeUndefined();
	});
});

describe('locateMessages', () => {
	it('refuses a UID read under another UIDVALIDITY before sending any command', async () => {
		const fake = new FakeImapServer(['INBOX']);
		const message = fake.deliver('INBOX');
		const client = fakeActionClientFactory(fake, new FakeActionServerExtras())({ host: 'x', port: 993 });
		await client.connect();
		await client.getMailboxLock('INBOX');
		const folder = { path: 'INBOX', uidValidity: String(fake.folders.get('INBOX')?.uidValidity), exists: 1 };
		const commands = fake.commands.length;
		await expect(locateMessages(client, folder, { folder: 'INBOX', uid: message.uid, uidValidity: '1', source: 'item' })).rejects.toThrow(
			`The folder "INBOX" changed its UIDVALIDITY since the item was made (1 → ${folder.uidValidity})`,
		);
		expect(fake.commands.length).toBe(commands);
		await expect(locateMessages(client, folder, { folder: 'INBOX', uid: message.uid, uidValidity: folder.uidValidity, source: 'item' })).resolves.toEqual([message.uid]);
	});

	it('by Message-ID keeps only exact matches (SEARCH HEADER matches substrings)', async () => {
		const fake = new FakeImapServer(['INBOX']);
		const wanted = fake.deliver('INBOX', { messageId: '<abc@x.test>' });
		fake.deliver('INBOX', { messageId: '<abc@x.test.other>' });
		const client = fakeActionClientFactory(fake, new FakeActionServerExtras())({ host: 'x', port: 993 });
		await client.connect();
		await client.getMailboxLock('INBOX');
		const folder = { path: 'INBOX', uidValidity: '1', exists: 2 };
		await expect(locateMessages(client, folder, { folder: 'INBOX', messageId: 'abc@x.test' })).resolves.toEqual([wanted.uid]);
	});
});

describe('searchMessages', () => {
	it('keeps each message\'s attributes when unsolicited flag rows with a UID come with the FETCH answer', async () => {
		const fake = new FakeImapServer(['INBOX']);
		const first = fake.deliver('INBOX', { messageId: '<one@x.test>' });
		const second = fake.deliver('INBOX', { messageId: '<two@x.test>' });
		fake.unsolicitedFlagRows = 'with UID';
		const client = fakeActionClientFactory(fake, new FakeActionServerExtras())({ host: 'x', port: 993 });
		await client.connect();
		await client.getMailboxLock('INBOX');
		const found = await searchMessages(client, { path: 'INBOX', uidValidity: '1', exists: 2 }, { newestFirst: false }, false);
		expect(found.map((message) => [message.uid, message.size, message.internalDate, message.envelope?.messageId])).toEqual([
			[first.uid, first.source.length, first.internalDate, '<one@x.test>'],
			[second.uid, second.source.length, second.internalDate, '<two@x.test>'],
		]);
	});

	it('asks once more for a message the FETCH answer left out (imapflow can drop rows when it retries a throttled FETCH)', async () => {
		const fake = new FakeImapServer(['INBOX']);
		const messages = [fake.deliver('INBOX'), fake.deliver('INBOX'), fake.deliver('INBOX')];
		let leftOut = 0;
		fake.omit = (command, uid) => command === 'FETCH' && uid === messages[1].uid && leftOut++ === 0;
		const client = fakeActionClientFactory(fake, new FakeActionServerExtras())({ host: 'x', port: 993 });
		await client.connect();
		await client.getMailboxLock('INBOX');
		const found = await searchMessages(client, { path: 'INBOX', uidValidity: '1', exists: 3 }, { newestFirst: false }, false);
		expect(found.map((message) => message.uid)).toEqual(messages.map((message) => message.uid));
		expect(fake.commands.filter((command) => command.startsWith('FETCH'))).toEqual(['FETCH 1:3 uid,flags,internalDate,size,envelope', `FETCH ${messages[1].uid} uid,flags,internalDate,size,envelope`]);
	});
});
