/**
 * Benchmark of the Gmail IMAP Trigger on the local mail stack (not a test: it prints numbers, asserts nothing).
 *
 *   node --expose-gc --import tsx test/bench/imapTrigger.bench.ts [--latency-count 20] [--catchup-count 5000] [--catchup-rounds 5] [--big-mb 25]
 *     [--item-path fast|mailparser|both] [--memory-counts 1000,10000] [--only latency,catchup,memory,big]
 *
 * Side by side, in one run, on the same stack and the same messages:
 *   1. delivery → emit latency of the trigger, against the moment a raw imapflow client IDLEing on the same
 *      mailbox sees the `exists` notification (the floor: Dovecot batches notifications for ~0.5 s);
 *   2. emitted messages/s for a catch-up of N waiting messages (one run per message, and in batches of 50),
 *      against raw imapflow FETCH of the same messages' sources, timed from its FETCH and from its connecting (the
 *      trigger's time always counts its connecting, login, SELECT and SEARCH); `--catchup-rounds` rounds of the three
 *      one after the other (a single sample swings by ±15 % on this machine), medians and each round's ratio; and
 *      in each round, on the raw reader's connection, the trigger's own metadata read alone (fetchMetadata: the
 *      attributes and the 80 KB prefix in chunks of 100 UIDs, no items built): how much of the catch-up is imapflow
 *      reading what the trigger asks for; peak RSS during the first round's catch-ups;
 *   3. peak RSS while one message with a large attachment is emitted (attachment as binary data);
 *   4. peak RSS of this process during catch-ups of each of `--memory-counts` waiting messages (node defaults of
 *      version 2: Output Automatic), smallest first, each against the first: a backlog must not be held in memory.
 *      The emitted items are counted and dropped as they go out (n8n hands them to executions; the harness would
 *      otherwise keep every item), so what grows is the trigger's own memory.
 * The trigger runs inside the n8n-like context of test/integration/imap/triggerHarness.ts, so items are built
 * exactly as in n8n (MIME parsing, binary data as base64), but no workflow runs behind the emits.
 * `--item-path` picks how `simple` items are built: the fast path (what the node does, the default), mailparser's
 * path only, or both, one after the other on the same messages, each after a raw FETCH of its own.
 */
import * as crypto from 'node:crypto';
import { ImapFlow } from 'imapflow';

import type { ImapClient } from '../../nodes/mail/imap/client';
import { fetchMetadata } from '../../nodes/mail/imap/watch/reader';
import { useFastSimplePath } from '../../nodes/mail/message/toItem';
import { CredentialStore, TriggerHarness } from '../integration/imap/triggerHarness';
import { startStack, type RunningStack } from '../stack';
import { median, option, percentile, sleep } from './benchKit';

