/**
 * Parity with n8n's Email Trigger (IMAP) v2.2, checked against what n8n's own code path produces for the same
 * message. Read from n8n-nodes-base 2.41.2 (dist/nodes/EmailReadImap/v2/utils.js) and @n8n/imap 0.27.0:
 * - resolved: `simpleParser(source)` with default options; `headers` = { [line.key]: line.line } over
 *   headerLines; headerLines and attachments set to undefined; `deepCopy` (v2.2); attachments → binary
 *   `${prefix}${i}` via prepareBinaryData(content, filename, contentType); then `attributes = { uid }`.
 * - simple: headers = libmime.decodeHeaders(BODY[HEADER]) with decodeWords on every value; the first value of
 *   cc/date/from/subject/to at the top level, the first value of every other header under `metadata`;
 *   binary = the parts whose Content-Disposition is `attachment`, in part order.
 * The oracles below restate those steps with the same libraries; every intended difference is named.
 */
import { simpleParser, type Attachment } from 'mailparser';
import { deepCopy, type IDataObject, type INodeExecutionData } from 'n8n-workflow';

import { messageToItem, type MessageFormat } from '../../../../nodes/mail/message/toItem';
import { asStored, fixture, recordingSink, sha256 } from './helpers';

// libmime is what @n8n/imap's parseHeaders uses; it is installed here as a dependency of mailparser/imapflow
// and loaded only as a test oracle.
const libmime = require('libmime') as {
	decodeHeaders(headers: string): Record<string, string[]>;
	decodeWords(value: string): string;
};

const ALL_FIXTURES = [
	'plain-html-attachment.eml',
	'inline-cid-image.eml',
	'unlabelled-parts.eml',
	'forwarded-message.eml',
	'bounce-report.eml',
	'bounce-headers-only.eml',
	'calendar-invite.eml',
	'unparseable-date.eml',
	'attachment-names.eml',
	'bare-lf.eml',
	'charsets.eml',
	'single-part-attachment.eml',
	'html-only.eml',
];

/** Messages where n8n's resolved item and ours are identical apart from our attachmentInfo. */
const RESOLVED_IDENTICAL = [
	'plain-html-attachment.eml',
	'calendar-invite.eml',
	'attachment-names.eml',
	'bare-lf.eml',
	'charsets.eml',
	'single-part-attachment.eml',
	'html-only.eml',
];

async function n8nResolved(source: Buffer): Promise<{ json: IDataObject; attachments: Attachment[] }> {
	const parsed = await simpleParser(source);
	const headers: IDataObject = {};
	for (const header of parsed.headerLines) headers[header.key] = header.line;
	const json = deepCopy({ ...parsed, headers, headerLines: undefined, attachments: undefined }) as IDataObject;
	json.attributes = { uid: 1 };
	return { json: asStored(json), attachments: parsed.attachments };
}

function n8nSimpleHeaders(source: Buffer): IDataObject {
	const text = source.toString('utf8');
	const headerEnd = text.search(/\r?\n\r?\n/);
	const json: IDataObject = { metadata: {} };
	for (const [name, values] of Object.entries(libmime.decodeHeaders(text.slice(0, headerEnd)))) {
		const first = libmime.decodeWords(values[0]);
		if (['cc', 'date', 'from', 'subject', 'to'].includes(name)) json[name] = first;
		else (json.metadata as IDataObject)[name] = first;
	}
	return json;
}

async function ours(name: string, format: MessageFormat): Promise<INodeExecutionData> {
	return await messageToItem(fixture(name), {
		format,
		downloadAttachments: true,
		attributes: { uid: 1 },
		prepareBinaryData: recordingSink().sink,
	});
}

function omit(json: IDataObject, keys: string[]): IDataObject {
	return Object.fromEntries(Object.entries(json).filter(([key]) => !keys.includes(key)));
}

function withoutAttachmentInfo(json: IDataObject): IDataObject {
	return omit(asStored(json), ['attachmentInfo']);
}

function bytesOf(item: INodeExecutionData, key: string): Buffer {
	const binary = item.binary?.[key];
	if (!binary) throw new Error(`no binary ${key}`);
	return Buffer.from(binary.data, 'base64');
}

