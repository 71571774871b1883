import { describeMessage, messageAttributes, messageErrorItem } from '../../../../nodes/mail/imap/messageItems';

const base = { folder: 'INBOX', uid: 7, uidValidity: '42', flags: ['\\Flagged'] };

describe('error items for messages without a normal item', () => {
	it('carry the error, the ENVELOPE headers and the same attributes a normal item has', () => {
		const item = messageErrorItem(
			{
				...base,
				size: 1234,
				internalDate: new Date('2024-01-29T10:00:00Z'),
				envelope: {
					subject: 'Hello',
					from: [{ name: 'Alice "A"', address: 'alice@example.com' }],
					to: [{ address: 'bob@example.com' }, { name: 'Carol', address: 'carol@example.com' }],
					date: new Date('2024-01-29T09:59:00Z'),
					messageId: '<m1@example.com>',
				},
			},
			'The message could not be parsed: The message has more than 1000 MIME parts',
		);
		expect(item.json).toEqual({
			error: 'The message could not be parsed: The message has more than 1000 MIME parts',
			headers: {
				subject: 'Hello',
				from: '"Alice A" <alice@example.com>',
				to: 'bob@example.com, "Carol" <carol@example.com>',
				date: '2024-01-29T09:59:00.000Z',
				messageId: '<m1@example.com>',
			},
			attributes: {
				uid: 7,
				mailbox: 'INBOX',
				uidValidity: '42',
				flags: ['\\Flagged'],
				internalDate: '2024-01-29T10:00:00.000Z',
				size: 1234,
				messageId: '<m1@example.com>',
			},
		});
	});

	it('cut hostile header values at 1,000 characters and never pass CR/LF or other control characters on', () => {
		const item = messageErrorItem({ ...base, envelope: { subject: `a\r\nBcc: x\u0000${'y'.repeat(5000)}` } }, 'error');
		const subject = (item.json.headers as { subject: string }).subject;
		expect(subject.startsWith('a Bcc: x y')).toBe(true);
		expect(subject).toHaveLength(1001);
		expect(subject.endsWith('…')).toBe(true);
		expect(/[\r\n\u0000]/.test(subject)).toBe(false);
	});

	it('without an envelope: no headers, messageId null; Gmail ids in the attributes', () => {
		const item = messageErrorItem({ ...base, labels: ['\\Inbox'], threadId: 't1', emailId: 'g1' }, 'error');
		expect(item.json.headers).toBeUndefined();
		expect(item.json.attributes).toMatchObject({ labels: ['\\Inbox'], threadId: 't1', gmailMessageId: 'g1', messageId: null });
		expect(messageAttributes({ ...base, emailId: 'e1' })).toMatchObject({ emailId: 'e1' });
	});

	it('name a message by folder, UID and Message-ID', () => {
		expect(describeMessage({ ...base, messageId: '<m1@example.com>' })).toBe('UID 7 in "INBOX" (Message-ID <m1@example.com>)');
		expect(describeMessage(base)).toBe('UID 7 in "INBOX"');
	});
});
