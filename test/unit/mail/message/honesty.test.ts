/**
 * "Nothing in a message is silently lost or invented": one hand-built message per tricky case, each checked
 * as a complete item (every json field, every binary's name, type and checksum) in the formats it concerns.
 */
import { messageToItem, type MessageFormat } from '../../../../nodes/mail/message/toItem';
import {
	CONTENT,
	asStored,
	bareAddress,
	binarySummary,
	bodyBetween,
	expectedBinary,
	fixture,
	recordingSink,
} from './helpers';

async function convert(name: string, format: MessageFormat, extra: { maxAttachmentBytes?: number } = {}) {
	const { sink, stored } = recordingSink();
	const item = await messageToItem(fixture(name), {
		format,
		downloadAttachments: true,
		attributes: { uid: 1 },
		prepareBinaryData: sink,
		...extra,
	});
	return { item, json: asStored(item.json), binaries: binarySummary(item), stored };
}

describe('inline cid images (multipart/related)', () => {
	const logo = { fileName: 'logo.png', mimeType: 'image/png', size: CONTENT.png.length, partId: '1.2.2' };
	const spacer = { fileName: 'attachment.gif', mimeType: 'image/gif', size: CONTENT.gif.length, partId: '1.2.3' };
	const report = { fileName: 'report.pdf', mimeType: 'application/pdf', size: CONTENT.pdf.length, partId: '2' };
	const html = '<p>See our logo <img src="cid:logo@example.com"><img src="cid:spacer@example.com"></p>';

	it('simple: the HTML keeps its cid: links and every image is a binary, after n8n’s own attachment', async () => {
		const { json, binaries } = await convert('inline-cid-image.eml', 'simple');

		expect(json).toEqual({
			textHtml: html,
			textPlain: 'See our logo.',
			from: 'Newsletter <news@example.com>',
			to: 'bob@example.com',
			subject: 'Our logo',
			date: 'Tue, 16 Jan 2024 09:30:00 +0000',
			metadata: {
				'message-id': '<news-1@example.com>',
				'mime-version': '1.0',
				'content-type': 'multipart/mixed; boundary="m"',
			},
			attributes: { uid: 1 },
			attachmentInfo: [
				// n8n's simple format downloads only Content-Disposition: attachment parts; they keep their keys
				{ ...report, binaryPropertyName: 'attachment_0', disposition: 'attachment' },
				{ ...logo, binaryPropertyName: 'attachment_1', disposition: 'inline', contentId: 'logo@example.com' },
				{ ...spacer, binaryPropertyName: 'attachment_2', contentId: 'spacer@example.com' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('report.pdf', 'application/pdf', CONTENT.pdf),
			attachment_1: expectedBinary('logo.png', 'image/png', CONTENT.png),
			attachment_2: expectedBinary('attachment.gif', 'image/gif', CONTENT.gif),
		});
	});

	it('resolved: html keeps cid: links (no data: URLs), images are binaries in MIME order as in n8n', async () => {
		const { json, binaries } = await convert('inline-cid-image.eml', 'resolved');

		expect(json).toEqual({
			headers: {
				from: 'From: Newsletter <news@example.com>',
				to: 'To: bob@example.com',
				subject: 'Subject: Our logo',
				date: 'Date: Tue, 16 Jan 2024 09:30:00 +0000',
				'message-id': 'Message-ID: <news-1@example.com>',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: multipart/mixed; boundary="m"',
			},
			html,
			text: 'See our logo.',
			textAsHtml: '<p>See our logo.</p>',
			subject: 'Our logo',
			date: '2024-01-16T09:30:00.000Z',
			from: {
				value: [{ address: 'news@example.com', name: 'Newsletter' }],
				html: '<span class="mp_address_group"><span class="mp_address_name">Newsletter</span> &lt;<a href="mailto:news@example.com" class="mp_address_email">news@example.com</a>&gt;</span>',
				text: '"Newsletter" <news@example.com>',
			},
			to: bareAddress('bob@example.com'),
			messageId: '<news-1@example.com>',
			attributes: { uid: 1 },
			attachmentInfo: [
				{ ...logo, binaryPropertyName: 'attachment_0', disposition: 'inline', contentId: 'logo@example.com' },
				{ ...spacer, binaryPropertyName: 'attachment_1', contentId: 'spacer@example.com' },
				{ ...report, binaryPropertyName: 'attachment_2', disposition: 'attachment' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('logo.png', 'image/png', CONTENT.png),
			attachment_1: expectedBinary('attachment.gif', 'image/gif', CONTENT.gif),
			attachment_2: expectedBinary('report.pdf', 'application/pdf', CONTENT.pdf),
		});
	});
});

describe('parts without Content-Disposition, and a second inline text part', () => {
	const photo = { fileName: 'photo.jpg', mimeType: 'image/jpeg', size: CONTENT.png.length, partId: '2' };
	const partTwo = { fileName: 'text.txt', mimeType: 'text/plain', size: 8, partId: '3' };
	const blob = { fileName: 'attachment.bin', mimeType: 'application/octet-stream', size: 256, partId: '4' };
	const headers = {
		from: 'From: carol@example.com',
		to: 'To: bob@example.com',
		subject: 'Subject: Parts without Content-Disposition',
		date: 'Date: Wed, 17 Jan 2024 12:00:00 +0000',
		'mime-version': 'MIME-Version: 1.0',
		'content-type': 'Content-Type: multipart/mixed; boundary="u"',
	};

	it('simple: first text/plain and text/html are the body, everything else a binary', async () => {
		const { json, binaries } = await convert('unlabelled-parts.eml', 'simple');

		expect(json).toEqual({
			textHtml: '<p>Part three</p>',
			textPlain: 'Part one',
			from: 'carol@example.com',
			to: 'bob@example.com',
			subject: 'Parts without Content-Disposition',
			date: 'Wed, 17 Jan 2024 12:00:00 +0000',
			metadata: { 'mime-version': '1.0', 'content-type': 'multipart/mixed; boundary="u"' },
			attributes: { uid: 1 },
			attachmentInfo: [
				{ ...photo, binaryPropertyName: 'attachment_0' },
				{ ...partTwo, binaryPropertyName: 'attachment_1' },
				{ ...blob, binaryPropertyName: 'attachment_2' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('photo.jpg', 'image/jpeg', CONTENT.png),
			attachment_1: expectedBinary('text.txt', 'text/plain', Buffer.from('Part two')),
			attachment_2: expectedBinary('attachment.bin', 'application/octet-stream', CONTENT.blob),
		});
	});

	it('resolved: the second text part is not merged into text but kept as a binary after n8n’s ones', async () => {
		const { json, binaries } = await convert('unlabelled-parts.eml', 'resolved');

		expect(json).toEqual({
			headers,
			// mailparser's own rendering of a mixed (not alternative) text + html body
			html: '<p>Part one</p><br/>\n<p>Part three</p>',
			text: 'Part one\nPart three',
			textAsHtml: '<p>Part one</p><br/>\n<p>Part three</p>',
			subject: 'Parts without Content-Disposition',
			date: '2024-01-17T12:00:00.000Z',
			from: bareAddress('carol@example.com'),
			to: bareAddress('bob@example.com'),
			attributes: { uid: 1 },
			attachmentInfo: [
				{ ...photo, binaryPropertyName: 'attachment_0' },
				{ ...blob, binaryPropertyName: 'attachment_1' },
				{ ...partTwo, binaryPropertyName: 'attachment_2' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('photo.jpg', 'image/jpeg', CONTENT.png),
			attachment_1: expectedBinary('attachment.bin', 'application/octet-stream', CONTENT.blob),
			attachment_2: expectedBinary('text.txt', 'text/plain', Buffer.from('Part two')),
		});
	});
});

describe('forwarded message/rfc822 parts', () => {
	const source = fixture('forwarded-message.eml');
	const withAttachment = bodyBetween(source, 'Content-Type: message/rfc822\r\n', '--f');
	const inlineLunch = bodyBetween(source, 'Content-Disposition: inline', '--f');

	it.each(['simple', 'resolved'] as const)(
		'%s: each forwarded message is a byte-exact .eml binary, never flattened into the body',
		async (format) => {
			const { json, binaries } = await convert('forwarded-message.eml', format);

			expect(binaries).toEqual({
				attachment_0: expectedBinary('message.eml', 'message/rfc822', withAttachment),
				// "Fwd: Lunch?.eml": ':' and '?' are not safe in file names (n8n cuts a name at '?')
				attachment_1: expectedBinary('Fwd_ Lunch_.eml', 'message/rfc822', inlineLunch),
			});
			expect(json.attachmentInfo).toEqual([
				{
					binaryPropertyName: 'attachment_0',
					fileName: 'message.eml',
					mimeType: 'message/rfc822',
					size: withAttachment.length,
					partId: '2',
				},
				{
					binaryPropertyName: 'attachment_1',
					fileName: 'Fwd_ Lunch_.eml',
					mimeType: 'message/rfc822',
					size: inlineLunch.length,
					partId: '3',
					disposition: 'inline',
				},
			]);
			const body = format === 'simple' ? json.textPlain : json.text;
			expect(body).toBe('See the forwarded messages.');
			expect(JSON.stringify(json)).not.toContain('Shall we have lunch');
			expect(JSON.stringify(json)).not.toContain('Original text');
		},
	);

	it('simple: complete item', async () => {
		const { json } = await convert('forwarded-message.eml', 'simple');

		expect(json).toEqual({
			textHtml: '',
			textPlain: 'See the forwarded messages.',
			from: 'carol@example.com',
			to: 'bob@example.com',
			subject: 'Fwd: two messages',
			date: 'Thu, 18 Jan 2024 14:00:00 +0000',
			metadata: { 'mime-version': '1.0', 'content-type': 'multipart/mixed; boundary="f"' },
			attributes: { uid: 1 },
			attachmentInfo: json.attachmentInfo,
		});
	});

	it('resolved: complete item', async () => {
		const { json } = await convert('forwarded-message.eml', 'resolved');

		expect(json).toEqual({
			headers: {
				from: 'From: carol@example.com',
				to: 'To: bob@example.com',
				subject: 'Subject: Fwd: two messages',
				date: 'Date: Thu, 18 Jan 2024 14:00:00 +0000',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: multipart/mixed; boundary="f"',
			},
			html: false,
			text: 'See the forwarded messages.',
			textAsHtml: '<p>See the forwarded messages.</p>',
			subject: 'Fwd: two messages',
			date: '2024-01-18T14:00:00.000Z',
			from: bareAddress('carol@example.com'),
			to: bareAddress('bob@example.com'),
			attributes: { uid: 1 },
			attachmentInfo: json.attachmentInfo,
		});
	});
});

describe('bounces (multipart/report)', () => {
	const source = fixture('bounce-report.eml');
	const deliveryStatus = bodyBetween(source, 'Content-Type: message/delivery-status', '--dsn');
	const original = bodyBetween(source, 'Content-Type: message/rfc822', '--dsn');
	const notification =
		'This is the mail system at host mx.example.net.\nYour message could not be delivered to nobody@example.org.';
	const statusInfo = {
		fileName: 'delivery-status.txt',
		mimeType: 'message/delivery-status',
		size: deliveryStatus.length,
		partId: '2',
	};
	const originalInfo = { fileName: 'message.eml', mimeType: 'message/rfc822', size: original.length, partId: '3' };

	it('simple: the delivery report and the returned original message are both binaries', async () => {
		const { json, binaries } = await convert('bounce-report.eml', 'simple');

		expect(json).toEqual({
			textHtml: '',
			textPlain: notification,
			from: 'Mail Delivery System <MAILER-DAEMON@mx.example.net>',
			to: 'alice@example.com',
			subject: 'Undelivered Mail Returned to Sender',
			date: 'Fri, 19 Jan 2024 08:00:00 +0000',
			metadata: {
				'auto-submitted': 'auto-replied',
				'mime-version': '1.0',
				'content-type': 'multipart/report; report-type=delivery-status; boundary="dsn"',
			},
			attributes: { uid: 1 },
			attachmentInfo: [
				{ ...statusInfo, binaryPropertyName: 'attachment_0' },
				{ ...originalInfo, binaryPropertyName: 'attachment_1' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('delivery-status.txt', 'message/delivery-status', deliveryStatus),
			attachment_1: expectedBinary('message.eml', 'message/rfc822', original),
		});
	});

	it('resolved: the report stays out of text (a binary after the original message, n8n’s only binary)', async () => {
		const { json, binaries } = await convert('bounce-report.eml', 'resolved');

		expect(json).toEqual({
			headers: {
				from: 'From: Mail Delivery System <MAILER-DAEMON@mx.example.net>',
				to: 'To: alice@example.com',
				subject: 'Subject: Undelivered Mail Returned to Sender',
				date: 'Date: Fri, 19 Jan 2024 08:00:00 +0000',
				'auto-submitted': 'Auto-Submitted: auto-replied',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"',
			},
			html: false,
			text: notification,
			textAsHtml:
				'<p>This is the mail system at host <a href="http://mx.example.net">mx.example.net</a>.<br/>Your message could not be delivered to <a href="mailto:nobody@example.org">nobody@example.org</a>.</p>',
			subject: 'Undelivered Mail Returned to Sender',
			date: '2024-01-19T08:00:00.000Z',
			from: {
				value: [{ address: 'MAILER-DAEMON@mx.example.net', name: 'Mail Delivery System' }],
				html: '<span class="mp_address_group"><span class="mp_address_name">Mail Delivery System</span> &lt;<a href="mailto:MAILER-DAEMON@mx.example.net" class="mp_address_email">MAILER-DAEMON@mx.example.net</a>&gt;</span>',
				text: '"Mail Delivery System" <MAILER-DAEMON@mx.example.net>',
			},
			to: bareAddress('alice@example.com'),
			attributes: { uid: 1 },
			attachmentInfo: [
				{ ...originalInfo, binaryPropertyName: 'attachment_0' },
				{ ...statusInfo, binaryPropertyName: 'attachment_1' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('message.eml', 'message/rfc822', original),
			attachment_1: expectedBinary('delivery-status.txt', 'message/delivery-status', deliveryStatus),
		});
	});

	it('a bounce that returns only the headers gives them as a text/rfc822-headers binary', async () => {
		const headersOnly = fixture('bounce-headers-only.eml');
		const status = bodyBetween(headersOnly, 'Content-Type: message/delivery-status', '--h');
		const returnedHeaders = bodyBetween(headersOnly, 'Content-Type: text/rfc822-headers', '--h');

		const statusBinary = expectedBinary('delivery-status.txt', 'message/delivery-status', status);
		const headersBinary = expectedBinary('message-headers.txt', 'text/rfc822-headers', returnedHeaders);

		const simple = await convert('bounce-headers-only.eml', 'simple');
		expect(simple.json.textPlain).toBe('Delivery failed.');
		// n8n's simple format has neither (no Content-Disposition: attachment): MIME order
		expect(simple.binaries).toEqual({ attachment_0: statusBinary, attachment_1: headersBinary });

		const resolved = await convert('bounce-headers-only.eml', 'resolved');
		expect(resolved.json.text).toBe('Delivery failed.');
		// n8n's resolved format has the headers part as its attachment_0; the report comes after it
		expect(resolved.binaries).toEqual({ attachment_0: headersBinary, attachment_1: statusBinary });
	});
});

describe('calendar invitations', () => {
	const inviteInfo = { fileName: 'invite.ics', mimeType: 'application/ics', size: CONTENT.ics.length, partId: '2' };
	const calendarInfo = { fileName: 'calendar.ics', mimeType: 'text/calendar', size: CONTENT.ics.length, partId: '1.3' };

	it('simple: the text/calendar alternative and the .ics attachment are both binaries', async () => {
		const { json, binaries } = await convert('calendar-invite.eml', 'simple');

		expect(json).toEqual({
			textHtml: '<p>You are invited: <b>Planning</b></p>',
			textPlain: 'You are invited: Planning',
			from: 'Organizer <organizer@example.com>',
			to: 'bob@example.com',
			subject: 'Invitation: Planning',
			date: 'Sat, 20 Jan 2024 09:00:00 +0000',
			metadata: { 'mime-version': '1.0', 'content-type': 'multipart/mixed; boundary="c"' },
			attributes: { uid: 1 },
			attachmentInfo: [
				{ ...inviteInfo, binaryPropertyName: 'attachment_0', disposition: 'attachment' },
				{ ...calendarInfo, binaryPropertyName: 'attachment_1' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('invite.ics', 'application/ics', CONTENT.ics),
			attachment_1: expectedBinary('calendar.ics', 'text/calendar', CONTENT.ics),
		});
	});

	it('resolved: same parts, in mailparser’s (MIME) order', async () => {
		const { json, binaries } = await convert('calendar-invite.eml', 'resolved');

		expect(json).toEqual({
			headers: {
				from: 'From: Organizer <organizer@example.com>',
				to: 'To: bob@example.com',
				subject: 'Subject: Invitation: Planning',
				date: 'Date: Sat, 20 Jan 2024 09:00:00 +0000',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: multipart/mixed; boundary="c"',
			},
			html: '<p>You are invited: <b>Planning</b></p>',
			text: 'You are invited: Planning',
			textAsHtml: '<p>You are invited: Planning</p>',
			subject: 'Invitation: Planning',
			date: '2024-01-20T09:00:00.000Z',
			from: {
				value: [{ address: 'organizer@example.com', name: 'Organizer' }],
				html: '<span class="mp_address_group"><span class="mp_address_name">Organizer</span> &lt;<a href="mailto:organizer@example.com" class="mp_address_email">organizer@example.com</a>&gt;</span>',
				text: '"Organizer" <organizer@example.com>',
			},
			to: bareAddress('bob@example.com'),
			attributes: { uid: 1 },
			attachmentInfo: [
				{ ...calendarInfo, binaryPropertyName: 'attachment_0' },
				{ ...inviteInfo, binaryPropertyName: 'attachment_1', disposition: 'attachment' },
			],
		});
		expect(binaries).toEqual({
			attachment_0: expectedBinary('calendar.ics', 'text/calendar', CONTENT.ics),
			attachment_1: expectedBinary('invite.ics', 'application/ics', CONTENT.ics),
		});
	});
});

describe('an unparseable Date header', () => {
	it('simple: date is the header text as sent, never a time made up by the parser', async () => {
		const { item, json } = await convert('unparseable-date.eml', 'simple');

		expect(json).toEqual({
			textHtml: '',
			textPlain: 'No idea when.\n',
			from: 'someone@example.com',
			to: 'bob@example.com',
			subject: 'When?',
			date: 'Tomorrow at noon, probably',
			// a raw UTF-8 header (RFC 6532) reads as UTF-8
			metadata: { 'x-note': 'Grüße aus Köln', 'content-type': 'text/plain; charset=utf-8' },
			attributes: { uid: 1 },
		});
		expect(item.binary).toBeUndefined();
	});

	it('resolved: date is null (mailparser would substitute the current time), headers.date keeps the raw line', async () => {
		const { json } = await convert('unparseable-date.eml', 'resolved');

		expect(json).toEqual({
			headers: {
				from: 'From: someone@example.com',
				to: 'To: bob@example.com',
				subject: 'Subject: When?',
				date: 'Date: Tomorrow at noon, probably',
				'x-note': 'X-Note: Grüße aus Köln',
				'content-type': 'Content-Type: text/plain; charset=utf-8',
			},
			html: false,
			text: 'No idea when.\n',
			textAsHtml: '<p>No idea when.</p>',
			subject: 'When?',
			date: null,
			from: bareAddress('someone@example.com'),
			to: bareAddress('bob@example.com'),
			attributes: { uid: 1 },
		});
	});

	it('resolved: a message without a Date header has no date at all', async () => {
		const source = Buffer.from('From: a@example.com\r\nSubject: no date\r\n\r\nbody\r\n');
		const item = await messageToItem(source, {
			format: 'resolved',
			downloadAttachments: true,
			attributes: {},
			prepareBinaryData: recordingSink().sink,
		});

		expect(item.json).not.toHaveProperty('date');
		expect(item.json.subject).toBe('no date');
	});
});

describe('attachment file names', () => {
	const names: Array<[fileName: string, mimeType: string, content: Buffer, why: string]> = [
		['€ rates 2024.pdf', 'application/pdf', CONTENT.pdf, "RFC 2231 filename*=UTF-8''"],
		['Résumé final.txt', 'text/plain; charset=iso-8859-1', CONTENT.resumeLatin1, 'RFC 2231 continuations in latin-1'],
		[
			'Привет.docx',
			'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
			CONTENT.blob,
			'RFC 2047 in Content-Type name; type guessed from the name for application/octet-stream',
		],
		['Grüße aus Köln.png', 'image/png', CONTENT.png, 'RFC 2047 Q-encoding in a quoted filename'],
		['passwd', 'application/octet-stream', CONTENT.blob, 'path ../../etc/ removed'],
		['invoice_.pdf', 'application/pdf', CONTENT.pdf, 'Windows path removed, "?" replaced'],
		['bellgnp.exe', 'application/x-msdownload', CONTENT.blob, 'BEL and right-to-left override removed'],
		['dup.txt', 'text/plain', Buffer.from('first'), 'first of a repeated name'],
		['dup (2).txt', 'text/plain', Buffer.from('second'), 'repeated name made unique'],
		['DUP (3).txt', 'text/plain', Buffer.from('third'), 'names are unique regardless of case'],
		['attachment.png', 'image/png', CONTENT.png, 'no name: default with extension from the type'],
		['report', 'application/pdf', CONTENT.pdf, 'a name without extension is kept as the sender gave it'],
		['attachment.zip', 'application/zip', CONTENT.blob, 'a name of only dots is replaced'],
		['euro.txt', 'text/plain; charset=iso-8859-15', CONTENT.euroLatin9, 'a non-UTF-8 text keeps its charset'],
	];

	it.each(['simple', 'resolved'] as const)('%s: decoded, made safe, de-duplicated, bytes unchanged', async (format) => {
		const { json, binaries, stored } = await convert('attachment-names.eml', format);

		expect(binaries).toEqual(
			Object.fromEntries(
				names.map(([fileName, mimeType, content], index) => [
					`attachment_${index}`,
					expectedBinary(fileName, mimeType, content),
				]),
			),
		);
		expect(json.attachmentInfo).toEqual(
			names.map(([fileName, mimeType, content], index) => ({
				binaryPropertyName: `attachment_${index}`,
				fileName,
				mimeType,
				size: content.length,
				partId: String(index + 2),
				disposition: 'attachment',
			})),
		);
		// the sink (n8n's prepareBinaryData) got exactly these names and types
		expect(stored.map(({ fileName, mimeType }) => [fileName, mimeType])).toEqual(
			names.map(([fileName, mimeType]) => [fileName, mimeType]),
		);
		expect(format === 'simple' ? json.textPlain : json.text).toBe('Files attached.');
	});
});

describe('bare LF line endings', () => {
	it('simple and resolved: parsed like CRLF mail, quoted-printable soft breaks joined, binary exact', async () => {
		const simple = await convert('bare-lf.eml', 'simple');
		const resolved = await convert('bare-lf.eml', 'resolved');
		const body = 'A line that is soft-wrapped, and été.\nSecond line.';
		const blobInfo = {
			binaryPropertyName: 'attachment_0',
			fileName: 'blob.bin',
			mimeType: 'application/octet-stream',
			size: 256,
			partId: '2',
			disposition: 'attachment',
		};

		expect(simple.json).toEqual({
			textHtml: '',
			textPlain: body,
			from: 'unix@example.com',
			to: 'bob@example.com',
			subject: 'Bare LF line endings',
			date: 'Mon, 22 Jan 2024 10:00:00 +0000',
			metadata: { 'mime-version': '1.0', 'content-type': 'multipart/mixed; boundary="lf"' },
			attributes: { uid: 1 },
			attachmentInfo: [blobInfo],
		});
		expect(resolved.json).toEqual({
			headers: {
				from: 'From: unix@example.com',
				to: 'To: bob@example.com',
				subject: 'Subject: Bare LF line endings',
				date: 'Date: Mon, 22 Jan 2024 10:00:00 +0000',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: multipart/mixed; boundary="lf"',
			},
			html: false,
			text: body,
			textAsHtml: '<p>A line that is soft-wrapped, and &eacute;t&eacute;.<br/>Second line.</p>',
			subject: 'Bare LF line endings',
			date: '2024-01-22T10:00:00.000Z',
			from: bareAddress('unix@example.com'),
			to: bareAddress('bob@example.com'),
			attributes: { uid: 1 },
			attachmentInfo: [blobInfo],
		});
		for (const { binaries } of [simple, resolved]) {
			expect(binaries).toEqual({
				attachment_0: expectedBinary('blob.bin', 'application/octet-stream', CONTENT.blob),
			});
		}
	});

	it('raw: splits header and body at the first empty LF line', async () => {
		const source = fixture('bare-lf.eml').toString('utf8');
		const { json } = await convert('bare-lf.eml', 'raw');
		const headerEnd = source.indexOf('\n\n');

		expect(json).toEqual({
			raw: source.slice(headerEnd + 2),
			rawHeaders: source.slice(0, headerEnd + 1),
			attributes: { uid: 1 },
		});
		expect(json.raw).toMatch(/^--lf\nContent-Type: text\/plain/);
	});
});

describe('non-UTF-8 charsets', () => {
	const euroInfo = {
		binaryPropertyName: 'attachment_0',
		fileName: 'euro.txt',
		mimeType: 'text/plain; charset=iso-8859-15',
		size: CONTENT.euroLatin9.length,
		partId: '2',
		disposition: 'attachment',
	};

	it('simple: KOI8-R, ISO-8859-2 and ISO-2022-JP headers, windows-1251 and latin-1 bodies decode', async () => {
		const { json, binaries } = await convert('charsets.eml', 'simple');

		expect(json).toEqual({
			textHtml: '<p>Grüße</p>',
			textPlain: 'Привет, мир',
			from: 'Paweł <pawel@example.pl>',
			to: 'テスト <taro@example.jp>',
			subject: 'Привет',
			date: 'Tue, 23 Jan 2024 10:00:00 +0000',
			metadata: { 'mime-version': '1.0', 'content-type': 'multipart/mixed; boundary="cs"' },
			attributes: { uid: 1 },
			attachmentInfo: [euroInfo],
		});
		// the attachment keeps its original bytes; its charset travels in the MIME type
		expect(binaries).toEqual({
			attachment_0: expectedBinary('euro.txt', 'text/plain; charset=iso-8859-15', CONTENT.euroLatin9),
		});
	});

	it('resolved: the same decoded values in mailparser’s shapes', async () => {
		const { json } = await convert('charsets.eml', 'resolved');

		expect(json).toEqual({
			headers: {
				from: 'From: =?ISO-8859-2?Q?Pawe=B3?= <pawel@example.pl>',
				to: 'To: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <taro@example.jp>',
				subject: 'Subject: =?KOI8-R?Q?=F0=D2=C9=D7=C5=D4?=',
				date: 'Date: Tue, 23 Jan 2024 10:00:00 +0000',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: multipart/mixed; boundary="cs"',
			},
			html: '<p>Grüße</p>',
			text: 'Привет, мир',
			textAsHtml: '<p>&Pcy;&rcy;&icy;&vcy;&iecy;&tcy;, &mcy;&icy;&rcy;</p>',
			subject: 'Привет',
			date: '2024-01-23T10:00:00.000Z',
			from: {
				value: [{ address: 'pawel@example.pl', name: 'Paweł' }],
				html: '<span class="mp_address_group"><span class="mp_address_name">Pawe&#x142;</span> &lt;<a href="mailto:pawel@example.pl" class="mp_address_email">pawel@example.pl</a>&gt;</span>',
				text: '"Paweł" <pawel@example.pl>',
			},
			to: {
				value: [{ address: 'taro@example.jp', name: 'テスト' }],
				html: '<span class="mp_address_group"><span class="mp_address_name">&#x30C6;&#x30B9;&#x30C8;</span> &lt;<a href="mailto:taro@example.jp" class="mp_address_email">taro@example.jp</a>&gt;</span>',
				text: '"テスト" <taro@example.jp>',
			},
			attributes: { uid: 1 },
			attachmentInfo: [euroInfo],
		});
	});
});

describe('messages that are a single part', () => {
	it('a message that is only an attachment: no body, the part is attachment_0 with part id 1', async () => {
		for (const format of ['simple', 'resolved'] as const) {
			const { json, binaries } = await convert('single-part-attachment.eml', format);
			expect(binaries).toEqual({ attachment_0: expectedBinary('scan.pdf', 'application/pdf', CONTENT.pdf) });
			expect(json.attachmentInfo).toEqual([
				{
					binaryPropertyName: 'attachment_0',
					fileName: 'scan.pdf',
					mimeType: 'application/pdf',
					size: CONTENT.pdf.length,
					partId: '1',
					disposition: 'attachment',
				},
			]);
		}
		const simple = await convert('single-part-attachment.eml', 'simple');
		expect(simple.json.textPlain).toBe('');
		expect(simple.json.textHtml).toBe('');
		expect(simple.json.metadata).toEqual({
			'mime-version': '1.0',
			'content-type': 'application/pdf',
			'content-disposition': 'attachment; filename="scan.pdf"',
			'content-transfer-encoding': 'base64',
		});
		const resolved = await convert('single-part-attachment.eml', 'resolved');
		expect(resolved.json.html).toBe(false);
		expect(resolved.json).not.toHaveProperty('text');
	});

	it('an HTML-only message: simple has no invented plain text; resolved has mailparser’s conversion', async () => {
		const html = '<h1>Thanks</h1><p>Order <b>42</b> shipped.</p>\n';
		const simple = await convert('html-only.eml', 'simple');
		const resolved = await convert('html-only.eml', 'resolved');

		expect(simple.json).toEqual({
			textHtml: html,
			textPlain: '',
			from: 'shop@example.com',
			to: 'bob@example.com',
			subject: 'Your order',
			date: 'Thu, 25 Jan 2024 10:00:00 +0000',
			metadata: { 'mime-version': '1.0', 'content-type': 'text/html; charset=utf-8' },
			attributes: { uid: 1 },
		});
		expect(resolved.json).toEqual({
			headers: {
				from: 'From: shop@example.com',
				to: 'To: bob@example.com',
				subject: 'Subject: Your order',
				date: 'Date: Thu, 25 Jan 2024 10:00:00 +0000',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: text/html; charset=utf-8',
			},
			html,
			text: 'THANKS\n\nOrder 42 shipped.',
			textAsHtml: '<p>THANKS</p><p>Order 42 shipped.</p>',
			subject: 'Your order',
			date: '2024-01-25T10:00:00.000Z',
			from: bareAddress('shop@example.com'),
			to: bareAddress('bob@example.com'),
			attributes: { uid: 1 },
		});
		expect(simple.item.binary).toBeUndefined();
		expect(resolved.item.binary).toBeUndefined();
	});
});

describe('maxAttachmentBytes', () => {
	it('skips larger attachments but lists them with their real size; keys stay consecutive', async () => {
		const { json, binaries, stored } = await convert('inline-cid-image.eml', 'simple', { maxAttachmentBytes: 100 });

		expect(stored.map(({ fileName }) => fileName)).toEqual(['logo.png', 'attachment.gif']);
		expect(binaries).toEqual({
			attachment_0: expectedBinary('logo.png', 'image/png', CONTENT.png),
			attachment_1: expectedBinary('attachment.gif', 'image/gif', CONTENT.gif),
		});
		expect(json.attachmentInfo).toEqual([
			{
				fileName: 'report.pdf',
				mimeType: 'application/pdf',
				size: CONTENT.pdf.length,
				partId: '2',
				disposition: 'attachment',
				skipped: 'tooLarge',
			},
			{
				binaryPropertyName: 'attachment_0',
				fileName: 'logo.png',
				mimeType: 'image/png',
				size: CONTENT.png.length,
				partId: '1.2.2',
				disposition: 'inline',
				contentId: 'logo@example.com',
			},
			{
				binaryPropertyName: 'attachment_1',
				fileName: 'attachment.gif',
				mimeType: 'image/gif',
				size: CONTENT.gif.length,
				partId: '1.2.3',
				contentId: 'spacer@example.com',
			},
		]);
	});

	it('keeps an attachment of exactly the limit', async () => {
		const { binaries } = await convert('inline-cid-image.eml', 'resolved', { maxAttachmentBytes: CONTENT.pdf.length });

		expect(Object.keys(binaries)).toEqual(['attachment_0', 'attachment_1', 'attachment_2']);
	});
});
