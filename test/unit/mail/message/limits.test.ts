/**
 * Every parse limit ends in MessageContentError (the message's fault, emitted as an error item), never in a
 * retryable error, a hang or unbounded memory; a message just inside each limit still parses. Stream sources get the
 * same treatment, and a broken stream or a failed store is NOT reported as the message's fault.
 */
import { Readable } from 'node:stream';

import { isMessageContentError, MessageContentError } from '../../../../nodes/mail/message/errors';
import { MESSAGE_LIMITS } from '../../../../nodes/mail/message/limits';
import { messageToItem, type MessageToItemOptions } from '../../../../nodes/mail/message/toItem';
import {
	deepNesting,
	hugeBodyLine,
	hugeEncodedSubject,
	hugeHeaderBlock,
	hugeHeaderLine,
	manyParts,
	normalMessage,
	truncatedMultipart,
} from '../../../fixtures/hostileMail';
import { recordingSink } from './helpers';

const MiB = 1024 * 1024;

function options(overrides: Partial<MessageToItemOptions> = {}): MessageToItemOptions {
	return {
		format: 'simple',
		downloadAttachments: true,
		attributes: { uid: 1 },
		prepareBinaryData: recordingSink().sink,
		...overrides,
	};
}

async function contentFailure(source: Buffer | Readable, format: 'simple' | 'resolved' = 'simple'): Promise<MessageContentError> {
	const outcome = await messageToItem(source, options({ format })).then(
		() => undefined,
		(error: unknown) => error,
	);
	if (!isMessageContentError(outcome)) throw new Error(`expected a MessageContentError, got ${String(outcome)}`);
	return outcome;
}

function chunked(buffer: Buffer, size = 64 * 1024): Readable {
	const chunks: Buffer[] = [];
	for (let offset = 0; offset < buffer.length; offset += size) chunks.push(buffer.subarray(offset, offset + size));
	return Readable.from(chunks);
}

describe('parse limits', () => {
	it('MIME parts: 1,000 parse, 10,000 are refused as too many parts (buffer and stream, simple and resolved)', async () => {
		const item = await messageToItem(manyParts(MESSAGE_LIMITS.maxParts - 2), options());
		expect(item.json.textPlain).toBe('part 0');
		for (const format of ['simple', 'resolved'] as const) {
			const error = await contentFailure(manyParts(10_000), format);
			expect(error.problem).toBe('tooManyParts');
			expect(error.message).toBe('The message has more than 1000 MIME parts');
		}
		expect((await contentFailure(chunked(manyParts(10_000)))).problem).toBe('tooManyParts');
	});

	it('nesting: 50 levels parse, 51 and 500 are refused as nested too deep', async () => {
		const item = await messageToItem(deepNesting(MESSAGE_LIMITS.maxDepth), options());
		expect(item.json.textPlain).toBe('the bottom');
		for (const depth of [MESSAGE_LIMITS.maxDepth + 2, 500]) {
			const error = await contentFailure(deepNesting(depth));
			expect(error.problem).toBe('nestedTooDeep');
			expect(error.message).toMatch(/nested more than 50 levels/);
		}
	});

	it('header block: 100 KiB parses (a long Received/DKIM chain), 10 MB is refused as a header too large', async () => {
		const item = await messageToItem(hugeHeaderBlock(100 * 1024), options());
		expect(String(item.json.textPlain).trim()).toBe('body after a huge header block');
		const error = await contentFailure(chunked(hugeHeaderBlock(10 * MiB)));
		expect(error.problem).toBe('headerTooLarge');
		expect(error.message).toBe('A header block of the message is larger than 256 KiB');
	});

	it('line length: one 1 MB header line and a 1 MB encoded-word Subject (closed or never closed) are refused', async () => {
		expect((await contentFailure(hugeHeaderLine(MiB))).problem).toBe('headerTooLarge');
		expect((await contentFailure(hugeEncodedSubject(MiB, true))).problem).toBe('headerTooLarge');
		expect((await contentFailure(chunked(hugeEncodedSubject(MiB, false)))).problem).toBe('headerTooLarge');
		// An unclosed encoded word of ordinary size is kept as text, not an error.
		const small = await messageToItem(hugeEncodedSubject(200, false), options());
		expect(String(small.json.subject)).toMatch(/^=\?UTF-8\?B\?/);
	});

	it('body text: a 2 MB single-line body parses, a text part above 16 MiB is refused (resolved too)', async () => {
		const item = await messageToItem(hugeBodyLine(2 * MiB), options());
		expect(String(item.json.textPlain).trim().length).toBe(2 * MiB);
		for (const format of ['simple', 'resolved'] as const) {
			const error = await contentFailure(chunked(hugeBodyLine(17 * MiB)), format);
			expect(error.problem).toBe('bodyTextTooLarge');
			expect(error.message).toBe('A text body part of the message is larger than 16 MiB');
		}
	});

	it('a limit can be set lower (the same code path the defaults use)', async () => {
		const error = await messageToItem(manyParts(30), options()).then(
			() => undefined,
			(failure: unknown) => failure,
		);
		expect(error).toBeUndefined();
		await expect(
			import('../../../../nodes/mail/message/parseMessage').then(async ({ parseMessage }) =>
				await parseMessage(manyParts(30), { collectAttachments: false, computeDerivedText: false, store: recordingSink().sink, limits: { maxParts: 10 } }),
			),
		).rejects.toMatchObject({ problem: 'tooManyParts', message: 'The message has more than 10 MIME parts' });
	});

	it('a truncated multipart still gives an item with the text before the cut', async () => {
		const item = await messageToItem(truncatedMultipart(), options());
		expect(item.json.textPlain).toBe('the text before the cut');
	});

	it('a download that breaks is not the message’s fault, nor is a failed store', async () => {
		const broken = new Readable({ read() {} });
		broken.push(normalMessage('cut').subarray(0, 100));
		setTimeout(() => broken.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 5);
		const failure = await messageToItem(broken, options()).catch((error: unknown) => error);
		expect(isMessageContentError(failure)).toBe(false);
		expect(failure).toMatchObject({ code: 'ECONNRESET' });

		const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
		const storeFailure = await messageToItem(
			truncatedMultipart(),
			options({ prepareBinaryData: async () => await Promise.reject(full) }),
		).catch((error: unknown) => error);
		expect(storeFailure).toBe(full);
	});

	it('each hostile message is handled in bounded time and memory', async () => {
		const before = process.memoryUsage().rss;
		const started = Date.now();
		for (const source of [manyParts(10_000), deepNesting(500), hugeHeaderBlock(10 * MiB), hugeHeaderLine(MiB), hugeEncodedSubject(MiB, false)]) {
			await messageToItem(chunked(source), options()).catch((error: unknown) => {
				if (!isMessageContentError(error)) throw error;
			});
		}
		expect(Date.now() - started).toBeLessThan(20_000);
		expect(process.memoryUsage().rss - before).toBeLessThan(400 * MiB);
	});
});
