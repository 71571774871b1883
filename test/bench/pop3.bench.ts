/**
 * Benchmark of the Gmail POP node on the local mail stack (not a test: it prints numbers, asserts nothing).
 *
 *   npx tsx test/bench/pop3.bench.ts [--count 1000] [--attachment-every 10] [--attachment-kb 64] [--rounds 2] [--warmup 200]
 *     [--item-path fast|mailparser|both]
 *
 * One mailbox is filled with `count` messages (every Nth with a binary attachment), then read side by side:
 *   raw   — a bare TLS socket: AUTH XOAUTH2, then RETR 1..N one after another, each read to its terminator and
 *           thrown away (no parsing, no dot-unstuffing): the floor for POP3 over TLS on this machine, and the
 *           yardstick of every ratio;
 *   raw-pipelined — the same reader with 16 RETRs in flight (Dovecot advertises PIPELINING, as the node now uses;
 *           Gmail does not): what pipelining alone gains;
 *   node  — the node's real execute() (Get Many, Return All, format simple with attachments as binary data) in the
 *           n8n-like context of test/integration/pop3/popHarness.ts: Pop3Client, UIDL/LIST, streamed MIME parsing,
 *           binary data as base64, items kept in memory as n8n keeps a node's output;
 *   resolved — the same with format resolved (mailparser's full output);
 *   node-raw — the node with format raw: everything but MIME parsing (shows what the parser costs);
 *   node-mailparser — only with --item-path both: `node` with its simple items built by mailparser's path instead of
 *           the fast path (--item-path mailparser makes `node` itself do that).
 * Each reader runs in a child process of its own so peak RSS (getrusage maxRSS) belongs to that reader alone, and
 * first reads `warmup` messages untimed (an n8n process is long-lived; its JIT is warm after the first executions).
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { buildXOAuth2InitialResponse } from '../../nodes/mail/auth/xoauth2';
import { useFastSimplePath } from '../../nodes/mail/message/toItem';
import { StoredCredential } from '../integration/harness/credentials';
import { PopNodeHarness } from '../integration/pop3/popHarness';
import { Stack, startStack, type StackInfo } from '../stack';

interface PhaseResult {
	phase: string;
	messages: number;
	bytes: number;
	seconds: number;
	/** RSS when the phase started and its peak (MB). */
	rssStartMb: number;
	rssPeakMb: number;
}

function option(name: string, fallback: number | string): string {
	const index = process.argv.indexOf(name);
	return index >= 0 ? process.argv[index + 1] : String(fallback);
}

const mb = (bytes: number) => bytes / 1024 / 1024;

/** The node's output format per phase ("raw" is the bare-socket reader, not the node). */
const FORMAT_OF_PHASE: Record<string, string> = { node: 'simple', resolved: 'resolved', 'node-raw': 'raw', 'node-mailparser': 'simple' };

// ---- child: one reader ---------------------------------------------------------------------------------------------

/** RETR 1..count over one TLS connection, `inFlight` at a time; each reply read to `CRLF.CRLF` and dropped. */
async function rawRead(stack: Stack, user: string, count: number, inFlight = 1): Promise<number> {
	const socket = tls.connect({ host: stack.host, port: stack.ports.pop3s, ...stack.tlsOptions() });
	await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
	let pending: Buffer = Buffer.alloc(0);
	let waiter: (() => void) | undefined;
	socket.on('data', (chunk: Buffer) => {
		pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
		waiter?.();
	});
	/** Resolves with the bytes up to and including `terminator`. */
	const readUntil = async (terminator: Buffer): Promise<Buffer> => {
		let from = 0;
		for (;;) {
			const at = pending.indexOf(terminator, Math.max(0, from - terminator.length));
			if (at >= 0) {
				const reply = pending.subarray(0, at + terminator.length);
				pending = pending.subarray(at + terminator.length);
				return reply;
			}
			from = pending.length;
			await new Promise<void>((resolve) => (waiter = resolve));
			waiter = undefined;
		}
	};
	const lineEnd = Buffer.from('\r\n');
	const bodyEnd = Buffer.from('\r\n.\r\n');
	await readUntil(lineEnd);
	socket.write(`AUTH XOAUTH2 ${buildXOAuth2InitialResponse(user, await stack.accessToken(user))}\r\n`);
	const auth = (await readUntil(lineEnd)).toString();
	if (!auth.startsWith('+OK')) throw new Error(`raw AUTH failed: ${auth.trim()}`);
	let bytes = 0;
	let sent = 0;
	const sendUpTo = (limit: number) => {
		for (; sent < Math.min(limit, count); sent++) socket.write(`RETR ${sent + 1}\r\n`);
	};
	sendUpTo(inFlight);
	for (let number = 1; number <= count; number++) {
		bytes += (await readUntil(bodyEnd)).length;
		sendUpTo(number + inFlight);
	}
	socket.write('QUIT\r\n');
	await readUntil(lineEnd);
	socket.end();
	return bytes;
}

