/**
 * Differential test of the fast `simple` path (nodes/mail/message/fastSimple.ts) against mailparser's path: every
 * fixture message of the repository and a generated corpus (test/fixtures/mailCorpus.ts) go through both, with
 * attachments downloaded or not, a prefix and a size limit, from a Buffer and from a stream in odd chunks. Where the
 * fast path accepts a message the two items must be identical (json and binary, and the same binaries stored in the
 * same order); where it declines, the item comes from mailparser and must still be the one mailparser gives.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { FAST_SIMPLE_LIMITS, fastSimpleParts } from '../../../../nodes/mail/message/fastSimple';
import { MESSAGE_LIMITS } from '../../../../nodes/mail/message/limits';
import { messageToItem, useFastSimplePath, type MessageToItemOptions } from '../../../../nodes/mail/message/toItem';
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
import { REAL_WORLD_DEFECTS, random, typicalCorpus, variedCorpus, type CorpusMessage } from '../../../fixtures/mailCorpus';
import { FIXTURES, fixture, recordingSink, type StoredBinary } from './helpers';

type ItemOptions = Pick<MessageToItemOptions, 'downloadAttachments' | 'attachmentPrefix' | 'maxAttachmentBytes'>;

const OPTION_SETS: Array<[string, ItemOptions]> = [
	['attachments', { downloadAttachments: true }],
	['no attachments', { downloadAttachments: false }],
	['prefix and size limit', { downloadAttachments: true, attachmentPrefix: 'file_', maxAttachmentBytes: 1000 }],
];

interface Outcome {
	item?: unknown;
	error?: { name: string; message: string; problem?: string };
	stored: StoredBinary[];
}

async function convert(source: () => Buffer | Readable, options: ItemOptions, fast: boolean): Promise<Outcome> {
	const { sink, stored } = recordingSink();
	useFastSimplePath(fast);
	try {
		const item = await messageToItem(source(), { format: 'simple', attributes: { uid: 7 }, prepareBinaryData: sink, ...options });
		return { item, stored };
	} catch (failure) {
		const error = failure as Error & { problem?: string };
		return { error: { name: error.name, message: error.message, problem: error.problem }, stored };
	} finally {
		useFastSimplePath(true);
	}
}

async function accepts(message: Buffer, options: ItemOptions): Promise<boolean> {
	const parts = await fastSimpleParts(message, {
		collectAttachments: options.downloadAttachments,
		maxAttachmentBytes: options.maxAttachmentBytes,
		store: recordingSink().sink,
	});
	return parts !== undefined;
}

/** Both paths over one message and option set; returns whether the fast path accepted it. */
async function compare(message: CorpusMessage, options: ItemOptions): Promise<boolean> {
	const accepted = await accepts(message.source, options);
	const slow = await convert(() => message.source, options, false);
	const fast = await convert(() => message.source, options, true);
	if (accepted) expect({ name: message.name, error: slow.error }).toEqual({ name: message.name, error: undefined });
	expect({ name: message.name, ...fast }).toStrictEqual({ name: message.name, ...slow });
	return accepted;
}

/** The same from a stream in uneven chunks (1 byte to 4 KiB), against mailparser reading the same chunks. */
async function compareStreamed(message: CorpusMessage, options: ItemOptions, seed: number): Promise<void> {
	const chunks: Buffer[] = [];
	const r = random(seed);
	for (let offset = 0; offset < message.source.length; ) {
		const size = 1 + r.int(r.chance(0.2) ? 16 : 4096);
		chunks.push(message.source.subarray(offset, offset + size));
		offset += size;
	}
	const slow = await convert(() => Readable.from(chunks), options, false);
	const fast = await convert(() => Readable.from(chunks), options, true);
	expect({ name: message.name, ...fast }).toStrictEqual({ name: message.name, ...slow });
}

function fixtureMessages(): CorpusMessage[] {
	return readdirSync(FIXTURES)
		.filter((name) => name.endsWith('.eml'))
		.sort()
		.map((name) => ({ name, source: fixture(name) }));
}

function hostileMessages(): CorpusMessage[] {
	const KiB = 1024;
	return [
		{ name: 'normal', source: normalMessage('Normal') },
		{ name: 'parts-20', source: manyParts(20) },
		{ name: 'parts-over-fast-cap', source: manyParts(FAST_SIMPLE_LIMITS.maxParts + 5) },
		{ name: 'parts-over-limit', source: manyParts(MESSAGE_LIMITS.maxParts + 5) },
		{ name: 'depth-5', source: deepNesting(5) },
		{ name: 'depth-over-fast-cap', source: deepNesting(FAST_SIMPLE_LIMITS.maxDepth + 2) },
		{ name: 'depth-over-limit', source: deepNesting(MESSAGE_LIMITS.maxDepth + 2) },
		{ name: 'header-block-40k', source: hugeHeaderBlock(40 * KiB) },
		{ name: 'header-block-100k', source: hugeHeaderBlock(100 * KiB) },
		{ name: 'header-block-over-limit', source: hugeHeaderBlock(300 * KiB) },
		{ name: 'header-line-20k', source: hugeHeaderLine(20 * KiB) },
		{ name: 'header-line-over-limit', source: hugeHeaderLine(300 * KiB) },
		{ name: 'encoded-subject-closed', source: hugeEncodedSubject(2000, true) },
		{ name: 'encoded-subject-unclosed', source: hugeEncodedSubject(2000, false) },
		{ name: 'body-line-20k', source: hugeBodyLine(20 * KiB) },
		{ name: 'body-line-100k', source: hugeBodyLine(100 * KiB) },
		{ name: 'truncated-multipart', source: truncatedMultipart() },
	];
}

