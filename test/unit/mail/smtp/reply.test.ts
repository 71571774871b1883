/**
 * "Reply to the input email" reads the same facts from every item shape this package's IMAP trigger and POP node
 * emit (built here by the real message → item code, not hand-written look-alikes).
 */
import { messageToItem, type MessageFormat } from '../../../../nodes/mail/message/toItem';
import { readReplySource, replySubject } from '../../../../nodes/mail/smtp/reply';
import { fixture, recordingSink } from '../message/helpers';

async function itemOf(source: Buffer, format: MessageFormat) {
	return await messageToItem(source, {
		format,
		downloadAttachments: false,
		attributes: { uid: 7 },
		prepareBinaryData: recordingSink().sink,
	});
}

const FORMATS: MessageFormat[] = ['simple', 'resolved', 'raw'];

describe('readReplySource', () => {
	it.each(FORMATS)('reads Message-ID, References, subject and sender from a %s item', async (format) => {
		// From: =?UTF-8?Q?Alice_M=C3=BCller?= <alice@example.com>; References: <thread-0@...> <question-1@...>;
		// the subject is two encoded words splitting one character.
		const item = await itemOf(fixture('plain-html-attachment.eml'), format);
		expect(readReplySource(item.json)).toEqual({
			messageId: '<report-1@example.com>',
			references: ['<thread-0@example.com>', '<question-1@example.com>', '<report-1@example.com>'],
			subject: 'Quarterly report — été',
			replyRecipients: [{ name: 'Alice Müller', address: 'alice@example.com' }],
		});
	});

	const folded = Buffer.from(
		[
			'From: "Doe, John" <john@example.com>',
			'Reply-To: =?UTF-8?Q?Support_=E2=80=94_Team?= <support@example.com>, =?UTF-8?Q?Doe=2C_Jane?= <jane@example.com>',
			'To: me@example.com',
			'Subject: =?UTF-8?Q?Re=3A_Bestellung_f=C3=BCr_M=C3=A4rz?=',
			'Message-ID:',
			' <child-2@example.com>',
			'In-Reply-To: <child-1@example.com>',
			'Date: Tue, 16 Jan 2024 09:00:00 +0000',
			'',
			'body',
			'',
		].join('\r\n'),
	);

	it.each(FORMATS)('prefers Reply-To (all of its addresses, names with commas intact), reads folded headers, without References falls back to In-Reply-To (%s)', async (format) => {
		const source = readReplySource((await itemOf(folded, format)).json);
		expect(source.messageId).toBe('<child-2@example.com>');
		expect(source.references).toEqual(['<child-1@example.com>', '<child-2@example.com>']);
		expect(source.subject).toBe('Re: Bestellung für März');
		if (format === 'simple') {
			// The simple item only has decoded header text, where "Doe, Jane" no longer parses as one name: the
			// addresses survive without names.
			expect(source.replyRecipients.map(({ address }) => address)).toEqual(['support@example.com', 'jane@example.com']);
		} else {
			expect(source.replyRecipients).toEqual([
				{ name: 'Support — Team', address: 'support@example.com' },
				{ name: 'Doe, Jane', address: 'jane@example.com' },
			]);
		}
	});

	it('threads on the Message-ID alone when the original’s References header is malformed', () => {
		expect(
			readReplySource({ subject: 'x', from: 'a@example.com', metadata: { 'message-id': '<m@example.com>', references: 'garbage here' } }).references,
		).toEqual(['<m@example.com>']);
	});

	it('refuses items without a Message-ID', () => {
		expect(() => readReplySource({ subject: 'x', from: 'a@example.com', metadata: {} })).toThrow(/has no Message-ID header/);
		expect(() => readReplySource({ rawHeaders: 'Subject: x\r\n', raw: '' })).toThrow(/has no Message-ID header/);
	});
});

describe('replySubject', () => {
	it.each([
		['Invoice', 'Re: Invoice'],
		['Re: Invoice', 'Re: Invoice'],
		['RE:Invoice', 'RE:Invoice'],
		['', 'Re:'],
		[undefined, 'Re:'],
	])('%j → %j', (original, expected) => {
		expect(replySubject(original)).toBe(expected);
	});
});
