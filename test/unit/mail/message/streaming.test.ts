/**
 * Large messages arrive as streams (an IMAP download, a POP RETR): they are parsed as they come in,
 * attachments above maxAttachmentBytes are drained, and a failure anywhere ends in a rejection.
 */
import { Readable } from 'node:stream';

import { messageToItem, type MessageToItemOptions } from '../../../../nodes/mail/message/toItem';
import { CONTENT, binarySummary, expectedBinary, fixture, recordingSink, sha256 } from './helpers';

const MB = 1024 * 1024;

/** Deterministic, incompressible-looking bytes (a byte pattern base64 cannot shorten). */
function pattern(size: number, seed: number): Buffer {
	const bytes = Buffer.alloc(size);
	let state = seed;
	for (let i = 0; i < size; i++) {
		state = (state * 1103515245 + 12345) >>> 0;
		bytes[i] = state >>> 24;
	}
	return bytes;
}

function base64Lines(content: Buffer): string {
	return (content.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

function messageWithAttachments(parts: Array<{ name: string; content: Buffer }>): Buffer {
	const lines = [
		'From: big@example.com',
		'To: bob@example.com',
		'Subject: Large',
		'Date: Mon, 29 Jan 2024 10:00:00 +0000',
		'MIME-Version: 1.0',
		'Content-Type: multipart/mixed; boundary="big"',
		'',
		'--big',
		'Content-Type: text/plain',
		'',
		'See attachments.',
	];
	for (const { name, content } of parts) {
		lines.push(
			'--big',
			'Content-Type: application/octet-stream',
			`Content-Disposition: attachment; filename="${name}"`,
			'Content-Transfer-Encoding: base64',
			'',
			base64Lines(content),
		);
	}
	lines.push('--big--', '');
	return Buffer.from(lines.join('\r\n'));
}

/** A stream that hands out `source` in small chunks, only when asked, and counts what it handed out. */
function meteredStream(source: Buffer, chunkSize = 16 * 1024) {
	const meter = { delivered: 0 };
	let offset = 0;
	const stream = new Readable({
		read() {
			if (offset >= source.length) {
				this.push(null);
				return;
			}
			const chunk = source.subarray(offset, offset + chunkSize);
			offset += chunk.length;
			meter.delivered = offset;
			this.push(chunk);
		},
	});
	return { stream, meter };
}

function options(overrides: Partial<MessageToItemOptions>): MessageToItemOptions {
	return {
		format: 'simple',
		downloadAttachments: true,
		attributes: { uid: 9 },
		prepareBinaryData: recordingSink().sink,
		...overrides,
	};
}

describe('stream sources', () => {
	const small = pattern(40 * 1024, 1);
	const large = pattern(6 * MB, 2);
	const tail = pattern(10 * 1024, 3);
	const source = messageWithAttachments([
		{ name: 'small.bin', content: small },
		{ name: 'large.bin', content: large },
		{ name: 'tail.bin', content: tail },
	]);

	it('parses while the message is still arriving: the first attachment is stored long before the end', async () => {
		const { stream, meter } = meteredStream(source);
		const deliveredWhenStored: number[] = [];
		const { sink } = recordingSink();

		await messageToItem(
			stream,
			options({
				prepareBinaryData: async (content, fileName, mimeType) => {
					deliveredWhenStored.push(meter.delivered);
					return await sink(content, fileName, mimeType);
				},
			}),
		);

		expect(deliveredWhenStored).toHaveLength(3);
		expect(deliveredWhenStored[0]).toBeLessThan(source.length / 4);
		expect(deliveredWhenStored[2]).toBe(source.length);
	});

	it('drains an attachment above maxAttachmentBytes without storing it, and goes on with the rest', async () => {
		const { stream } = meteredStream(source);
		const { sink, stored } = recordingSink();

		const item = await messageToItem(stream, options({ prepareBinaryData: sink, maxAttachmentBytes: 1 * MB }));

		expect(stored.map(({ fileName }) => fileName)).toEqual(['small.bin', 'tail.bin']);
		expect(binarySummary(item)).toEqual({
			attachment_0: expectedBinary('small.bin', 'application/octet-stream', small),
			attachment_1: expectedBinary('tail.bin', 'application/octet-stream', tail),
		});
		expect(item.json.attachmentInfo).toEqual([
			{
				binaryPropertyName: 'attachment_0',
				fileName: 'small.bin',
				mimeType: 'application/octet-stream',
				size: small.length,
				partId: '2',
				disposition: 'attachment',
			},
			{
				fileName: 'large.bin',
				mimeType: 'application/octet-stream',
				size: large.length,
				partId: '3',
				disposition: 'attachment',
				skipped: 'tooLarge',
			},
			{
				binaryPropertyName: 'attachment_1',
				fileName: 'tail.bin',
				mimeType: 'application/octet-stream',
				size: tail.length,
				partId: '4',
				disposition: 'attachment',
			},
		]);
	});

	it('keeps a large attachment byte-exact when it is within the limit', async () => {
		const { stream } = meteredStream(source, 64 * 1024 + 7);
		const { sink, stored } = recordingSink();

		await messageToItem(stream, options({ format: 'resolved', prepareBinaryData: sink }));

		expect(stored.map(({ content }) => sha256(content))).toEqual([sha256(small), sha256(large), sha256(tail)]);
	});

	it.each(['simple', 'resolved'] as const)('%s: a stream gives the same item as a Buffer', async (format) => {
		const buffer = fixture('inline-cid-image.eml');
		const chunks = Array.from({ length: Math.ceil(buffer.length / 7) }, (_, i) => buffer.subarray(i * 7, i * 7 + 7));

		const fromStream = await messageToItem(Readable.from(chunks), options({ format }));
		const fromBuffer = await messageToItem(buffer, options({ format }));

		expect(fromStream).toEqual(fromBuffer);
		expect(binarySummary(fromStream).attachment_0).toBeDefined();
	});
});

describe('failures are reported, never swallowed', () => {
	it('rejects with the source’s error when the stream breaks mid-message, and destroys the source', async () => {
		const broken = new Readable({ read() {} });
		const source = fixture('plain-html-attachment.eml');
		broken.push(source.subarray(0, 900));
		setTimeout(() => broken.destroy(new Error('connection reset')), 10);

		await expect(messageToItem(broken, options({}))).rejects.toThrow('connection reset');
		expect(broken.destroyed).toBe(true);
	});

	it('rejects when storing an attachment fails, and destroys the source', async () => {
		const { stream } = meteredStream(fixture('plain-html-attachment.eml'), 100);

		await expect(
			messageToItem(
				stream,
				options({
					prepareBinaryData: async () => {
						throw new Error('binary store full');
					},
				}),
			),
		).rejects.toThrow('binary store full');
		expect(stream.destroyed).toBe(true);
	});

	it('a message with more MIME parts than mailparser allows is an error, not a partial item', async () => {
		const parts = Array.from({ length: 1001 }, (_, i) => ({ name: `p${i}.bin`, content: Buffer.from([i & 0xff]) }));

		await expect(messageToItem(messageWithAttachments(parts), options({}))).rejects.toThrow('The message has more than 1000 MIME parts');
	});

	it('raw format rejects with the source’s error too', async () => {
		const broken = new Readable({ read() {} });
		setTimeout(() => broken.destroy(new Error('socket closed')), 10);

		await expect(messageToItem(broken, options({ format: 'raw' }))).rejects.toThrow('socket closed');
	});
});

describe('without attachments requested', () => {
	it('still reads every part to the end (the parser would stall otherwise) and stores nothing', async () => {
		const { stream, meter } = meteredStream(messageWithAttachments([{ name: 'a.bin', content: CONTENT.blob }]));
		const { sink, stored } = recordingSink();

		const item = await messageToItem(stream, options({ downloadAttachments: false, prepareBinaryData: sink }));

		expect(stored).toEqual([]);
		expect(item.binary).toBeUndefined();
		expect(item.json.textPlain).toBe('See attachments.');
		expect(stream.readableEnded).toBe(true);
		expect(meter.delivered).toBeGreaterThan(0);
	});
});