describe('fast simple path: the same item as mailparser, or declined', () => {
	let typical: CorpusMessage[];
	const varied = variedCorpus();
	const tally = new Map<string, { messages: number; accepted: number }>();
	const count = (corpus: string, accepted: boolean) => {
		const entry = tally.get(corpus) ?? { messages: 0, accepted: 0 };
		entry.messages++;
		if (accepted) entry.accepted++;
		tally.set(corpus, entry);
	};

	beforeAll(async () => {
		typical = await typicalCorpus();
	});

	afterAll(() => {
		// the corpus sizes and how much of each the fast path took, for the record
		const lines = [...tally].map(([corpus, { messages, accepted }]) => `${corpus}: ${accepted}/${messages} accepted`);
		process.stdout.write(`fast simple path, per corpus and option set: ${lines.join('; ')}\n`);
	});

	it.each(OPTION_SETS)('every fixture message (%s)', async (label, options) => {
		for (const message of [...fixtureMessages(), ...REAL_WORLD_DEFECTS]) count(`fixtures/${label}`, await compare(message, options));
	});

	it.each(OPTION_SETS)('hostile messages: over a fast cap or a parse limit, always mailparser (%s)', async (label, options) => {
		for (const message of hostileMessages()) {
			const accepted = await compare(message, options);
			count(`hostile/${label}`, accepted);
			if (/over|truncated|100k/.test(message.name)) expect({ name: message.name, accepted }).toEqual({ name: message.name, accepted: false });
		}
	});

	it.each(OPTION_SETS)('typical mail is all taken by the fast path (%s)', async (label, options) => {
		for (const message of typical) {
			const accepted = await compare(message, options);
			count(`typical/${label}`, accepted);
			expect({ name: message.name, accepted }).toEqual({ name: message.name, accepted: true });
		}
	});

	it.each(OPTION_SETS)('a varied generated corpus (%s)', async (label, options) => {
		let accepted = 0;
		for (const message of varied) {
			const taken = await compare(message, options);
			count(`varied/${label}`, taken);
			if (taken) accepted++;
		}
		// the corpus is built to make the fast path decline often; it must still take a good share of it
		expect(accepted).toBeGreaterThan(varied.length / 4);
	});

	it('stream sources in uneven chunks give the same item as mailparser reading the same chunks', async () => {
		const messages = [...fixtureMessages(), ...REAL_WORLD_DEFECTS, ...typical.slice(0, 30), ...varied.slice(0, 120)];
		for (const [index, message] of messages.entries()) await compareStreamed(message, OPTION_SETS[index % OPTION_SETS.length][1], index);
	});

	it('a stream larger than the fast path takes is parsed from its head and the unread rest', async () => {
		const big = { name: 'large', source: hugeBodyLine(FAST_SIMPLE_LIMITS.maxMessageBytes + 1000) };
		await compareStreamed(big, OPTION_SETS[0][1], 99);
		const manyLines = Buffer.concat([
			normalMessage('Many lines').subarray(0, -2),
			Buffer.from('\r\n' + 'a line of text\r\n'.repeat(60_000)),
		]);
		await compareStreamed({ name: 'many-lines', source: manyLines }, OPTION_SETS[1][1], 100);
	});
});

describe('fast simple path: the caps stay below the parse limits', () => {
	it('so a message near a limit always meets mailparser and its MessageContentError', () => {
		expect(FAST_SIMPLE_LIMITS.maxParts).toBeLessThan(MESSAGE_LIMITS.maxParts);
		expect(FAST_SIMPLE_LIMITS.maxDepth).toBeLessThan(MESSAGE_LIMITS.maxDepth);
		expect(FAST_SIMPLE_LIMITS.maxHeaderCost).toBeLessThan(MESSAGE_LIMITS.maxHeaderBytes);
		expect(FAST_SIMPLE_LIMITS.maxMessageBytes).toBeLessThan(MESSAGE_LIMITS.maxBodyTextBytes);
	});
});

describe('fast simple path: corpus sanity', () => {
	it('the fixture directory is where the helpers say', () => {
		expect(fixtureMessages().length).toBeGreaterThanOrEqual(13);
		expect(join(FIXTURES)).toContain('fixtures');
	});
});
