/**
 * "Reply to the input email" reads the same facts from every item shape this package's IMAP trigger and POP node
 * emit (built here by the real message → item code, not hand-written look-alikes).
 */
import { messageToItem, type MessageFormat } from '../../../../nodes/mail/message/toItem';
import { ParameterRangeError } from '../../../../nodes/mail/parameters';
import { chooseReplyRecipients, readReplySource, replySubject } from '../../../../nodes/mail/smtp/reply';
import { MessageInputError } from '../../../../nodes/mail/smtp/validate';
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
			replyRecipientsHeader: 'From',
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

/** An email whose Reply-To lists `count` addresses (r0@…, r1@…, …), each with a display name. */
function manyReplyTo(count: number): Buffer {
	const list = Array.from({ length: count }, (_, index) => `Person ${index} <r${index}@example.com>`).join(', ');
	return Buffer.from(
		[
			'From: Sender <sender@example.com>',
			`Reply-To: ${list}`,
			'To: me@example.com',
			'Subject: Hi',
			'Message-ID: <many@example.com>',
			'',
			'body',
			'',
		].join('\r\n'),
	);
}

describe('chooseReplyRecipients (whom a reply to the input email goes to)', () => {
	it.each(FORMATS)('answers only the FIRST of 500 Reply-To addresses by default (%s item)', async (format) => {
		const source = readReplySource((await itemOf(manyReplyTo(500), format)).json);
		expect(source.replyRecipients).toHaveLength(500);
		expect(chooseReplyRecipients(source).map(({ address }) => address)).toEqual(['r0@example.com']);
		expect(chooseReplyRecipients(source, { all: false, max: 20 }).map(({ address }) => address)).toEqual(['r0@example.com']);
	});

	it('answers the first From address when there is no Reply-To', () => {
		const source = readReplySource({ from: 'a@example.com, b@example.com', subject: 'x', metadata: { 'message-id': '<m@example.com>' } });
		expect(source.replyRecipientsHeader).toBe('From');
		expect(chooseReplyRecipients(source)).toEqual([{ name: '', address: 'a@example.com' }]);
	});

	it('with "Reply to All Reply-To Addresses" answers every address up to "Max Reply Recipients" (default 10)', async () => {
		const source = (count: number) => readReplySource(messageLikeItem(count));
		expect(chooseReplyRecipients(source(3), { all: true })).toHaveLength(3);
		expect(chooseReplyRecipients(source(10), { all: true })).toHaveLength(10);
		expect(chooseReplyRecipients(source(20), { all: true, max: 20 })).toHaveLength(20);
		expect(chooseReplyRecipients(source(5), { all: true, max: '5' })).toHaveLength(5);
	});

	it('refuses (never silently truncates) more addresses than allowed, saying how many, the limit and what to change', async () => {
		const source = readReplySource((await itemOf(manyReplyTo(500), 'resolved')).json);
		let error: unknown;
		try {
			chooseReplyRecipients(source, { all: true, max: 20 });
		} catch (caught) {
			error = caught;
		}
		expect(error).toBeInstanceOf(MessageInputError);
		expect((error as MessageInputError).field).toBe('Reply to All Reply-To Addresses');
		expect((error as MessageInputError).message).toBe(
			'Reply to All Reply-To Addresses is on and the input email lists 500 Reply-To addresses, more than "Max Reply Recipients" (20) allows. ' +
				'The reply was sent to none of them. Raise "Max Reply Recipients" (at most 20), turn "Reply to All Reply-To Addresses" off to ' +
				'answer only the first address, or enter the recipients in "To Email".',
		);
		expect(() => chooseReplyRecipients(readReplySource(messageLikeItem(11)), { all: true })).toThrow(/lists 11 Reply-To addresses, more than "Max Reply Recipients" \(10\)/);
		const fromOnly = readReplySource({ from: 'a@example.com, b@example.com, c@example.com', subject: 'x', metadata: { 'message-id': '<m@example.com>' } });
		expect(() => chooseReplyRecipients(fromOnly, { all: true, max: 2 })).toThrow(/lists 3 From addresses/);
	});

	it.each([0, 21, 500, -1, 2.5, 'many', Number.NaN])('refuses "Max Reply Recipients" = %p, naming the field and the range 1–20', (max) => {
		const source = readReplySource(messageLikeItem(1));
		expect(() => chooseReplyRecipients(source, { all: true, max })).toThrow(ParameterRangeError);
		expect(() => chooseReplyRecipients(source, { all: false, max })).toThrow(/"Max Reply Recipients" must be (a whole number )?from 1 to 20/);
	});
});

/** A simple-format item with `count` Reply-To addresses. */
function messageLikeItem(count: number) {
	return {
		from: 'sender@example.com',
		subject: 'x',
		metadata: {
			'message-id': '<m@example.com>',
			'reply-to': Array.from({ length: count }, (_, index) => `r${index}@example.com`).join(', '),
		},
	};
}

describe('display names from the input email are stripped of control characters', () => {
	const hostile = Buffer.from(
		[
			// Decodes to "Eve\r\nBcc: victim@x.example" (and a NUL, a NEL and a right-to-left override).
			'From: =?UTF-8?Q?Eve=0D=0ABcc=3A_victim=40x=2Eexample=00=C2=85=E2=80=AEx?= <eve@example.com>',
			'To: me@example.com',
			'Subject: Hi',
			'Message-ID: <hostile@example.com>',
			'',
			'body',
			'',
		].join('\r\n'),
	);

	it.each(FORMATS)('keeps the address and a one-line name (%s item)', async (format) => {
		const [recipient] = readReplySource((await itemOf(hostile, format)).json).replyRecipients;
		expect(recipient.address).toBe('eve@example.com');
		expect(recipient.name).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202e]/);
		if (format !== 'simple') expect(recipient.name).toBe('Eve Bcc: victim@x.example x');
	});

	it('sanitises names in structured address objects instead of dropping to other headers or failing', () => {
		const source = readReplySource({
			messageId: '<m@example.com>',
			headers: { 'message-id': 'Message-ID: <m@example.com>' },
			replyTo: { value: [{ name: 'Eve\r\nBcc: victim@x.example', address: 'eve@example.com' }], text: '' },
			from: { value: [{ name: 'Other', address: 'other@example.com' }], text: '' },
		});
		expect(source.replyRecipients).toEqual([{ name: 'Eve Bcc: victim@x.example', address: 'eve@example.com' }]);
		expect(source.replyRecipientsHeader).toBe('Reply-To');
	});
});
