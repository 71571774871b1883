/**
 * Fuzz of the POP3 response reader: random replies (built from POP3-ish tokens and random bytes), cut at random
 * points, read as random sequences of status lines, listings and bodies. Whatever arrives, every request settles
 * (no hang, checked with a time bound per case) and the only errors are the package's typed POP3 errors.
 * Seeded: a failure names its seed, and `FUZZ_SEED=<n>` replays that one case.
 */
import type { Readable } from 'node:stream';

import { Pop3ConnectionError, Pop3Error } from '../../../../nodes/mail/pop3/errors';
import { Pop3ResponseReader } from '../../../../nodes/mail/pop3/responseReader';
import { randomSplit, seededRandom } from './fuzzKit';

const CASES = 3000;
const CASE_TIME_LIMIT_MS = 1000;

const TOKENS = ['+OK', '+OK ', '-ERR ', '-ERR [SYS/TEMP] ', '+ ', '\r\n', '\r\n', '\r\n', '.', '..', '\r\n.\r\n', '.\r\n', '\r', '\n', ' ', '1 200', 'uid-1'];

function randomWire(random: (below: number) => number): Buffer {
	const parts: Buffer[] = [];
	const count = random(60);
	for (let index = 0; index < count; index++) {
		const choice = random(10);
		if (choice < 6) parts.push(Buffer.from(TOKENS[random(TOKENS.length)], 'latin1'));
		else if (choice < 9) parts.push(Buffer.from(Array.from({ length: random(12) }, () => random(256))));
		else parts.push(Buffer.alloc(random(300), random(2) === 0 ? 0x78 : 0x2e));
	}
	return Buffer.concat(parts);
}

async function drain(stream: Readable, random: (below: number) => number): Promise<void> {
	const stopAfter = random(3) === 0 ? random(4) : Number.POSITIVE_INFINITY;
	let chunks = 0;
	for await (const chunk of stream) {
		chunks += (chunk as Buffer).length > 0 ? 1 : 0;
		if (chunks >= stopAfter) {
			// The consumer gives up early: the reader must skip the rest and still settle.
			stream.destroy();
			return;
		}
	}
}

const settledTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function runCase(seed: number): Promise<{ errors: unknown[]; violations: string[]; finished: boolean }> {
	const random = seededRandom(seed);
	const reader = new Pop3ResponseReader({ maxLineLength: 1 + random(120) });
	const pieces = randomSplit(randomWire(random), random);
	const errors: unknown[] = [];
	const violations: string[] = [];
	const driver = (async () => {
		const requests = 1 + random(6);
		for (let request = 0; request < requests; request++) {
			try {
				const kind = random(3);
				if (kind === 0) {
					await reader.readLine();
				} else if (kind === 1) {
					const limits = { maxLines: 1 + random(20), maxBytes: 1 + random(400), name: 'LIST' };
					const lines = await reader.readListing(limits);
					// The bounds hold for what is returned (line endings count, so the content is below maxBytes).
					const bytes = lines.reduce((sum, line) => sum + line.length, 0);
					if (lines.length > limits.maxLines || bytes > limits.maxBytes) {
						violations.push(`${lines.length} lines / ${bytes} bytes over ${limits.maxLines} / ${limits.maxBytes}`);
					}
				} else {
					const body = reader.readBody();
					await drain(body.stream, random);
					await body.wireDone;
				}
			} catch (error) {
				errors.push(error);
				// As the client does: after a failure the session is closed, nothing more is asked.
				return;
			}
		}
	})();
	for (const piece of pieces) {
		try {
			reader.feed(piece);
		} catch (error) {
			errors.push(error);
		}
		if (random(3) === 0) await settledTurn();
	}
	reader.fail(new Pop3ConnectionError('The POP3 server closed the connection'), { immediate: random(2) === 0 });
	let timer: NodeJS.Timeout | undefined;
	const finished = await Promise.race([
		driver.then(() => true),
		new Promise<boolean>((resolve) => {
			timer = setTimeout(() => resolve(false), CASE_TIME_LIMIT_MS);
		}),
	]);
	clearTimeout(timer);
	return { errors, violations, finished };
}

describe('Pop3ResponseReader fuzz', () => {
	it(`${CASES} random replies, split at random points: only typed POP3 errors, never a hang`, async () => {
		const only = process.env.FUZZ_SEED ? [Number(process.env.FUZZ_SEED)] : Array.from({ length: CASES }, (_value, index) => 0x5eed + index);
		const started = Date.now();
		const problems: string[] = [];
		const codes = new Set<string>();
		for (const seed of only) {
			const { errors, violations, finished } = await runCase(seed);
			if (!finished) problems.push(`seed ${seed}: a request never settled`);
			for (const violation of violations) problems.push(`seed ${seed}: listing ${violation}`);
			for (const error of errors) codes.add((error as { code?: string }).code ?? 'untyped');
			for (const error of errors) {
				if (!(error instanceof Pop3Error)) problems.push(`seed ${seed}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
			}
			if (problems.length >= 5) break;
		}
		expect(problems).toEqual([]);
		// The cases reach every way a reply can fail.
		if (!process.env.FUZZ_SEED) expect([...codes].sort()).toEqual(['POP3_CONNECTION', 'POP3_PROTOCOL', 'POP3_RESPONSE_TOO_LARGE']);
		expect(Date.now() - started).toBeLessThan(5000);
	}, 20_000);
});
