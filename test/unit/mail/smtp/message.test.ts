/**
 * composeMessage: the node's parameters for one item → nodemailer options, with n8n Send Email v2.1's defaults
 * (html format, attribution on), threading, custom headers and refusals. Every case that matters on the wire is
 * checked on the real MIME message nodemailer builds from the options (stream transport, same pipeline as SMTP).
 */
import { simpleParser } from 'mailparser';
import type { IDataObject } from 'n8n-workflow';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';

import { ParameterRangeError } from '../../../../nodes/mail/parameters';
import type { ComposeInput } from '../../../../nodes/mail/smtp/message';
import { ATTRIBUTION_TEXT, attributionLink, composeMessage } from '../../../../nodes/mail/smtp/message';
import { readReplySource } from '../../../../nodes/mail/smtp/reply';
import { MessageInputError } from '../../../../nodes/mail/smtp/validate';

const ACCOUNT = 'me@example.com';
const LINK = attributionLink('n8n-nodes-gmail-xoauth2.gmailSmtp', 'instance-1');

function input(overrides: Partial<ComposeInput> = {}): ComposeInput {
	return {
		accountEmail: ACCOUNT,
		attributionLink: LINK,
		toEmail: 'bob@example.com',
		subject: 'Hello',
		emailFormat: 'text',
		text: 'Hi Bob',
		appendAttribution: false,
		...overrides,
	};
}

/**
 * The message as the SMTP transports build it (MailComposer without keepBcc) and its envelope. The stream transport
 * used by build() keeps Bcc on purpose (it hands the message to a program that delivers it), so Bcc is checked here.
 */
async function buildForSmtp(options: SendMailOptions): Promise<{ raw: string; envelope: { from: string | false; to: string[] } }> {
	const node = new MailComposer(options).compile();
	return { raw: (await node.build()).toString('utf8'), envelope: node.getEnvelope() as { from: string | false; to: string[] } };
}

/** The message as nodemailer's pipeline builds it (priority headers included), and its envelope. */
async function build(options: SendMailOptions): Promise<{ raw: string; envelope: { from: string; to: string[] } }> {
	const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'crlf' });
	const info = await transport.sendMail(options);
	return { raw: (info.message as Buffer).toString('utf8'), envelope: info.envelope as { from: string; to: string[] } };
}

function headerBlock(raw: string): string {
	return raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
}

function failure(run: () => unknown): MessageInputError {
	try {
		run();
	} catch (error) {
		if (error instanceof MessageInputError) return error;
		throw error;
	}
	throw new Error('expected a MessageInputError');
}

describe('sender and recipients', () => {
	it('sends from the credential’s account when From Email is empty, and from the given address (with its name) otherwise', async () => {
		expect(composeMessage(input()).from).toEqual({ name: '', address: ACCOUNT });
		expect(composeMessage(input({ fromEmail: 'Sales Team <sales@example.com>' })).from).toEqual({ name: 'Sales Team', address: 'sales@example.com' });
		expect(composeMessage(input({ senderName: 'Nathan Doe' })).from).toEqual({ name: 'Nathan Doe', address: ACCOUNT });
		const { raw } = await build(composeMessage(input({ senderName: 'Jürgen Müller' })));
		expect(headerBlock(raw)).toMatch(/^From: =\?UTF-8\?Q\?J=C3=BCrgen_M=C3=BCller\?= <me@example\.com>$/m);
	});

	it('refuses two From addresses', () => {
		expect(failure(() => composeMessage(input({ fromEmail: 'a@example.com, b@example.com' }))).message).toMatch(/From Email must be one address, got 2/);
	});

	it('puts BCC recipients into the envelope only, never into the headers', async () => {
		const { raw, envelope } = await buildForSmtp(
			composeMessage(input({ toEmail: 'to@example.com', ccEmail: 'cc@example.com', bccEmail: 'Hidden <hidden@example.com>' })),
		);
		expect(envelope.to).toEqual(['to@example.com', 'cc@example.com', 'hidden@example.com']);
		expect(headerBlock(raw)).toMatch(/^To: to@example\.com$/m);
		expect(headerBlock(raw)).toMatch(/^Cc: cc@example\.com$/m);
		expect(raw).not.toMatch(/hidden/i);
	});

	it('accepts a message with only BCC recipients, refuses one with none', () => {
		expect(composeMessage(input({ toEmail: '', bccEmail: 'x@example.com' })).bcc).toEqual([{ name: '', address: 'x@example.com' }]);
		expect(failure(() => composeMessage(input({ toEmail: '' }))).message).toBe('To Email is empty: enter at least one recipient (To, CC or BCC)');
		expect(failure(() => composeMessage(input({ toEmail: '  ,  ' }))).field).toBe('To Email');
	});

	it('builds a message without any recipient only when allowNoRecipients is set (a draft), still checking the addresses given', async () => {
		const draft = composeMessage(input({ toEmail: '', allowNoRecipients: true }));
		expect([draft.to, draft.cc, draft.bcc]).toEqual([undefined, undefined, undefined]);
		const { raw } = await build(draft);
		expect(headerBlock(raw)).not.toMatch(/^(To|Cc|Bcc):/im);
		expect(headerBlock(raw)).toMatch(/^From: me@example\.com$/m);
		expect(failure(() => composeMessage(input({ toEmail: '', allowNoRecipients: false }))).message).toBe('To Email is empty: enter at least one recipient (To, CC or BCC)');
		expect(failure(() => composeMessage(input({ toEmail: 'broken@', allowNoRecipients: true }))).field).toBe('To Email');
	});

	it('names the field of an invalid address', () => {
		expect(failure(() => composeMessage(input({ ccEmail: 'ok@example.com, broken@' }))).message).toMatch(/^CC Email contains the invalid address "broken@"/);
		expect(failure(() => composeMessage(input({ replyTo: 'nope' }))).message).toMatch(/^Reply To contains "nope"/);
	});
});