describe('resolved format against n8n’s code path', () => {
	it.each(RESOLVED_IDENTICAL)('%s: json identical to n8n’s', async (name) => {
		const expected = await n8nResolved(fixture(name));
		const item = await ours(name, 'resolved');

		expect(withoutAttachmentInfo(item.json)).toEqual(expected.json);
	});

	it.each(ALL_FIXTURES)('%s: n8n’s binaries come first, under the same keys, with the same bytes and type', async (name) => {
		const expected = await n8nResolved(fixture(name));
		const item = await ours(name, 'resolved');

		expected.attachments.forEach((attachment, index) => {
			const binary = item.binary?.[`attachment_${index}`];
			expect(binary?.mimeType.split(';')[0]).toBe(attachment.contentType);
			expect(sha256(bytesOf(item, `attachment_${index}`))).toBe(sha256(attachment.content));
		});
	});

	it('inline images: the only difference is that html keeps cid: links instead of data: URLs', async () => {
		const expected = await n8nResolved(fixture('inline-cid-image.eml'));
		const item = await ours('inline-cid-image.eml', 'resolved');
		const info = item.json.attachmentInfo as Array<{ contentId?: string; binaryPropertyName: string }>;
		const inlined = (item.json.html as string).replace(/cid:([^"]+)/g, (_match, cid: string) => {
			const part = info.find((entry) => entry.contentId === cid);
			if (!part) return _match;
			const binary = item.binary?.[part.binaryPropertyName];
			return `data:${binary?.mimeType};base64,${binary?.data}`;
		});

		expect(item.json.html).toContain('src="cid:logo@example.com"');
		expect({ ...withoutAttachmentInfo(item.json), html: inlined }).toEqual(expected.json);
	});

	it('unparseable Date: n8n shows the processing time, ours null; a raw UTF-8 header line reads as UTF-8', async () => {
		const before = Date.now();
		const expected = await n8nResolved(fixture('unparseable-date.eml'));
		const after = Date.now();
		const item = await ours('unparseable-date.eml', 'resolved');

		const n8nDate = new Date(expected.json.date as string).getTime();
		expect(n8nDate).toBeGreaterThanOrEqual(before);
		expect(n8nDate).toBeLessThanOrEqual(after);
		expect(item.json.date).toBeNull();
		// n8n hands out mailparser's byte-per-char header line, so raw UTF-8 shows as mojibake there
		expect((expected.json.headers as IDataObject)['x-note']).toBe(
			Buffer.from('X-Note: Grüße aus Köln', 'utf8').toString('latin1'),
		);
		expect(withoutAttachmentInfo(item.json)).toEqual({
			...expected.json,
			date: null,
			headers: { ...(expected.json.headers as IDataObject), 'x-note': 'X-Note: Grüße aus Köln' },
		});
	});

	it.each([
		// a second inline text/plain part: n8n merges it into text, ours keeps it as a binary
		['unlabelled-parts.eml', 'Part two'],
		// an inline message/rfc822: n8n flattens it into text, ours keeps it as a .eml binary
		['forwarded-message.eml', 'Shall we have lunch?'],
		// message/delivery-status: n8n appends it to text, ours keeps it as a binary
		['bounce-report.eml', 'Diagnostic-Code: smtp; 550 5.1.1 user unknown'],
		['bounce-headers-only.eml', 'Final-Recipient: rfc822; nobody@example.org'],
	])('%s: only text/html/textAsHtml differ, and what n8n merged into text is in a binary', async (name, merged) => {
		const expected = await n8nResolved(fixture(name));
		const item = await ours(name, 'resolved');
		const bodyKeys = (json: IDataObject) => omit(json, ['text', 'html', 'textAsHtml']);

		expect(bodyKeys(withoutAttachmentInfo(item.json))).toEqual(bodyKeys(expected.json));
		expect(expected.json.text).toContain(merged);
		expect(item.json.text).not.toContain(merged);
		const keys = Object.keys(item.binary ?? {});
		expect(keys.some((key) => bytesOf(item, key).toString('utf8').includes(merged))).toBe(true);
	});
});

describe('simple format against n8n’s code path', () => {
	it.each(ALL_FIXTURES)('%s: top-level headers and metadata identical to n8n’s', async (name) => {
		const expected = n8nSimpleHeaders(fixture(name));
		const item = await ours(name, 'simple');
		const json = asStored(item.json);

		expect(omit(json, ['textHtml', 'textPlain', 'attributes', 'attachmentInfo'])).toEqual(expected);
		expect(json.attributes).toEqual({ uid: 1 });
	});

	it.each(ALL_FIXTURES)('%s: the parts n8n downloads (disposition attachment) are attachment_0..n-1', async (name) => {
		const parsed = await simpleParser(fixture(name));
		const n8nDownloads = parsed.attachments.filter(
			(attachment) => attachment.contentDisposition?.toLowerCase() === 'attachment',
		);
		const item = await ours(name, 'simple');

		n8nDownloads.forEach((attachment, index) => {
			expect(sha256(bytesOf(item, `attachment_${index}`))).toBe(sha256(attachment.content));
		});
	});
});
