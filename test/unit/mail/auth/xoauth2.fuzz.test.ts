/**
 * Fuzz of the XOAUTH2 challenge decoder with what a hostile server (text) or a library (an already decoded object)
 * may hand it: it returns a challenge or undefined, never throws, takes bounded time, and what it returns is short
 * text without control characters (it ends up in error messages and logs). Seeded; `FUZZ_SEED=<n>` replays one case.
 */
import { decodeXOAuth2Challenge, describeXOAuth2Challenge } from '../../../../nodes/mail/auth/xoauth2';
import { seededRandom } from '../pop3/fuzzKit';

const CASES = 5000;
const CASE_TIME_LIMIT_MS = 50;

type Random = (below: number) => number;

const KEYS = ['status', 'schemes', 'scope', '__proto__', 'constructor', 'x'];

function randomText(random: Random): string {
	const length = random(4) === 0 ? random(2000) : random(40);
	return Array.from({ length }, () => String.fromCharCode(random(5) === 0 ? random(0x10000) : random(128))).join('');
}

function randomJson(random: Random, depth = 0): unknown {
	switch (random(depth > 3 ? 4 : 7)) {
		case 0:
			return randomText(random);
		case 1:
			return random(2) === 0 ? random(1_000_000) : (random(2) === 0 ? -1 : 1) * 10 ** random(400);
		case 2:
			return [null, true, false][random(3)];
		case 3:
			return '\r\n-ERR forged\r\n'.repeat(random(3));
		case 4:
			return Array.from({ length: random(4) }, () => randomJson(random, depth + 1));
		default: {
			const record: Record<string, unknown> = {};
			for (let index = random(5); index > 0; index--) record[KEYS[random(KEYS.length)]] = randomJson(random, depth + 1);
			return record;
		}
	}
}

/** Objects a caller could pass: plain, with throwing getters, Proxies (also revoked), arrays, functions. */
function hostileObject(random: Random): unknown {
	switch (random(6)) {
		case 0:
			return Object.defineProperty({}, KEYS[random(3)], {
				enumerable: true,
				get() {
					throw new Error('getter exploded');
				},
			});
		case 1: {
			const { proxy, revoke } = Proxy.revocable({}, {});
			revoke();
			return proxy;
		}
		case 2:
			return new Proxy(
				{},
				{
					get() {
						throw new TypeError('trap exploded');
					},
				},
			);
		case 3:
			return { status: { toString: () => 'x' }, scope: Symbol('s'), schemes: 12n };
		case 4:
			return Object.assign(() => undefined, { status: '401' });
		default:
			return randomJson(random);
	}
}

function randomChallenge(random: Random): unknown {
	switch (random(6)) {
		case 0:
			return randomText(random);
		case 1:
			return Buffer.from(JSON.stringify(randomJson(random)) ?? '', 'utf8').toString('base64');
		case 2: {
			// A valid challenge with random bytes flipped.
			const bytes = Buffer.from('{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}');
			for (let flips = random(4); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
			return bytes.toString('base64');
		}
		case 3:
			// Deep nesting and huge inputs.
			return Buffer.from(`${'['.repeat(random(100_000))}1`, 'utf8').toString('base64');
		case 4:
			return `  ${Buffer.from(JSON.stringify({ status: randomText(random), scope: 'x'.repeat(random(70_000)) })).toString('base64')} `;
		default:
			return hostileObject(random);
	}
}

describe('decodeXOAuth2Challenge fuzz', () => {
	it(`${CASES} random challenges (text and objects): never throws, bounded time, short clean fields`, () => {
		const seeds = process.env.FUZZ_SEED ? [Number(process.env.FUZZ_SEED)] : Array.from({ length: CASES }, (_value, index) => 0xc0ffee + index);
		const problems: string[] = [];
		let decodedCount = 0;
		const started = Date.now();
		for (const seed of seeds) {
			const random = seededRandom(seed);
			const challenge = randomChallenge(random);
			const caseStarted = performance.now();
			let decoded: ReturnType<typeof decodeXOAuth2Challenge>;
			try {
				decoded = decodeXOAuth2Challenge(challenge);
				describeXOAuth2Challenge(decoded);
			} catch (error) {
				problems.push(`seed ${seed}: threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
				continue;
			}
			const took = performance.now() - caseStarted;
			if (took > CASE_TIME_LIMIT_MS) problems.push(`seed ${seed}: took ${Math.round(took)} ms`);
			if (decoded !== undefined) {
				decodedCount++;
				for (const [key, value] of Object.entries(decoded)) {
					if (!['status', 'schemes', 'scope'].includes(key)) problems.push(`seed ${seed}: unexpected field ${key}`);
					if (typeof value !== 'string') problems.push(`seed ${seed}: ${key} is not text`);
					else if (value.length > 257) problems.push(`seed ${seed}: ${key} is ${value.length} characters`);
					else if (/[\x00-\x1f\x7f]/.test(value)) problems.push(`seed ${seed}: ${key} holds control characters`);
				}
			}
			if (problems.length >= 5) break;
		}
		expect(problems).toEqual([]);
		// The cases are not all rejected at the door: many decode to a challenge.
		if (!process.env.FUZZ_SEED) expect(decodedCount).toBeGreaterThan(CASES / 10);
		expect(Date.now() - started).toBeLessThan(5000);
	});

	it('a getter that throws, a revoked Proxy or a 1 MB challenge give undefined (the old decoder threw or parsed it all)', () => {
		const throwing = Object.defineProperty({}, 'status', {
			enumerable: true,
			get() {
				throw new Error('getter exploded');
			},
		});
		const { proxy, revoke } = Proxy.revocable({}, {});
		revoke();
		expect(decodeXOAuth2Challenge(throwing)).toBeUndefined();
		expect(decodeXOAuth2Challenge(proxy)).toBeUndefined();
		const huge = Buffer.from(JSON.stringify({ status: '401', scope: 'x'.repeat(1024 * 1024) })).toString('base64');
		expect(decodeXOAuth2Challenge(huge)).toBeUndefined();
	});

	it('control characters and over-long fields from the server are cleaned (no forged log lines)', () => {
		const forged = Buffer.from(JSON.stringify({ status: '401\r\nS: +OK forged', scope: 's'.repeat(1000) })).toString('base64');
		const decoded = decodeXOAuth2Challenge(forged);
		expect(decoded?.status).toBe('401  S: +OK forged');
		expect(decoded?.scope).toHaveLength(257);
		expect(decoded?.scope?.endsWith('…')).toBe(true);
	});
});