describe('header injection', () => {
	it.each([
		['subject', { subject: 'Hi\r\nBcc: victim@example.com' }, 'Subject'],
		['toEmail', { toEmail: 'bob@example.com\nBcc: victim@example.com' }, 'To Email'],
		['fromEmail', { fromEmail: 'me@example.com\r\nX-Evil: 1' }, 'From Email'],
		['senderName', { senderName: 'Me\r\nBcc: victim@example.com' }, 'Sender Name'],
		['replyTo', { replyTo: 'r@example.com\rBcc: victim@example.com' }, 'Reply To'],
		['inReplyTo', { inReplyTo: '<a@example.com>\r\nBcc: victim@example.com' }, 'In-Reply-To'],
		['references', { references: '<a@example.com>\nBcc: victim@example.com' }, 'References'],
		['messageId', { messageId: '<a@example.com>\r\nBcc: victim@example.com' }, 'Message-ID'],
		['a custom header value', { customHeaders: [{ name: 'X-Tag', value: 'a\r\nBcc: victim@example.com' }] }, 'Custom Headers: the value of "X-Tag"'],
	])('refuses CR/LF in %s', (_label, overrides, field) => {
		const error = failure(() => composeMessage(input(overrides as Partial<ComposeInput>)));
		expect(error.field).toBe(field);
		expect(error.message).toMatch(/line break/);
	});

	it('refuses CR/LF in an attachment’s file name or MIME type', () => {
		const attachment = { property: 'data', fileName: 'a.txt', mimeType: 'text/plain', content: Buffer.from('x'), inline: false };
		expect(failure(() => composeMessage(input({ attachments: [{ ...attachment, fileName: 'a\r\nBcc: x@y.example' }] }))).message).toMatch(/file name of binary property "data" contains a line break/);
		expect(failure(() => composeMessage(input({ attachments: [{ ...attachment, mimeType: 'text/plain\r\nX: y' }] }))).message).toMatch(/MIME type/);
	});

	it('keeps line breaks in the body (they are content, not headers)', () => {
		expect(composeMessage(input({ text: 'line 1\r\nline 2\nBcc: not-a-header@example.com' })).text).toContain('line 2\nBcc:');
	});
});

