/** Create Draft and Append on the real Dovecot: what the folder holds afterwards, byte for byte where it matters. */
import type { IDataObject } from 'n8n-workflow';

import { binaryFromBuffer } from '../../harness/executeHarness';
import { PostfixLog, runSmtpNode, senderCredential } from '../../smtp/smtpTestKit';
import { newAccount, runError, runNode, stack } from './nodeKit';

jest.setTimeout(30_000);

describe('Gmail IMAP node: storing messages on the real server', () => {
	it('Create Draft stores the SMTP node\'s message in the \\Drafts folder, flagged \\Draft, with its attachment', async () => {
		const account = await newAccount();
		const { items } = await runNode(
			account,
			{
				resource: 'message',
				operation: 'createDraft',
				toEmail: 'Ann Example <ann@example.test>',
				subject: 'Quarterly report',
				emailFormat: 'text',
				text: 'Draft body',
				options: { fileAttachments: 'report', bccEmail: 'boss@example.test' },
			},
			{ items: [{ json: {}, binary: { report: binaryFromBuffer(Buffer.from('q1,q2\n'), 'report.csv', 'text/csv') } }] },
		);
		const drafts = await stack.mailboxState(account.user, 'Drafts', { includeRaw: true });
		expect(drafts.messages).toHaveLength(1);
		const [draft] = drafts.messages;
		expect(draft.flags.sort()).toEqual(['\\Draft', '\\Seen']);
		expect(items[0].json).toEqual({
			mailbox: 'Drafts',
			uid: draft.uid,
			uidValidity: String(drafts.uidValidity),
			flags: ['\\Draft', '\\Seen'],
			messageId: expect.stringMatching(/^<.+>$/),
		});
		const raw = draft.raw as string;
		expect(raw).toMatch(/^From: .*\r\n/m);
		expect(raw).toContain(`From: ${account.user}`);
		expect(raw).toContain('To: Ann Example <ann@example.test>');
		expect(raw).toContain('Bcc: boss@example.test');
		expect(raw).toContain('Subject: Quarterly report');
		expect(raw).toContain(`Message-ID: ${String(items[0].json.messageId)}`);
		expect(raw).toContain('filename=report.csv');
		expect(raw).toContain(Buffer.from('q1,q2\n').toString('base64'));
	});

	it('Create Draft stores a draft without any recipient (To, CC, BCC empty); the SMTP node refuses to send the same message', async () => {
		const account = await newAccount();
		const message = { toEmail: '', subject: 'To be addressed later', emailFormat: 'text', text: 'Draft body', options: { appendAttribution: false } };
		const { items } = await runNode(account, { resource: 'message', operation: 'createDraft', ...message });
		const drafts = await stack.mailboxState(account.user, 'Drafts', { includeRaw: true });
		expect(drafts.messages).toHaveLength(1);
		const [draft] = drafts.messages;
		expect(draft.flags.sort()).toEqual(['\\Draft', '\\Seen']);
		expect(items[0].json).toMatchObject({ mailbox: 'Drafts', uid: draft.uid, flags: ['\\Draft', '\\Seen'] });
		const raw = draft.raw as string;
		const headers = raw.slice(0, raw.indexOf('\r\n\r\n'));
		expect(headers).toContain(`From: ${account.user}`);
		expect(headers).toContain('Subject: To be addressed later');
		expect(headers).not.toMatch(/^(To|Cc|Bcc):/im);
		expect(raw).toContain('Draft body');

		// Sending keeps refusing a message nobody would receive, before any connection.
		const log = new PostfixLog(stack);
		const sent = await runSmtpNode({
			credential: await senderCredential(stack, account.user, 'smtps'),
			parameters: { authentication: 'mailServerOAuth2Api', operation: 'send', ...message },
			items: [{ json: {} }],
		});
		expect(sent.error?.message).toMatch(/To Email is empty: enter at least one recipient \(To, CC or BCC\)/);
		expect(sent.output).toBeUndefined();
		expect(log.connects('smtps')).toBe(0);
		expect((await stack.mailboxState(account.user, 'Drafts')).messages).toHaveLength(1);
	});

	it('Create Draft as a reply to an input message from Search: recipient, subject and threading headers', async () => {
		const account = await newAccount();
		await stack.deliver({ from: 'Client <client@example.test>', to: account.user, subject: 'Question', text: 'Can you help?', messageId: '<question-1@example.test>' });
		const found = await runNode(account, { resource: 'message', operation: 'search', mailbox: 'INBOX', returnAll: true, format: 'simple' });
		await runNode(
			account,
			{ resource: 'message', operation: 'createDraft', toEmail: '', subject: '', emailFormat: 'text', text: 'Yes.', options: { replyToInputEmail: true } },
			{ items: found.items },
		);
		const raw = (await stack.mailboxState(account.user, 'Drafts', { includeRaw: true })).messages[0].raw as string;
		expect(raw).toContain('To: Client <client@example.test>');
		expect(raw).toContain('Subject: Re: Question');
		expect(raw).toContain('In-Reply-To: <question-1@example.test>');
		expect(raw).toContain('References: <question-1@example.test>');
	});

	it('Append stores an .eml from a binary property with its flags and internal date; the output names its UID', async () => {
		const account = await newAccount();
		await stack.createFolder(account.user, 'Imported');
		const eml = Buffer.from('From: old@example.test\r\nTo: me@example.test\r\nSubject: imported\r\nMessage-ID: <imported-1@example.test>\r\n\r\nfrom the archive\r\n');
		const internalDate = '2021-03-04T05:06:07.000Z';
		const { items } = await runNode(
			account,
			{ resource: 'message', operation: 'append', mailbox: 'Imported', binaryPropertyName: 'eml', options: { flags: '\\Seen, $Imported', internalDate } },
			{ items: [{ json: {}, binary: { eml: binaryFromBuffer(eml, 'old.eml', 'message/rfc822') } }] },
		);
		const imported = await stack.mailboxState(account.user, 'Imported', { includeRaw: true });
		expect(imported.messages).toHaveLength(1);
		expect(imported.messages[0].raw).toBe(eml.toString());
		expect(imported.messages[0].flags.sort()).toEqual(['$Imported', '\\Seen']);
		expect(items[0].json).toEqual({ mailbox: 'Imported', uid: imported.messages[0].uid, uidValidity: String(imported.uidValidity), flags: ['\\Seen', '$Imported'] });

		// The internal date is the one given: Search's attributes (INTERNALDATE) show it.
		const found = await runNode(account, { resource: 'message', operation: 'search', mailbox: 'Imported', returnAll: true, format: 'headers' });
		expect((found.items[0].json.attributes as IDataObject).internalDate).toBe(internalDate);
	});

	it('Append refuses a missing binary property and a flag the server cannot store, before anything is stored', async () => {
		const account = await newAccount();
		const missing = await runError(account, { resource: 'message', operation: 'append', mailbox: 'INBOX', binaryPropertyName: 'eml' });
		expect(missing.message).toContain("binary file 'eml'");
		const badFlag = await runError(
			account,
			{ resource: 'message', operation: 'append', mailbox: 'INBOX', binaryPropertyName: 'eml', options: { flags: 'two words' } },
			{ items: [{ json: {}, binary: { eml: binaryFromBuffer(Buffer.from('Subject: x\r\n\r\nx\r\n'), 'x.eml', 'message/rfc822') } }] },
		);
		expect(badFlag.message).toBe('"two words" is not a flag the server can store');
		expect((await stack.mailboxState(account.user)).messages).toHaveLength(0);
	});
});
