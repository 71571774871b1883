/**
 * The Gmail SMTP node against the stack's real Postfix (XOAUTH2 through Dovecot, delivery over LMTP), on both
 * Gmail-style submission ports. Every check reads the delivered message back from Dovecot.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AddressObject } from 'mailparser';
import type { INodeExecutionData } from 'n8n-workflow';

import { messageToItem } from '../../../nodes/mail/message/toItem';
import { getStack } from '../../stack';
import { binaryFromBuffer, expression } from '../harness/executeHarness';
import { PORT_LABELS, delivered, headerSection, runSmtpNode, senderCredential, type SmtpPort } from './smtpTestKit';

const stack = getStack();
const PORTS = Object.keys(PORT_LABELS) as SmtpPort[];

/** mailparser gives one AddressObject per header occurrence; these tests send each header once. */
function addresses(field: AddressObject | AddressObject[] | undefined): Array<{ address?: string; name: string }> {
	return (Array.isArray(field) ? field : field ? [field] : []).flatMap((entry) => entry.value.map(({ address, name }) => ({ address, name })));
}

function sha256(content: Buffer): string {
	return createHash('sha256').update(content).digest('hex');
}

describe.each(PORTS)('Gmail SMTP node over %s', (port) => {
	it.each<[string, Record<string, string>, { contentType: string; text?: string; html: string | false }]>([
		['text', { text: 'Plain body — ünïcödé', html: '<p>not sent</p>' }, { contentType: 'text/plain', text: 'Plain body — ünïcödé', html: false }],
		['html', { text: 'not sent', html: '<p>HTML <b>body</b> — ünïcödé</p>' }, { contentType: 'text/html', html: '<p>HTML <b>body</b> — ünïcödé</p>' }],
		['both', { text: 'Plain part', html: '<p>HTML part</p>' }, { contentType: 'multipart/alternative', text: 'Plain part', html: '<p>HTML part</p>' }],
	])('sends the %s format and the mailbox receives exactly that', async (format, bodies, expected) => {
		const user = stack.newMailbox('sender');
		const recipient = stack.newMailbox('rcpt');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, port),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: `Recipient <${recipient}>`,
				subject: `Format ${format} — Grüße`,
				emailFormat: format,
				...bodies,
				options: { appendAttribution: false },
			},
			items: [{ json: {} }],
		});
		expect(run.error).toBeUndefined();
		expect(run.output).toEqual([
			{
				json: {
					messageId: expect.stringMatching(/^<.+@example\.test>$/),
					accepted: [recipient],
					rejected: [],
					response: expect.stringMatching(/^250 2\.0\.0 Ok: queued as /),
					envelope: { from: user, to: [recipient] },
				},
				pairedItem: { item: 0 },
			},
		]);

		const [{ mail }] = await delivered(stack, recipient, 1);
		expect(mail.subject).toBe(`Format ${format} — Grüße`);
		expect(mail.from?.value).toEqual([{ address: user, name: '' }]);
		expect(mail.messageId).toBe(run.output?.[0].json.messageId);
		expect(mail.headers.get('content-type')).toMatchObject({ value: expected.contentType });
		// (mailparser derives a text version from an HTML-only message, so text is compared only where one was sent)
		if (expected.text !== undefined) expect(mail.text?.trim()).toBe(expected.text);
		expect(typeof mail.html === 'string' ? mail.html.trim() : false).toBe(expected.html);
		expect(mail.text ?? '').not.toContain('not sent');
		expect(typeof mail.html === 'string' ? mail.html : '').not.toContain('not sent');
	});

	it('appends n8n’s attribution when the option is not set (as Send Email v2.1 does)', async () => {
		const user = stack.newMailbox('sender');
		const recipient = stack.newMailbox('rcpt');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, port),
			parameters: { authentication: 'mailServerOAuth2Api', toEmail: recipient, subject: 's', emailFormat: 'text', text: 'Body', options: {} },
			items: [{ json: {} }],
		});
		expect(run.error).toBeUndefined();
		const [{ mail }] = await delivered(stack, recipient, 1);
		expect(mail.text).toBe('Body\n\n---\nThis email was sent automatically with n8n\nhttps://n8n.io\n');
	});
});