describe('format and attribution (n8n Send Email v2.1 behaviour)', () => {
	it('defaults to HTML, like Send Email v2.1', () => {
		const message = composeMessage(input({ emailFormat: undefined, html: '<p>x</p>', text: 'ignored', appendAttribution: false }));
		expect(message.html).toBe('<p>x</p>');
		expect(message.text).toBeUndefined();
	});

	it('sends text, html or both', async () => {
		expect(composeMessage(input({ emailFormat: 'text', text: 't', html: 'h' }))).toMatchObject({ text: 't' });
		expect(composeMessage(input({ emailFormat: 'text', text: 't', html: 'h' })).html).toBeUndefined();
		const both = composeMessage(input({ emailFormat: 'both', text: 't', html: '<b>h</b>' }));
		expect([both.text, both.html]).toEqual(['t', '<b>h</b>']);
		expect(headerBlock((await build(both)).raw)).toMatch(/Content-Type: multipart\/alternative/);
		expect(failure(() => composeMessage(input({ emailFormat: 'markdown' }))).message).toBe('Email Format must be text, html or both, got "markdown"');
	});

	it('appends the attribution unless switched off: to the HTML when there is HTML, else to the text', () => {
		const html = composeMessage(input({ emailFormat: 'html', html: '<p>x</p>', appendAttribution: undefined }));
		expect(html.html).toBe(`<p>x</p><br><br>---<br><em>${ATTRIBUTION_TEXT}<a href="${LINK.replace(/&/g, '&amp;')}" target="_blank">n8n</a></em>`);
		const text = composeMessage(input({ emailFormat: 'text', text: 'x', appendAttribution: true }));
		expect(text.text).toBe(`x\n\n---\n${ATTRIBUTION_TEXT}n8n\nhttps://n8n.io`);
		// "both" with an empty HTML part: n8n appends to the text instead.
		const bothNoHtml = composeMessage(input({ emailFormat: 'both', text: 'x', html: '', appendAttribution: undefined }));
		expect([bothNoHtml.text, bothNoHtml.html]).toEqual([`x\n\n---\n${ATTRIBUTION_TEXT}n8n\nhttps://n8n.io`, '']);
		expect(composeMessage(input({ emailFormat: 'text', text: 'x', appendAttribution: false })).text).toBe('x');
		expect(LINK).toBe('https://n8n.io/?utm_source=n8n-internal&utm_medium=powered_by&utm_campaign=n8n-nodes-gmail-xoauth2.gmailSmtp_instance-1');
	});
});

describe('threading, Message-ID, priority, custom headers', () => {
	it('writes In-Reply-To, References and a chosen Message-ID into the message', async () => {
		const { raw } = await build(
			composeMessage(input({ inReplyTo: 'parent@example.com', references: '<root@example.com> <parent@example.com>', messageId: 'mine-1@example.com' })),
		);
		const headers = headerBlock(raw);
		expect(headers).toMatch(/^In-Reply-To: <parent@example\.com>$/m);
		expect(headers).toMatch(/^References: <root@example\.com> <parent@example\.com>$/m);
		expect(headers).toMatch(/^Message-ID: <mine-1@example\.com>$/m);
	});

	it('sets priority headers for high and low, none for normal', async () => {
		expect(headerBlock((await build(composeMessage(input({ priority: 'high' })))).raw)).toMatch(/^X-Priority: 1 \(Highest\)$[\s\S]*^Importance: High$/m);
		expect(headerBlock((await build(composeMessage(input({ priority: 'low' })))).raw)).toMatch(/^X-Priority: 5 \(Lowest\)$/m);
		expect(headerBlock((await build(composeMessage(input({ priority: 'normal' })))).raw)).not.toMatch(/Priority|Importance/);
		expect(() => composeMessage(input({ priority: 'urgent' }))).toThrow(/Priority must be high, normal or low/);
	});

	it('adds custom headers (non-ASCII values encoded) and refuses the ones the node controls or invalid names', async () => {
		const { raw } = await build(composeMessage(input({ customHeaders: [{ name: 'X-Campaign', value: 'Spring' }, { name: 'X-Note', value: 'Grüße' }] })));
		const headers = headerBlock(raw);
		expect(headers).toMatch(/^X-Campaign: Spring$/m);
		expect(headers).toMatch(/^X-Note: =\?UTF-8\?Q\?Gr=C3=BC=C3=9Fe\?=$/m);
		expect(failure(() => composeMessage(input({ customHeaders: [{ name: 'Bcc', value: 'x@example.com' }] }))).message).toMatch(/cannot set "Bcc": use the "BCC Email" option/);
		expect(failure(() => composeMessage(input({ customHeaders: [{ name: 'content-type', value: 'text/html' }] }))).message).toMatch(/cannot set "content-type"/);
		expect(failure(() => composeMessage(input({ customHeaders: [{ name: 'X Bad', value: '1' }] }))).message).toMatch(/invalid header name "X Bad"/);
		expect(failure(() => composeMessage(input({ customHeaders: [{ name: 'X-A:B', value: '1' }] }))).message).toMatch(/invalid header name/);
		expect(failure(() => composeMessage(input({ customHeaders: [{ name: '', value: '1' }] }))).message).toMatch(/without a name/);
	});
});

