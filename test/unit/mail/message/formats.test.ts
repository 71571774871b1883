/**
 * The three item shapes, pinned on one ordinary message (multipart/alternative body + a PDF attachment).
 * Each expectation is the complete item: every json field and every binary (name, type, checksum).
 */
import type { IExecuteFunctions, ITriggerFunctions } from 'n8n-workflow';

import { messageToItem, type BinarySink, type MessageToItemOptions } from '../../../../nodes/mail/message/toItem';
import {
	CONTENT,
	asStored,
	binarySummary,
	expectedBinary,
	fixture,
	recordingSink,
} from './helpers';

const source = fixture('plain-html-attachment.eml');

function options(overrides: Partial<MessageToItemOptions>): MessageToItemOptions {
	return {
		format: 'simple',
		downloadAttachments: true,
		attributes: { uid: 42 },
		prepareBinaryData: recordingSink().sink,
		...overrides,
	};
}

const reportInfo = {
	binaryPropertyName: 'attachment_0',
	fileName: 'report.pdf',
	mimeType: 'application/pdf',
	size: CONTENT.pdf.length,
	partId: '2',
	disposition: 'attachment',
};

describe('simple format', () => {
	it('has the fields of n8n’s simple item: bodies, five top-level headers, metadata, attributes, binary', async () => {
		const item = await messageToItem(source, options({ format: 'simple' }));

		expect(asStored(item.json)).toEqual({
			textHtml: '<p>Hello Bob,</p><p>the report is attached. Grüße</p>',
			textPlain: 'Hello Bob,\n\nthe report is attached. Grüße',
			// header text with encoded words decoded; the subject's "é" is split across two encoded words
			from: 'Alice Müller <alice@example.com>',
			to: 'Bob <bob@example.com>, carol@example.com',
			cc: '"Dave, Jr." <dave@example.com>',
			subject: 'Quarterly report — été',
			date: 'Mon, 15 Jan 2024 11:00:00 +0100',
			metadata: {
				'return-path': '<alice@example.com>',
				// a repeated header keeps its first occurrence, as in n8n
				received: 'from mx.example.net by imap.example.com; Mon, 15 Jan 2024 10:00:01 +0000',
				'message-id': '<report-1@example.com>',
				'in-reply-to': '<question-1@example.com>',
				references: '<thread-0@example.com> <question-1@example.com>',
				'x-mailer': 'Handmade 1.0',
				'mime-version': '1.0',
				'content-type': 'multipart/mixed; boundary="mixed-1"',
			},
			attributes: { uid: 42 },
			attachmentInfo: [reportInfo],
		});
		expect(binarySummary(item)).toEqual({
			attachment_0: expectedBinary('report.pdf', 'application/pdf', CONTENT.pdf),
		});
	});

	it('leaves binary and attachmentInfo out when attachments are not requested', async () => {
		const item = await messageToItem(source, options({ format: 'simple', downloadAttachments: false }));

		expect(item.binary).toBeUndefined();
		expect(item.json.attachmentInfo).toBeUndefined();
		expect(item.json.textPlain).toBe('Hello Bob,\n\nthe report is attached. Grüße');
	});

	it('names binary properties with the given prefix', async () => {
		const item = await messageToItem(source, options({ format: 'simple', attachmentPrefix: 'file' }));

		expect(Object.keys(item.binary ?? {})).toEqual(['file0']);
		expect(item.json.attachmentInfo).toEqual([{ ...reportInfo, binaryPropertyName: 'file0' }]);
	});
});