/** The item paths to run the catch-up with (see --item-path above). */
function itemPaths(): Array<'fast' | 'mailparser'> {
	const index = process.argv.indexOf('--item-path');
	const value = index >= 0 ? process.argv[index + 1] : 'fast';
	if (value === 'both') return ['mailparser', 'fast'];
	if (value !== 'fast' && value !== 'mailparser') throw new Error(`--item-path ${value}: fast, mailparser or both`);
	return [value];
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

/** Samples RSS every 20 ms until stopped; returns the peak. */
function rssSampler(): { stop: () => number } {
	let peak = process.memoryUsage().rss;
	const timer = setInterval(() => {
		peak = Math.max(peak, process.memoryUsage().rss);
	}, 20);
	return {
		stop: () => {
			clearInterval(timer);
			return Math.max(peak, process.memoryUsage().rss);
		},
	};
}

async function rawClient(stack: RunningStack, user: string): Promise<ImapFlow> {
	const client = new ImapFlow({
		host: stack.host,
		port: stack.ports.imaps,
		secure: true,
		tls: stack.tlsOptions(),
		auth: { user, accessToken: await stack.accessToken(user) },
		logger: false,
		autoIdleDelay: 50,
	});
	client.on('error', () => undefined);
	await client.connect();
	return client;
}

async function trigger(stack: RunningStack, user: string, options: Record<string, unknown>, format = 'simple') {
	const tokens = await stack.issueTokens(user);
	const harness = new TriggerHarness({
		stack,
		credentials: new CredentialStore(stack, user, tokens),
		parameters: { mailbox: 'INBOX', postProcessAction: 'nothing', format, downloadAttachments: true, options },
	});
	return harness;
}

async function fill(stack: RunningStack, user: string, count: number): Promise<void> {
	const parallel = 16;
	let next = 0;
	await Promise.all(
		Array.from({ length: parallel }, async () => {
			while (next < count) {
				const index = next++;
				await stack.deliver(
					{ to: user, subject: `catch-up ${index}`, text: `message ${index}\n${'lorem ipsum '.repeat(20)}` },
					{ via: 'lmtp' },
				);
			}
		}),
	);
}

async function latency(stack: RunningStack, count: number): Promise<void> {
	const user = stack.newMailbox('bench-lat');
	const raw = await rawClient(stack, user);
	const seen: number[] = [];
	raw.on('exists', () => seen.push(Date.now()));
	await raw.mailboxOpen('INBOX');
	const node = await trigger(stack, user, {});
	await node.activate();
	await sleep(500);
	const rawLatency: number[] = [];
	const nodeLatency: number[] = [];
	for (let index = 0; index < count; index++) {
		const rawBefore = seen.length;
		const emitsBefore = node.emits.length;
		const sentAt = Date.now();
		await stack.deliver({ to: user, subject: `latency ${index}`, text: 'x' });
		await node.waitFor(() => node.emits.length > emitsBefore && seen.length > rawBefore, 10_000, 'both observers');
		rawLatency.push(seen[rawBefore] - sentAt);
		nodeLatency.push(node.emits[emitsBefore].at - sentAt);
		await sleep(300);
	}
	await node.deactivate();
	await raw.logout();
	console.log(`\n1. Delivery (SMTP, through Postfix) → notification, ${count} messages, ms`);
	console.log(`   raw imapflow IDLE 'exists'   p50 ${percentile(rawLatency, 50)}  p90 ${percentile(rawLatency, 90)}  max ${Math.max(...rawLatency)}`);
	console.log(`   Gmail IMAP Trigger emit      p50 ${percentile(nodeLatency, 50)}  p90 ${percentile(nodeLatency, 90)}  max ${Math.max(...nodeLatency)}`);
	console.log(`   ratio (p50)                  ${(percentile(nodeLatency, 50) / percentile(rawLatency, 50)).toFixed(2)}×`);
}

async function catchUp(stack: RunningStack, count: number, rounds: number): Promise<void> {
	if (!(rounds >= 1)) throw new Error(`--catchup-rounds ${rounds}: at least 1`);
	const user = stack.newMailbox('bench-catchup');
	const filled = Date.now();
	await fill(stack, user, count);
	console.log(
		`\n2. Catch-up of ${count} waiting messages (filled over LMTP in ${((Date.now() - filled) / 1000).toFixed(1)} s), ` +
			`${rounds} round(s) of raw FETCH, the trigger's metadata read alone, one run per message and batches of 50, ` +
			'one after the other; medians',
	);

	const paths = itemPaths();
	for (const path of paths) {
		useFastSimplePath(path === 'fast');
		if (paths.length > 1) console.log(`   -- simple items built by the ${path === 'fast' ? 'fast path' : "mailparser path"}`);
		const raw: number[] = [];
		const rawWithConnect: number[] = [];
		const metadataRead: number[] = [];
		const modes = [
			{ label: 'trigger, one run per message', options: { outputMode: 'perMessage' }, seconds: [] as number[], emits: 0, rss: '' },
			{ label: 'trigger, batches of 50      ', options: { outputMode: 'batch', batchSize: 50 }, seconds: [] as number[], emits: 0, rss: '' },
		];
		for (let round = 0; round < rounds; round++) {
			// The trigger's clock starts before it connects; the raw reader's twice: before connecting, and at its FETCH.
			const connecting = Date.now();
			const client = await rawClient(stack, user);
			let fetched = 0;
			let withPrefix = 0;
			try {
				await client.mailboxOpen('INBOX');
				const fetchStarted = Date.now();
				for await (const message of client.fetch('1:*', { uid: true, source: true })) if (message.source) fetched++;
				raw.push((Date.now() - fetchStarted) / 1000);
				rawWithConnect.push((Date.now() - connecting) / 1000);
				const uids = (await client.search({ all: true }, { uid: true })) || [];
				const readStarted = Date.now();
				for (let offset = 0; offset < uids.length; offset += 100) {
					const chunk = await fetchMetadata(client as unknown as ImapClient, uids.slice(offset, offset + 100), false, 80 * 1024);
					for (const message of chunk.values()) if (message.source) withPrefix++;
				}
				metadataRead.push((Date.now() - readStarted) / 1000);
			} finally {
				await client.logout().catch(() => undefined);
			}
			if (fetched !== count || withPrefix !== count) throw new Error(`raw FETCH read ${fetched}, the metadata read ${withPrefix} of ${count} messages`);

			for (const mode of modes) {
				if (global.gc) global.gc();
				const baseline = process.memoryUsage().rss;
				const sampler = rssSampler();
				const node = await trigger(stack, user, { startFrom: 'unread', ...mode.options });
				const started = Date.now();
				await node.activate();
				const emitted = () => node.emits.reduce((sum, emit) => sum + emit.items.length, 0);
				await node.waitFor(() => emitted() >= count, 600_000, 'catch-up');
				mode.seconds.push((Date.now() - started) / 1000);
				const peak = sampler.stop();
				mode.emits = node.emits.length;
				const total = emitted();
				await node.deactivate();
				if (total !== count) throw new Error(`${mode.label.trim()} emitted ${total} items for ${count} messages`);
				if (round === 0) mode.rss = `RSS ${mb(baseline)} → peak ${mb(peak)} MB`;
			}
		}
		const rawMedian = median(raw);
		const rawWithConnectMedian = median(rawWithConnect);
		const list = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ');
		console.log(`   raw imapflow FETCH sources     ${count} in ${rawMedian.toFixed(2)} s = ${Math.round(count / rawMedian)} msg/s (${rawWithConnectMedian.toFixed(2)} s from connecting; rounds: ${list(raw)} s)`);
		console.log(
			`   the trigger's metadata read    ${count} in ${median(metadataRead).toFixed(2)} s = ${(median(metadataRead) / rawMedian).toFixed(2)}× the raw FETCH's time ` +
				`(attributes and the 80 KB prefix, chunks of 100, no items; rounds: ${list(metadataRead)} s)`,
		);
		for (const mode of modes) {
			const seconds = median(mode.seconds);
			const perRound = mode.seconds.map((value, index) => (raw[index] / value).toFixed(3)).join(' ');
			console.log(
				`   ${mode.label}   ${count} in ${seconds.toFixed(2)} s = ${Math.round(count / seconds)} msg/s ` +
					`(${mode.emits} emits; ${(rawMedian / seconds).toFixed(3)}× raw FETCH, ${(rawWithConnectMedian / seconds).toFixed(3)}× raw from connecting; ` +
					`per round against raw FETCH ${perRound}×), first round ${mode.rss}`,
			);
		}
	}
	useFastSimplePath(true);
}

async function bigMessage(stack: RunningStack, megabytes: number): Promise<void> {
	const user = stack.newMailbox('bench-big');
	const attachment = crypto.randomBytes(megabytes * 1024 * 1024);
	await stack.deliver(
		{ to: user, subject: 'big', text: 'a big attachment', attachments: [{ filename: 'big.bin', content: attachment }] },
		{ via: 'lmtp' },
	);
	if (global.gc) global.gc();
	const node = await trigger(stack, user, { startFrom: 'unread' });
	const baseline = process.memoryUsage().rss;
	const sampler = rssSampler();
	const started = Date.now();
	await node.activate();
	await node.waitFor(() => node.emits.length === 1, 120_000, 'the big message');
	const seconds = (Date.now() - started) / 1000;
	const peak = sampler.stop();
	const binary = node.emits[0].items[0].binary?.attachment_0;
	const exact = Buffer.from(binary?.data ?? '', 'base64').equals(attachment);
	await node.deactivate();
	console.log(`\n3. One message with a ${megabytes} MB attachment (streamed, attachment kept as base64 binary data)`);
	console.log(`   emitted in ${seconds.toFixed(2)} s, attachment byte-exact: ${exact}, RSS ${mb(baseline)} → peak ${mb(peak)} MB (+${mb(peak - baseline)} MB)`);
}

async function memory(stack: RunningStack, counts: number[]): Promise<void> {
	console.log(`\n4. Peak RSS of catch-ups of ${counts.join(', ')} waiting messages (Output Automatic, batches of 50)`);
	let first: number | undefined;
	for (const count of counts) {
		const user = stack.newMailbox('bench-memory');
		const filled = Date.now();
		await fill(stack, user, count);
		const fillSeconds = (Date.now() - filled) / 1000;
		if (global.gc) global.gc();
		await sleep(500);
		const baseline = process.memoryUsage().rss;
		let emitted = 0;
		let peak = baseline;
		const node = await trigger(stack, user, { startFrom: 'unread', outputMode: 'adaptive' });
		// Counted and dropped as they go out, like n8n handing them over to executions.
		const drop = () => {
			for (const emit of node.emits.splice(0)) emitted += emit.items.length;
			peak = Math.max(peak, process.memoryUsage().rss);
		};
		const timer = setInterval(drop, 20);
		const started = Date.now();
		await node.activate();
		await node.waitFor(() => (drop(), emitted >= count), 1_200_000, 'memory catch-up');
		const seconds = (Date.now() - started) / 1000;
		clearInterval(timer);
		drop();
		await node.deactivate();
		first ??= peak;
		console.log(
			`   ${String(count).padStart(6)} messages (filled in ${fillSeconds.toFixed(0)} s): emitted ${emitted} in ${seconds.toFixed(1)} s, ` +
				`RSS ${mb(baseline)} → peak ${mb(peak)} MB = ${(peak / first).toFixed(2)}× the first's peak`,
		);
	}
}

/** The sections to run (`--only latency,catchup,memory,big`); default: latency, catch-up and the big message. */
function sections(): Set<string> {
	const index = process.argv.indexOf('--only');
	if (index >= 0) return new Set(process.argv[index + 1].split(','));
	return new Set(['latency', 'catchup', 'big', ...(process.argv.includes('--memory-counts') ? ['memory'] : [])]);
}

async function main(): Promise<void> {
	const stack = await startStack();
	try {
		console.log(`Gmail IMAP Trigger benchmark, Node ${process.version}, ${new Date().toISOString()}`);
		const run = sections();
		if (run.has('latency')) await latency(stack, option('--latency-count', 20));
		if (run.has('catchup')) await catchUp(stack, option('--catchup-count', 5000), option('--catchup-rounds', 5));
		if (run.has('big')) await bigMessage(stack, option('--big-mb', 25));
		if (run.has('memory')) {
			const index = process.argv.indexOf('--memory-counts');
			const counts = (index >= 0 ? process.argv[index + 1] : '1000,10000').split(',').map(Number).sort((a, b) => a - b);
			await memory(stack, counts);
		}
	} finally {
		await stack.stop();
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