async function nodeRead(stack: Stack, user: string, format: string, limit?: number): Promise<{ messages: number; bytes: number }> {
	const tokens = await stack.issueTokens(user);
	const credential = StoredCredential.mailServer(stack, user, tokens, {
		popHost: stack.host,
		popPort: stack.ports.pop3s,
		popSecurity: 'tls',
	});
	const harness = new PopNodeHarness(credential, { tls: { ca: stack.caCertPem, servername: stack.info.servername } });
	const run = await harness.run({
		parameters: {
			authentication: 'mailServerOAuth2Api',
			operation: 'getAll',
			returnAll: limit === undefined,
			limit,
			format,
			downloadAttachments: true,
			options: {},
		},
	});
	const bytes = run.items.reduce((sum, item) => sum + Number((item.json.attributes as { size: number }).size), 0);
	return { messages: run.items.length, bytes };
}

async function child(): Promise<void> {
	const info = JSON.parse(fs.readFileSync(option('--info', ''), 'utf8')) as StackInfo;
	const stack = new Stack(info);
	const user = option('--user', '');
	const count = Number(option('--count', 1000));
	const phase = option('--phase', 'raw');
	// The fast simple path is what the node uses; the mailparser phase (or --item-path mailparser) turns it off.
	useFastSimplePath(phase !== 'node-mailparser' && option('--item-path', 'fast') !== 'mailparser');
	// An n8n process is long-lived: warm the JIT with a short untimed pass first, as earlier executions would have.
	const warmup = Math.min(count, Number(option('--warmup', 200)));
	const rawInFlight = phase === 'raw-pipelined' ? 16 : 1;
	if (warmup > 0) {
		if (phase.startsWith('raw')) await rawRead(stack, user, warmup, rawInFlight);
		else await nodeRead(stack, user, FORMAT_OF_PHASE[phase] ?? 'simple', warmup);
	}
	let peak = process.memoryUsage().rss;
	const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
	const rssStart = process.memoryUsage().rss;
	const started = process.hrtime.bigint();
	let messages = count;
	let bytes: number;
	if (phase.startsWith('raw')) bytes = await rawRead(stack, user, count, rawInFlight);
	else ({ messages, bytes } = await nodeRead(stack, user, FORMAT_OF_PHASE[phase] ?? 'simple'));
	const seconds = Number(process.hrtime.bigint() - started) / 1e9;
	clearInterval(sampler);
	peak = Math.max(peak, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
	const result: PhaseResult = { phase, messages, bytes, seconds, rssStartMb: mb(rssStart), rssPeakMb: mb(peak) };
	process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---- parent: stack, mailbox, the readers ---------------------------------------------------------------------------

async function fill(stack: Stack, user: string, count: number, attachmentEvery: number, attachmentKb: number): Promise<void> {
	let next = 0;
	await Promise.all(
		Array.from({ length: 8 }, async () => {
			while (next < count) {
				const index = next++;
				const withAttachment = attachmentEvery > 0 && index % attachmentEvery === 0;
				await stack.deliver(
					{
						to: user,
						subject: `bench ${index}`,
						text: `message ${index}\n${'lorem ipsum dolor sit amet '.repeat(40)}`,
						html: `<p>message ${index}</p><p>${'lorem ipsum dolor sit amet '.repeat(40)}</p>`,
						attachments: withAttachment
							? [{ filename: `file-${index}.bin`, content: crypto.randomBytes(attachmentKb * 1024), contentType: 'application/octet-stream' }]
							: undefined,
					},
					{ via: 'lmtp' },
				);
			}
		}),
	);
}

function runChild(phase: string, infoFile: string, user: string, count: number, warmup: number, itemPath: string): PhaseResult {
	const result = spawnSync(
		process.execPath,
		[
			...process.execArgv,
			__filename,
			'--child',
			...['--phase', phase, '--info', infoFile, '--user', user, '--count', String(count), '--warmup', String(warmup)],
			...['--item-path', itemPath],
		],
		{ encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
	);
	const line = result.stdout.split('\n').find((entry) => entry.startsWith('RESULT '));
	if (!line) throw new Error(`${phase} reader failed (exit ${result.status}):\n${result.stderr}`);
	return JSON.parse(line.slice('RESULT '.length)) as PhaseResult;
}

async function main(): Promise<void> {
	if (process.argv.includes('--child')) {
		await child();
		return;
	}
	const count = Number(option('--count', 1000));
	const attachmentEvery = Number(option('--attachment-every', 10));
	const attachmentKb = Number(option('--attachment-kb', 64));
	const rounds = Number(option('--rounds', 2));
	const warmup = Number(option('--warmup', 200));
	const itemPath = option('--item-path', 'fast');
	if (!['fast', 'mailparser', 'both'].includes(itemPath)) throw new Error(`--item-path ${itemPath}: fast, mailparser or both`);
	const phases = ['raw', 'raw-pipelined', 'node-raw', 'node', ...(itemPath === 'both' ? ['node-mailparser'] : []), 'resolved'];
	const stack = await startStack({ log: () => undefined });
	const infoFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pop3-bench-')), 'stack.json');
	try {
		stack.writeInfo(infoFile);
		const user = stack.newMailbox('bench-pop');
		const filling = Date.now();
		await fill(stack, user, count, attachmentEvery, attachmentKb);
		const state = await stack.mailboxState(user);
		const total = state.messages.reduce((sum, message) => sum + message.size, 0);
		console.log(
			`POP3 benchmark: ${state.messages.length} messages, ${mb(total).toFixed(1)} MB ` +
				`(every ${attachmentEvery}th with a ${attachmentKb} KB attachment), filled over LMTP in ${((Date.now() - filling) / 1000).toFixed(1)} s; ` +
				`${os.cpus().length} cores, Node ${process.version}`,
		);
		const best = new Map<string, PhaseResult>();
		for (let round = 1; round <= rounds; round++) {
			for (const phase of phases) {
				const result = runChild(phase, infoFile, user, state.messages.length, warmup, itemPath);
				if (result.messages !== state.messages.length) throw new Error(`${phase} read ${result.messages} messages`);
				console.log(
					`  round ${round} ${phase.padEnd(13)} ${(result.messages / result.seconds).toFixed(0).padStart(6)} msg/s  ` +
						`${(mb(result.bytes) / result.seconds).toFixed(1).padStart(6)} MB/s  ${result.seconds.toFixed(2)} s  ` +
						`RSS ${result.rssStartMb.toFixed(0)} → peak ${result.rssPeakMb.toFixed(0)} MB`,
				);
				const previous = best.get(phase);
				if (!previous || result.seconds < previous.seconds) best.set(phase, result);
			}
		}
		const raw = best.get('raw');
		console.log('\nBest of rounds (msg/s, peak RSS; the ratio is the reader\'s rate over raw\'s):');
		for (const [phase, result] of best) {
			const rate = result.messages / result.seconds;
			const ratio = raw ? rate / (raw.messages / raw.seconds) : Number.NaN;
			console.log(
				`  ${phase.padEnd(13)} ${rate.toFixed(0).padStart(6)} msg/s   peak RSS ${result.rssPeakMb.toFixed(0).padStart(4)} MB` +
					`   (${result.rssPeakMb - result.rssStartMb > 0 ? '+' : ''}${(result.rssPeakMb - result.rssStartMb).toFixed(0)} MB over start)` +
					(phase === 'raw' ? '' : `   ${ratio.toFixed(2)}× raw`),
			);
		}
	} finally {
		await stack.stop();
		fs.rmSync(path.dirname(infoFile), { recursive: true, force: true });
	}
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
