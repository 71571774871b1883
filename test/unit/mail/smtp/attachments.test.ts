/**
 * Attachments come only from the item's binary properties: names are checked against the item, paths and URLs are
 * refused with an explanation, the 25 MB limit is enforced before loading when n8n knows the sizes.
 */
import type { IBinaryData, INodeExecutionData } from 'n8n-workflow';

import { MAX_ATTACHMENT_BYTES, collectAttachments, parsePropertyList, type BinaryAccess } from '../../../../nodes/mail/smtp/attachments';
import { MessageInputError } from '../../../../nodes/mail/smtp/validate';

function binary(content: Buffer, fileName: string | undefined, mimeType: string, bytes: number | undefined = content.length): IBinaryData {
	return {
		data: content.toString('base64'),
		mimeType,
		...(fileName ? { fileName, fileExtension: fileName.split('.').pop() } : {}),
		...(bytes === undefined ? {} : { bytes }),
	};
}

function access(item: INodeExecutionData, reads: string[] = []): BinaryAccess {
	return {
		item,
		assertBinaryData: (property) => {
			const data = item.binary?.[property];
			if (!data) throw new Error(`no binary ${property}`);
			return data;
		},
		getBinaryDataBuffer: async (property) => {
			reads.push(property);
			return Buffer.from(item.binary?.[property]?.data ?? '', 'base64');
		},
	};
}

async function failure(run: () => Promise<unknown>): Promise<MessageInputError> {
	try {
		await run();
	} catch (error) {
		if (error instanceof MessageInputError) return error;
		throw error;
	}
	throw new Error('expected a MessageInputError');
}

describe('parsePropertyList', () => {
	it('splits comma-separated names like n8n (trimmed, empty entries dropped) and takes arrays', () => {
		expect(parsePropertyList(' data, image_1 ,,report ')).toEqual(['data', 'image_1', 'report']);
		expect(parsePropertyList(['a', ' b '])).toEqual(['a', 'b']);
		expect(parsePropertyList('')).toEqual([]);
		expect(parsePropertyList(undefined)).toEqual([]);
	});
});

describe('collectAttachments', () => {
	const pdf = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
	const png = Buffer.from('89504e470d0a1a0a', 'hex');

	it('reads inline and file attachments byte for byte, with name and MIME type from the binary data', async () => {
		const item: INodeExecutionData = {
			json: {},
			binary: { logo: binary(png, 'logo.png', 'image/png'), report: binary(pdf, 'Q1 report.pdf', 'application/pdf') },
		};
		const attachments = await collectAttachments({ inline: 'logo', files: 'report' }, access(item));
		expect(attachments).toEqual([
			{ property: 'logo', inline: true, content: png, fileName: 'logo.png', mimeType: 'image/png' },
			{ property: 'report', inline: false, content: pdf, fileName: 'Q1 report.pdf', mimeType: 'application/pdf' },
		]);
	});

	it('names an unnamed binary after its property (and extension), and defaults the MIME type', async () => {
		const item: INodeExecutionData = { json: {}, binary: { data: { data: pdf.toString('base64'), mimeType: '', fileExtension: 'pdf' } } };
		const [attachment] = await collectAttachments({ inline: '', files: 'data' }, access(item));
		expect([attachment.fileName, attachment.mimeType]).toEqual(['data.pdf', 'application/octet-stream']);
	});

	it('names the missing property and the ones the item has', async () => {
		const item: INodeExecutionData = { json: {}, binary: { data: binary(pdf, 'a.pdf', 'application/pdf') } };
		const error = await failure(() => collectAttachments({ inline: 'invoice', files: '' }, access(item)));
		expect(error.field).toBe('Attachments');
		expect(error.message).toBe('Attachments names the binary property "invoice", which the item does not have. The item has: data.');
		const none = await failure(() => collectAttachments({ inline: '', files: 'data' }, access({ json: {} })));
		expect(none.message).toMatch(/^File Attachments names the binary property "data".*The item has no binary data\.$/);
	});

	it.each(['/etc/passwd', '../secrets.txt', 'C:\\Windows\\win.ini', 'file:///etc/hosts', 'https://example.com/a.pdf', '~/notes'])(
		'refuses %j: never a file path or URL, and reads nothing',
		async (location) => {
			const reads: string[] = [];
			const item: INodeExecutionData = { json: {}, binary: { data: binary(pdf, 'a.pdf', 'application/pdf') } };
			const error = await failure(() => collectAttachments({ inline: location, files: '' }, access(item, reads)));
			expect(error.message).toContain(`names "${location}", which is not a binary property of the item`);
			expect(error.message).toMatch(/never from files on the n8n server or from URLs/);
			expect(reads).toEqual([]);
		},
	);

	it('refuses more than 25 MB in total before loading anything when the sizes are known', async () => {
		const reads: string[] = [];
		const small = Buffer.from('x');
		const item: INodeExecutionData = {
			json: {},
			binary: {
				big: binary(small, 'big.bin', 'application/octet-stream', 20 * 1024 * 1024),
				more: binary(small, 'more.bin', 'application/octet-stream', 6 * 1024 * 1024),
			},
		};
		const error = await failure(() => collectAttachments({ inline: 'big', files: 'more' }, access(item, reads)));
		expect(error.message).toBe(
			"Attachments add up to more than 25.0 MB (Gmail's limit per message): big 20.0 MB, more 6.0 MB, at least 26.0 MB in total. Share large files as links instead.",
		);
		expect(reads).toEqual([]);
	});

	it('measures the content when n8n did not record the size, and stops at the limit', async () => {
		const item: INodeExecutionData = {
			json: {},
			binary: { a: binary(Buffer.alloc(600), 'a.bin', 'application/octet-stream', undefined), b: binary(Buffer.alloc(500), 'b.bin', 'application/octet-stream', undefined) },
		};
		const error = await failure(() => collectAttachments({ inline: 'a, b', files: '', maxTotalBytes: 1000 }, access(item)));
		expect(error.message).toMatch(/more than 1000 B .*: a 600 B, b 500 B/);
		await expect(collectAttachments({ inline: 'a, b', files: '', maxTotalBytes: 1100 }, access(item))).resolves.toHaveLength(2);
	});

	it('allows exactly 25 MB', async () => {
		const content = Buffer.alloc(1);
		const item: INodeExecutionData = { json: {}, binary: { data: binary(content, 'a.bin', 'application/octet-stream', MAX_ATTACHMENT_BYTES) } };
		// The content is 1 byte; n8n's recorded size decides the early check, the real size the late one.
		await expect(collectAttachments({ inline: 'data', files: '' }, access(item))).resolves.toHaveLength(1);
	});
});
