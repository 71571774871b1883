/**
 * Hostile and broken mail delivered to the real Dovecot while the trigger (defaults) watches: each message ends in an
 * item or an error item naming it, in bounded time and memory, and an ordinary message delivered after them is still
 * emitted. Before the parse limits were classified as the message's fault, the first of these stopped the folder for
 * good (retried as an outage for ever).
 */
import type { INodeExecutionData } from 'n8n-workflow';

import {
	deepNesting,
	hugeBodyLine,
	hugeEncodedSubject,
	hugeHeaderBlock,
	hugeHeaderLine,
	manyParts,
	normalMessage,
	truncatedMultipart,
} from '../../fixtures/hostileMail';
import { getStack } from '../../stack';
import { CredentialStore, TriggerHarness } from './triggerHarness';

const stack = getStack();
jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const running: TriggerHarness[] = [];

afterEach(async () => {
	for (const trigger of running.splice(0)) await trigger.deactivate();
});

async function activeTrigger(user: string, options: Record<string, unknown> = {}): Promise<TriggerHarness> {
	const credentials = new CredentialStore(stack, user, await stack.issueTokens(user, { lifetimeSeconds: 3600 }));
	const trigger = new TriggerHarness({
		stack,
		credentials,
		parameters: { mailbox: 'INBOX', postProcessAction: 'read', format: 'simple', options },
	});
	running.push(trigger);
	await trigger.activate();
	return trigger;
}

function itemsOf(trigger: TriggerHarness): INodeExecutionData[] {
	return trigger.emits.flatMap((emit) => emit.items);
}

describe('Gmail IMAP Trigger: hostile mail on the real stack', () => {
	it('each hostile message gives one item or error item at once; the normal message after them is emitted', async () => {
		const user = stack.newMailbox('hostile');
		const trigger = await activeTrigger(user);
		const hostile: Array<{ name: string; source: Buffer; expect: RegExp | 'item' }> = [
			{ name: '10,000 MIME parts', source: manyParts(10_000), expect: /more than 1000 MIME parts/ },
			{ name: 'nested 500 deep', source: deepNesting(500), expect: /nested more than 50 levels/ },
			{ name: '10 MB header block', source: hugeHeaderBlock(10 * MiB), expect: /header block .* larger than 256 KiB/ },
			{ name: '1 MB encoded-word Subject, never closed', source: hugeEncodedSubject(MiB, false), expect: /larger than 256 KiB/ },
			{ name: 'one 1 MB header line', source: hugeHeaderLine(MiB), expect: /larger than 256 KiB/ },
			{ name: '17 MB single-line text body', source: hugeBodyLine(17 * MiB), expect: /text body part .* larger than 16 MiB/ },
			{ name: 'truncated multipart', source: truncatedMultipart(), expect: 'item' },
		];
		const rssBefore = process.memoryUsage().rss;
		let rssPeak = rssBefore;
		const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
		const started = Date.now();
		try {
			for (const message of hostile) await stack.deliver(message.source, { via: 'lmtp', to: [user] });
			await stack.deliver(normalMessage('Ordinary mail after the hostile ones'), { via: 'lmtp', to: [user] });
			await trigger.waitFor(() => itemsOf(trigger).length === hostile.length + 1, 90_000, 'an item for every message');
		} finally {
			clearInterval(sampler);
		}
		const elapsed = Date.now() - started;
		const items = itemsOf(trigger);
		hostile.forEach((message, index) => {
			const json = items[index].json;
			if (message.expect === 'item') {
				expect(json.error).toBeUndefined();
				expect(json.textPlain).toBe('the text before the cut');
				return;
			}
			expect({ name: message.name, error: json.error }).toEqual({ name: message.name, error: expect.stringMatching(message.expect) });
			expect(json.error).toMatch(/^The message could not be parsed: /);
			// The real server's ENVELOPE names the message, and the attributes say where it is.
			expect(json.headers).toMatchObject({ from: '"Mallory" <mallory@example.com>', to: 'victim@example.test' });
			expect(json.attributes).toMatchObject({ mailbox: 'INBOX', uid: index + 1, messageId: expect.stringMatching(/@hostile\.example>$/) });
		});
		expect(items[hostile.length].json).toMatchObject({
			subject: 'Ordinary mail after the hostile ones',
			textPlain: 'This is Ordinary mail after the hostile ones.\n',
		});
		// No outage was reported, no error ended the trigger, one session did it all.
		expect(trigger.failedExecutions).toHaveLength(0);
		expect(trigger.emitErrors).toHaveLength(0);
		expect((await stack.connectedSessions(user)).length).toBe(1);
		// Bounded: measured here at a few seconds and well under 200 MB over the ~30 MB of mail (see the note).
		expect(elapsed).toBeLessThan(60_000);
		expect(rssPeak - rssBefore).toBeLessThan(400 * MiB);
		// An error item is not something the workflow got: the after-run action (mark as read) leaves those alone.
		const deadline = Date.now() + 5000;
		let state = await stack.mailboxState(user);
		while (!state.messages[hostile.length]?.flags.includes('\\Seen') && Date.now() < deadline) state = await stack.mailboxState(user);
		const seen = state.messages.map((message) => message.flags.includes('\\Seen'));
		expect(seen).toEqual([false, false, false, false, false, false, true, true]);
		process.stdout.write(`[hostile mail] ${hostile.length + 1} messages emitted in ${elapsed} ms, RSS peak +${Math.round((rssPeak - rssBefore) / MiB)} MB\n`);
	});

	it('a message above Max Message Size is not downloaded: error item with attributes and headers, and mail goes on', async () => {
		const user = stack.newMailbox('oversize');
		const trigger = await activeTrigger(user, { maxMessageSizeMb: 1 });
		await stack.deliver(hugeBodyLine(3 * MiB, 'Three megabytes'), { via: 'lmtp', to: [user] });
		await stack.deliver(normalMessage('Small one'), { via: 'lmtp', to: [user] });
		await trigger.waitFor(() => itemsOf(trigger).length === 2, 30_000, 'both messages');
		const [big, small] = itemsOf(trigger);
		expect(big.json.error).toMatch(
			/^The message is 3(\.0)? MiB, more than the trigger's Max Message Size of 1 MiB: it was not downloaded\. Raise the option "Max Message Size \(MB\)"/,
		);
		expect(big.json).toMatchObject({
			headers: { subject: 'Three megabytes', from: '"Mallory" <mallory@example.com>' },
			attributes: { uid: 1, mailbox: 'INBOX', size: expect.any(Number) },
		});
		expect(big.json.textPlain).toBeUndefined();
		expect(small.json).toMatchObject({ subject: 'Small one' });
	});

	it('refuses a Max Message Size outside 1–1024 MB at activation, naming the option', async () => {
		const user = stack.newMailbox('badsize');
		await expect(activeTrigger(user, { maxMessageSizeMb: 0 })).rejects.toThrow(
			'"Max Message Size (MB)" must be from 1 to 1024; 0 is outside that range',
		);
	});
});