describe('Gmail SMTP node: content and recipients (465-style)', () => {
	it('delivers attachments byte for byte: an inline image by cid and file attachments, binary and text', async () => {
		const user = stack.newMailbox('sender');
		const recipient = stack.newMailbox('rcpt');
		const png = Buffer.from(
			'89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a0b6c5d80000000049454e44ae426082',
			'hex',
		);
		const random = randomBytes(300 * 1024);
		// Bytes that trip naive encoders: every byte value, CR/LF mixes, a lone dot line (SMTP dot-stuffing).
		const tricky = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('\r\n.\r\n..\n.\r\nend', 'latin1')]);
		const csv = Buffer.from('name;amount\r\nMüller;12,50\r\n', 'utf8');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps'),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: recipient,
				subject: 'Attachments',
				emailFormat: 'html',
				html: '<p>Logo: <img src="cid:logo"></p>',
				options: { appendAttribution: false, attachments: 'logo', fileAttachments: 'random, tricky, table' },
			},
			items: [
				{
					json: {},
					binary: {
						logo: binaryFromBuffer(png, 'logo.png', 'image/png'),
						random: binaryFromBuffer(random, 'random.bin', 'application/octet-stream'),
						tricky: binaryFromBuffer(tricky, 'tricky.dat', 'application/octet-stream', { withBytes: false }),
						table: binaryFromBuffer(csv, 'Übersicht März.csv', 'text/csv'),
					},
				},
			],
		});
		expect(run.error).toBeUndefined();

		const [{ mail }] = await delivered(stack, recipient, 1);
		const byName = new Map(mail.attachments.map((attachment) => [attachment.filename, attachment]));
		expect([...byName.keys()].sort()).toEqual(['logo.png', 'random.bin', 'tricky.dat', 'Übersicht März.csv'].sort());
		expect(sha256(byName.get('logo.png')!.content)).toBe(sha256(png));
		expect(sha256(byName.get('random.bin')!.content)).toBe(sha256(random));
		expect(sha256(byName.get('tricky.dat')!.content)).toBe(sha256(tricky));
		expect(sha256(byName.get('Übersicht März.csv')!.content)).toBe(sha256(csv));
		expect(byName.get('logo.png')).toMatchObject({ contentId: '<logo>', contentDisposition: 'inline', contentType: 'image/png' });
		expect(byName.get('random.bin')).toMatchObject({ contentDisposition: 'attachment' });
		expect(byName.get('random.bin')?.contentId).toBeUndefined();
	});

	it('delivers to To, CC and BCC; the BCC address appears in no header of any copy', async () => {
		const user = stack.newMailbox('sender');
		const [to, cc, bcc] = [stack.newMailbox('to'), stack.newMailbox('cc'), stack.newMailbox('bcc')];
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps'),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: to,
				subject: 'Copies',
				emailFormat: 'text',
				text: 'x',
				options: { appendAttribution: false, ccEmail: `Carbon <${cc}>`, bccEmail: bcc, replyTo: 'Desk <desk@example.test>' },
			},
			items: [{ json: {} }],
		});
		expect(run.error).toBeUndefined();
		expect(run.output?.[0].json).toMatchObject({ accepted: [to, cc, bcc], envelope: { to: [to, cc, bcc] } });

		for (const mailbox of [to, cc, bcc]) {
			const [{ raw, mail }] = await delivered(stack, mailbox, 1);
			const headers = headerSection(raw);
			expect(addresses(mail.to)).toEqual([{ address: to, name: '' }]);
			expect(addresses(mail.cc)).toEqual([{ address: cc, name: 'Carbon' }]);
			expect(mail.replyTo?.value).toEqual([{ address: 'desk@example.test', name: 'Desk' }]);
			expect(headers).not.toMatch(/^bcc:/im);
			// Dovecot's Delivered-To / LMTP Received lines name the mailbox a copy landed in; for the BCC copy that is
			// the hidden recipient itself, which is fine. No header written by the SENDER may name it.
			const senderHeaders = headers.split(/\r?\n/).filter((line) => !/^(delivered-to|received|return-path):/i.test(line));
			expect(senderHeaders.join('\n')).not.toContain(bcc);
		}
	});

	it('writes threading headers, a chosen Message-ID, priority, sender name and custom headers', async () => {
		const user = stack.newMailbox('sender');
		const recipient = stack.newMailbox('rcpt');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps'),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: recipient,
				subject: 'Threaded',
				emailFormat: 'text',
				text: 'x',
				options: {
					appendAttribution: false,
					inReplyTo: 'parent-7@example.test',
					references: '<root-1@example.test> <parent-7@example.test>',
					messageId: expression((_item, index) => `<order-${index}-${user}>`),
					priority: 'high',
					senderName: 'Order Desk',
					customHeaders: { header: [{ name: 'X-Order', value: '1234' }, { name: 'List-Unsubscribe', value: '<mailto:stop@example.test>' }] },
				},
			},
			items: [{ json: {} }],
		});
		expect(run.error).toBeUndefined();
		expect(run.output?.[0].json.messageId).toBe(`<order-0-${user}>`);

		const [{ raw, mail }] = await delivered(stack, recipient, 1);
		expect(mail.inReplyTo).toBe('<parent-7@example.test>');
		expect(mail.references).toEqual(['<root-1@example.test>', '<parent-7@example.test>']);
		expect(mail.messageId).toBe(`<order-0-${user}>`);
		expect(mail.from?.value).toEqual([{ address: user, name: 'Order Desk' }]);
		const headers = headerSection(raw);
		expect(headers).toMatch(/^X-Priority: 1 \(Highest\)$/m);
		expect(headers).toMatch(/^Importance: High$/m);
		expect(headers).toMatch(/^X-Order: 1234$/m);
		expect(headers).toMatch(/^List-Unsubscribe: <mailto:stop@example\.test>$/m);
	});

	it('replies to an email the account received: to its sender, "Re:" subject, In-Reply-To and References from it', async () => {
		const account = stack.newMailbox('account');
		const asker = stack.newMailbox('asker');
		await stack.deliver({
			from: `Asker Person <${asker}>`,
			to: account,
			subject: 'Frage zur Bestellung ü',
			messageId: `<question-1.${account}>`,
			headers: { References: `<root-1.${account}>` },
			text: 'Where is my order?',
		});
		// The input item exactly as the IMAP trigger / POP node would build it from that message.
		const [{ raw }] = await delivered(stack, account, 1);
		const inputs: INodeExecutionData[] = [];
		for (const format of ['simple', 'resolved', 'raw'] as const) {
			inputs.push(
				await messageToItem(Buffer.from(raw), { format, downloadAttachments: false, attributes: { uid: 1 }, prepareBinaryData: async () => ({ data: '', mimeType: '' }) }),
			);
		}

		const run = await runSmtpNode({
			credential: await senderCredential(stack, account, 'smtps'),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: '',
				subject: '',
				emailFormat: 'text',
				text: 'It ships today.',
				options: { appendAttribution: false, replyToInputEmail: true },
			},
			items: inputs,
		});
		expect(run.error).toBeUndefined();
		expect(run.output?.map((item) => item.json.accepted)).toEqual([[asker], [asker], [asker]]);

		const replies = await delivered(stack, asker, 3);
		for (const { mail } of replies) {
			expect(mail.subject).toBe('Re: Frage zur Bestellung ü');
			expect(addresses(mail.to)).toEqual([{ address: asker, name: 'Asker Person' }]);
			expect(mail.inReplyTo).toBe(`<question-1.${account}>`);
			expect(mail.references).toEqual([`<root-1.${account}>`, `<question-1.${account}>`]);
		}
	});
});
