/**
 * composeMessage: the node's parameters for one item → nodemailer options, with n8n Send Email v2.1's defaults
 * (html format, attribution on), threading, custom headers and refusals. Every case that matters on the wire is
 * checked on the real MIME message nodemailer builds from the options (stream transport, same pipeline as SMTP).
 */
import { simpleParser } from 'mailparser';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';

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