describe('resolved format', () => {
	it('is mailparser’s result with raw header lines, ISO date, addresses as objects, attachments in binary', async () => {
		const item = await messageToItem(source, options({ format: 'resolved' }));

		expect(asStored(item.json)).toEqual({
			headers: {
				'return-path': 'Return-Path: <alice@example.com>',
				// n8n builds this map from the header lines, so the last Received line wins
				received: 'Received: from client.example.com by mx.example.net; Mon, 15 Jan 2024 10:00:00 +0000',
				from: 'From: =?UTF-8?Q?Alice_M=C3=BCller?= <alice@example.com>',
				to: 'To: Bob <bob@example.com>, carol@example.com',
				cc: 'Cc: "Dave, Jr." <dave@example.com>',
				subject: 'Subject: =?UTF-8?B?UXVhcnRlcmx5IHJlcG9ydCDigJQgww==?= =?utf-8?B?qXTDqQ==?=',
				date: 'Date: Mon, 15 Jan 2024 11:00:00 +0100',
				'message-id': 'Message-ID: <report-1@example.com>',
				'in-reply-to': 'In-Reply-To: <question-1@example.com>',
				references: 'References: <thread-0@example.com>\r\n <question-1@example.com>',
				'x-mailer': 'X-Mailer: Handmade 1.0',
				'mime-version': 'MIME-Version: 1.0',
				'content-type': 'Content-Type: multipart/mixed; boundary="mixed-1"',
			},
			html: '<p>Hello Bob,</p><p>the report is attached. Grüße</p>',
			text: 'Hello Bob,\n\nthe report is attached. Grüße',
			textAsHtml: '<p>Hello Bob,</p><p>the report is attached. Gr&uuml;&szlig;e</p>',
			subject: 'Quarterly report — été',
			references: ['<thread-0@example.com>', '<question-1@example.com>'],
			date: '2024-01-15T10:00:00.000Z',
			to: {
				value: [
					{ address: 'bob@example.com', name: 'Bob' },
					{ address: 'carol@example.com', name: '' },
				],
				html:
					'<span class="mp_address_group"><span class="mp_address_name">Bob</span> &lt;<a href="mailto:bob@example.com" class="mp_address_email">bob@example.com</a>&gt;</span>, ' +
					'<span class="mp_address_group"><a href="mailto:carol@example.com" class="mp_address_email">carol@example.com</a></span>',
				text: '"Bob" <bob@example.com>, carol@example.com',
			},
			from: {
				value: [{ address: 'alice@example.com', name: 'Alice Müller' }],
				html: '<span class="mp_address_group"><span class="mp_address_name">Alice M&#xFC;ller</span> &lt;<a href="mailto:alice@example.com" class="mp_address_email">alice@example.com</a>&gt;</span>',
				text: '"Alice Müller" <alice@example.com>',
			},
			cc: {
				value: [{ address: 'dave@example.com', name: 'Dave, Jr.' }],
				html: '<span class="mp_address_group"><span class="mp_address_name">Dave, Jr.</span> &lt;<a href="mailto:dave@example.com" class="mp_address_email">dave@example.com</a>&gt;</span>',
				text: '"Dave, Jr." <dave@example.com>',
			},
			messageId: '<report-1@example.com>',
			inReplyTo: '<question-1@example.com>',
			attributes: { uid: 42 },
			attachmentInfo: [reportInfo],
		});
		expect(binarySummary(item)).toEqual({
			attachment_0: expectedBinary('report.pdf', 'application/pdf', CONTENT.pdf),
		});
	});

	it('is already plain JSON: what n8n stores is what the workflow sees', async () => {
		const item = await messageToItem(source, options({ format: 'resolved' }));

		expect(item.json).toEqual(asStored(item.json));
		expect(item.json).not.toHaveProperty('attachments');
		expect(item.json).not.toHaveProperty('headerLines');
	});
});

describe('raw format', () => {
	it('is the body after the header section as UTF-8 text (n8n’s raw), plus the header section and attributes', async () => {
		const item = await messageToItem(source, options({ format: 'raw' }));
		const text = source.toString('utf8');
		const headerEnd = text.indexOf('\r\n\r\n');

		expect(item.json).toEqual({
			raw: text.slice(headerEnd + 4),
			rawHeaders: text.slice(0, headerEnd + 2),
			attributes: { uid: 42 },
		});
		expect((item.json.raw as string).startsWith('This is a multi-part message in MIME format.\r\n')).toBe(true);
		expect(item.binary).toBeUndefined();
	});

	it('reads a stream source the same way', async () => {
		const { Readable } = await import('node:stream');
		const chunks = [source.subarray(0, 100), source.subarray(100, 1000), source.subarray(1000)];
		const fromStream = await messageToItem(Readable.from(chunks), options({ format: 'raw' }));
		const fromBuffer = await messageToItem(source, options({ format: 'raw' }));

		expect(fromStream).toEqual(fromBuffer);
	});
});

describe('the binary sink', () => {
	it('accepts n8n’s own prepareBinaryData from a trigger or an action node as is', () => {
		type TriggerHelpers = ITriggerFunctions['helpers'];
		type ActionHelpers = IExecuteFunctions['helpers'];
		const fromTrigger = (helpers: TriggerHelpers): BinarySink => helpers.prepareBinaryData;
		const fromAction = (helpers: ActionHelpers): BinarySink => helpers.prepareBinaryData;

		// the assignments above are the test (they must compile); the functions exist to hold them
		expect([fromTrigger, fromAction]).toHaveLength(2);
	});
});

describe('attributes', () => {
	it('carries what the caller passes, made JSON-safe (imapflow flags are a Set, modseq a bigint)', async () => {
		const item = await messageToItem(
			source,
			options({
				format: 'simple',
				downloadAttachments: false,
				attributes: {
					uid: 7,
					mailbox: '[Gmail]/All Mail',
					uidValidity: 1700000000n,
					flags: new Set(['\\Seen', '\\Flagged']),
					labels: ['\\Inbox', 'Invoices'],
					threadId: '1789000000000000001',
					gmailMessageId: '1789000000000000002',
					modseq: 123456789012345678n,
					unset: undefined,
				},
			}),
		);

		expect(item.json.attributes).toEqual({
			uid: 7,
			mailbox: '[Gmail]/All Mail',
			uidValidity: '1700000000',
			flags: ['\\Seen', '\\Flagged'],
			labels: ['\\Inbox', 'Invoices'],
			threadId: '1789000000000000001',
			gmailMessageId: '1789000000000000002',
			modseq: '123456789012345678',
		});
	});

	it('carries a POP uidl the same way', async () => {
		const item = await messageToItem(source, options({ format: 'raw', attributes: { uidl: 'GmailId18c2f' } }));

		expect(item.json.attributes).toEqual({ uidl: 'GmailId18c2f' });
	});
});
