/**
 * Two defects found with held-out real-world messages, reproduced with fixtures of our own: adjacent ISO-2022-JP
 * encoded words on folded lines, and a multipart/report whose human-readable first part is labelled
 * message/delivery-status.
 */
import { messageToItem, type MessageToItemOptions } from '../../../../nodes/mail/message/toItem';
import { decodeEncodedWords } from '../../../../nodes/mail/message/headers';
import { recordingSink } from './helpers';

function options(format: 'simple' | 'resolved'): MessageToItemOptions {
	return { format, downloadAttachments: true, attributes: {}, prepareBinaryData: recordingSink().sink };
}

const JAPANESE_SUBJECT = Buffer.from(
	[
		'From: a@example.jp',
		'To: b@example.jp',
		'Subject: Re: TEST',
		' ',
		'\t=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=',
		'  =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=',
		'MIME-Version: 1.0',
		'Content-Type: text/plain; charset=ISO-2022-JP',
		'',
		'body',
		'',
	].join('\r\n'),
	'latin1',
);

const BOUNCE = Buffer.from(
	[
		'From: MAILER-DAEMON@mx.example',
		'To: sender@example.com',
		'Subject: Undelivered Mail Returned to Sender',
		'MIME-Version: 1.0',
		'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
		'',
		'--r',
		'Content-Type: message/delivery-status',
		'',
		'This is the mail system at host mx.example.',
		'Your message could not be delivered to one or more recipients.',
		'--r',
		'Content-Type: message/delivery-status',
		'',
		'Reporting-MTA: dns; mx.example',
		'',
		'Final-Recipient: rfc822; nobody@example.org',
		'Action: failed',
		'Status: 5.1.1',
		'--r',
		'Content-Type: text/rfc822-headers',
		'',
		'Subject: the original',
		'--r--',
		'',
	].join('\r\n'),
	'latin1',
);

describe('real-world defects', () => {
	it('adjacent ISO-2022-JP encoded words on folded lines decode without a replacement character', async () => {
		expect(decodeEncodedWords('=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=')).toBe('テストテスト');
		const simple = await messageToItem(JAPANESE_SUBJECT, options('simple'));
		expect(simple.json.subject).toBe('Re: TEST  テストテスト');
		const resolved = await messageToItem(JAPANESE_SUBJECT, options('resolved'));
		expect(resolved.json.subject).toBe('Re: TEST  テストテスト');
	});

	it('a UTF-8 character split across two encoded words still comes out whole', () => {
		// "é" is C3 A9: one byte in each word.
		expect(decodeEncodedWords('=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?=')).toBe('café');
	});

	it('the first part of a multipart/report, labelled delivery-status but human-readable, is the text body', async () => {
		const simple = await messageToItem(BOUNCE, options('simple'));
		expect(simple.json.textPlain).toBe('This is the mail system at host mx.example.\nYour message could not be delivered to one or more recipients.');
		// The machine-readable report stays a part of its own, as before.
		const parts = (simple.json.attachmentInfo as Array<{ mimeType: string }>).map((part) => part.mimeType);
		expect(parts).toEqual(['message/delivery-status', 'text/rfc822-headers']);
		const resolved = await messageToItem(BOUNCE, options('resolved'));
		expect(String(resolved.json.text)).toContain('This is the mail system at host mx.example.');
	});
});