describe('attachments', () => {
	it('gives inline attachments their property name as Content-ID (cid:) and file attachments none; bytes survive', async () => {
		const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a0b6c5d80000000049454e44ae426082', 'hex');
		const pdf = Buffer.from(Array.from({ length: 700 }, (_, i) => i % 256));
		const message = composeMessage(
			input({
				emailFormat: 'html',
				html: '<p><img src="cid:logo"></p>',
				attachments: [
					{ property: 'logo', fileName: 'logo.png', mimeType: 'image/png', content: png, inline: true },
					{ property: 'report', fileName: 'report.pdf', mimeType: 'application/pdf', content: pdf, inline: false },
				],
			}),
		);
		const parsed = await simpleParser((await build(message)).raw);
		const logo = parsed.attachments.find((attachment) => attachment.filename === 'logo.png');
		const report = parsed.attachments.find((attachment) => attachment.filename === 'report.pdf');
		expect(logo?.contentId).toBe('<logo>');
		expect(logo?.contentDisposition).toBe('inline');
		expect(logo?.content.equals(png)).toBe(true);
		expect(report?.contentId).toBeUndefined();
		expect(report?.contentDisposition).toBe('attachment');
		expect(report?.contentType).toBe('application/pdf');
		expect(report?.content.equals(pdf)).toBe(true);
	});
});

describe('reply to the input email', () => {
	const original = {
		textPlain: 'Can you send the report?',
		from: '"Müller, Alice" <alice@example.com>',
		subject: 'Quarterly report',
		metadata: { 'message-id': '<question-1@example.com>', references: '<thread-0@example.com>' },
	};

	it('answers the sender with "Re:", In-Reply-To and References when To and Subject are empty', () => {
		const message = composeMessage(input({ toEmail: '', subject: '', replySource: readReplySource(original) }));
		expect(message.to).toEqual([{ name: 'Müller, Alice', address: 'alice@example.com' }]);
		expect(message.subject).toBe('Re: Quarterly report');
		expect(message.inReplyTo).toBe('<question-1@example.com>');
		expect(message.references).toEqual(['<thread-0@example.com>', '<question-1@example.com>']);
	});

	it('lets explicit To, Subject, In-Reply-To and References win', () => {
		const message = composeMessage(
			input({
				toEmail: 'team@example.com',
				subject: 'FYI',
				inReplyTo: '<other@example.com>',
				references: '<other@example.com>',
				replySource: readReplySource(original),
			}),
		);
		expect(message.to).toEqual([{ name: '', address: 'team@example.com' }]);
		expect(message.subject).toBe('FYI');
		expect(message.inReplyTo).toBe('<other@example.com>');
		expect(message.references).toEqual(['<other@example.com>']);
	});

	it('refuses an input item that is not an email', () => {
		expect(() => readReplySource({ foo: 'bar' })).toThrow(/Reply to the Input Email is on, but the input item has no Message-ID/);
	});
});

