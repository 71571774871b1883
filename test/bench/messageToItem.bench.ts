/**
 * Micro-benchmark of item building alone (not a test: it prints numbers, asserts nothing): messageToItem over
 * generated typical messages (test/fixtures/mailCorpus.ts), no mail server, no node around it.
 *
 *   npx tsx test/bench/messageToItem.bench.ts [--count 2000] [--rounds 6] [--format simple] [--path both|fast|mailparser] [--stream]
 *
 * `--path` picks the item path for `simple` (the fast path, mailparser's, or both one after the other); `--stream`
 * hands each message over as a Readable in 16 KiB chunks (as a POP RETR does) instead of a Buffer. The last rounds
 * are the warm ones. Profile with `node --cpu-prof --import tsx test/bench/messageToItem.bench.ts ...`.
 */
import { Readable } from 'node:stream';

import { messageToItem, useFastSimplePath, type MessageFormat } from '../../nodes/mail/message/toItem';
import { typicalCorpus } from '../fixtures/mailCorpus';

function option(name: string, fallback: string): string {
	const index = process.argv.indexOf(name);
	return index >= 0 ? process.argv[index + 1] : fallback;
}

function chunks(source: Buffer, size = 16 * 1024): Readable {
	const pieces: Buffer[] = [];
	for (let offset = 0; offset < source.length; offset += size) pieces.push(source.subarray(offset, offset + size));
	return Readable.from(pieces);
}

async function main(): Promise<void> {
	const count = Number(option('--count', '2000'));
	const rounds = Number(option('--rounds', '6'));
	const format = option('--format', 'simple') as MessageFormat;
	const path = option('--path', 'both');
	const stream = process.argv.includes('--stream');
	const messages = (await typicalCorpus(count)).map(({ source }) => source);
	const bytes = messages.reduce((sum, message) => sum + message.length, 0);
	console.log(`${messages.length} typical messages, ${Math.round(bytes / messages.length)} bytes on average, format ${format}, ${stream ? 'stream' : 'Buffer'} sources, Node ${process.version}`);
	const sink = async (content: Buffer, fileName: string, mimeType: string) => ({
		data: content.toString('base64'),
		mimeType,
		fileName,
		fileSize: `${content.length} B`,
	});
	for (const fast of path === 'both' ? [false, true] : [path === 'fast']) {
		useFastSimplePath(fast);
		for (let round = 1; round <= rounds; round++) {
			const cpu = process.cpuUsage();
			const started = process.hrtime.bigint();
			for (const message of messages) {
				await messageToItem(stream ? chunks(message) : message, {
					format,
					downloadAttachments: true,
					attributes: { uid: 1 },
					prepareBinaryData: sink,
				});
			}
			const seconds = Number(process.hrtime.bigint() - started) / 1e9;
			const used = process.cpuUsage(cpu);
			console.log(
				`  ${format === 'simple' ? (fast ? 'fast path ' : 'mailparser') : format.padEnd(10)} round ${round}: ` +
					`${((seconds * 1e6) / messages.length).toFixed(1).padStart(6)} µs/msg wall, ` +
					`${((used.user + used.system) / messages.length).toFixed(1).padStart(6)} µs/msg CPU, ${Math.round(messages.length / seconds)} msg/s`,
			);
		}
	}
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