describe('reply recipients: one by default, more only when asked, never more than the limit', () => {
	const replyToList = (count: number) => Array.from({ length: count }, (_, index) => `Person ${index} <r${index}@example.com>`).join(', ');
	const item = (count: number) => ({
		from: 'sender@example.com',
		subject: 'Offer',
		metadata: { 'message-id': '<many@example.com>', 'reply-to': replyToList(count) },
	});

	it('sends ONE message to the first Reply-To address of an email listing 500', async () => {
		const message = composeMessage(input({ toEmail: '', subject: '', replySource: readReplySource(item(500)) }));
		expect(message.to).toEqual([{ name: 'Person 0', address: 'r0@example.com' }]);
		const { raw, envelope } = await buildForSmtp(message);
		expect(envelope.to).toEqual(['r0@example.com']);
		expect(raw).not.toContain('r1@example.com');
	});

	it('sends to every Reply-To address when "Reply to All Reply-To Addresses" is on and they fit "Max Reply Recipients"', async () => {
		const message = composeMessage(input({ toEmail: '', replySource: readReplySource(item(12)), replyToAllAddresses: true, maxReplyRecipients: 12 }));
		expect((await buildForSmtp(message)).envelope.to).toHaveLength(12);
	});

	it('refuses the item when the email lists more than the limit, even with the maximum of 20', () => {
		const error = failure(() => composeMessage(input({ toEmail: '', replySource: readReplySource(item(500)), replyToAllAddresses: true, maxReplyRecipients: 20 })));
		expect(error.field).toBe('Reply to All Reply-To Addresses');
		expect(error.message).toMatch(/lists 500 Reply-To addresses, more than "Max Reply Recipients" \(20\) allows/);
	});

	it('leaves an explicit To Email alone: the Reply-To list then does not matter', () => {
		const message = composeMessage(input({ toEmail: 'team@example.com', replySource: readReplySource(item(500)), replyToAllAddresses: true }));
		expect(message.to).toEqual([{ name: '', address: 'team@example.com' }]);
	});

	it.each([0, 21, 2.5, 'abc'])('refuses "Max Reply Recipients" = %p with its name and range, reply mode or not', (max) => {
		expect(() => composeMessage(input({ maxReplyRecipients: max }))).toThrow(ParameterRangeError);
		expect(() => composeMessage(input({ maxReplyRecipients: max }))).toThrow(/^"Max Reply Recipients" must be (a whole number )?from 1 to 20/);
	});
});

describe('display names from the input email never add header lines', () => {
	const hostileName = 'Eve\r\nBcc: victim@x.example';
	const expectedHeaderNames = ['Content-Transfer-Encoding', 'Content-Type', 'Date', 'From', 'In-Reply-To', 'MIME-Version', 'Message-ID', 'References', 'Subject', 'To'];

	/** Raw header lines (folded continuation lines joined), and their names. */
	function headerLines(raw: string): string[] {
		return headerBlock(raw).split('\r\n');
	}

	it.each<[string, IDataObject]>([
		['a structured Reply-To (resolved format)', { headers: { 'message-id': 'Message-ID: <m@example.com>' }, replyTo: { value: [{ name: hostileName, address: 'eve@example.com' }] } }],
		['a structured From (resolved format)', { headers: { 'message-id': 'Message-ID: <m@example.com>' }, from: { value: [{ name: hostileName, address: 'eve@example.com' }] } }],
		['decoded From text (simple format)', { from: `${hostileName} <eve@example.com>`, metadata: { 'message-id': '<m@example.com>' } }],
		['an encoded word in the raw From header', { rawHeaders: 'From: =?UTF-8?Q?Eve=0D=0ABcc=3A_victim=40x=2Eexample?= <eve@example.com>\r\nMessage-ID: <m@example.com>\r\n' }],
	])('a name with CR LF "Bcc:" in %s: one To line, no Bcc line, the address untouched', async (_label, json) => {
		const source = readReplySource(json);
		const message = composeMessage(input({ toEmail: '', subject: '', replySource: source }));
		// Stripped by our code, before nodemailer sees it:
		for (const recipient of message.to as Array<{ name: string; address: string }>) expect(recipient.name).not.toMatch(/[\r\n]/);
		expect(message.to).toEqual([{ name: expect.stringMatching(/^(Eve Bcc: victim@x\.example)?$/), address: 'eve@example.com' }]);

		const { raw, envelope } = await buildForSmtp(message);
		expect(envelope.to).toEqual(['eve@example.com']);
		const lines = headerLines(raw);
		expect(lines.map((line) => line.slice(0, line.indexOf(':'))).sort()).toEqual(expectedHeaderNames);
		expect(lines.filter((line) => /^bcc:/i.test(line))).toEqual([]);
		expect(lines.filter((line) => line.includes('victim'))).toEqual(lines.filter((line) => line.startsWith('To: ')).filter((line) => line.includes('victim')));
		expect((await simpleParser(raw)).to).toMatchObject({ value: [{ address: 'eve@example.com' }] });
	});

	it('the node’s own name fields are refused, not stripped (what the user typed is not changed behind their back)', () => {
		expect(failure(() => composeMessage(input({ senderName: hostileName }))).field).toBe('Sender Name');
		expect(failure(() => composeMessage(input({ toEmail: `${hostileName} <eve@example.com>` }))).field).toBe('To Email');
	});
});
