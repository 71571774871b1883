/**
 * "Reply to the Input Email" against the real stack: an inbound email listing 500 Reply-To addresses is answered
 * once, to its first Reply-To address (the old behaviour sent one message to all 500); asking for all of them
 * with more than "Max Reply Recipients" fails the item and sends nothing; an out-of-range maximum is refused with
 * the field and its range; and a hostile display name adds no header to the delivered reply.
 */
import type { INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { messageToItem, type MessageFormat } from '../../../nodes/mail/message/toItem';
import { getStack } from '../../stack';
import { waitUntil } from '../../support/waitUntil';
import { PostfixLog, delivered, headerSection, messageCount, runSmtpNode, senderCredential } from './smtpTestKit';

const stack = getStack();

async function asItem(raw: string, format: MessageFormat): Promise<INodeExecutionData> {
	return await messageToItem(Buffer.from(raw), { format, downloadAttachments: false, attributes: { uid: 1 }, prepareBinaryData: async () => ({ data: '', mimeType: '' }) });
}

/** Delivers a message to `account` with the given Reply-To list and returns it as the trigger would see it. */
async function receive(account: string, replyTo: string[], from = `Asker <${stack.newMailbox('asker')}>`): Promise<string> {
	const message = [
		`From: ${from}`,
		`To: ${account}`,
		// One header, folded after every address (a 500-address line would pass 998 characters).
		`Reply-To: ${replyTo.map((address, index) => `Person ${index} <${address}>`).join(',\r\n ')}`,
		'Subject: Please reply',
		`Message-ID: <many.${account}>`,
		'',
		'hello',
		'',
	].join('\r\n');
	await stack.deliver(message, { to: [account] });
	const [{ raw }] = await delivered(stack, account, 1);
	return raw;
}

const replyParameters = (options: Record<string, unknown> = {}) => ({
	authentication: 'mailServerOAuth2Api',
	toEmail: '',
	subject: '',
	emailFormat: 'text',
	text: 'Thanks!',
	options: { appendAttribution: false, replyToInputEmail: true, ...options },
});

/** Postfix's delivery lines ("status=sent") since `log` was made. */
function sentLines(log: PostfixLog): string[] {
	return log.lines().filter((line) => / status=sent /.test(line));
}

describe('reply to an input email listing 500 Reply-To addresses', () => {
	it('sends exactly one message, to the first Reply-To address, for every item format', async () => {
		const account = stack.newMailbox('account');
		const addresses = Array.from({ length: 500 }, () => stack.newMailbox('rt'));
		const raw = await receive(account, addresses);
		const items = await Promise.all((['simple', 'resolved', 'raw'] as const).map(async (format) => await asItem(raw, format)));

		const log = new PostfixLog(stack);
		const run = await runSmtpNode({ credential: await senderCredential(stack, account, 'smtps'), parameters: replyParameters(), items });
		expect(run.error).toBeUndefined();
		expect(run.output?.map((item) => item.json.envelope)).toEqual(Array(3).fill({ from: account, to: [addresses[0]] }));

		const replies = await delivered(stack, addresses[0], 3);
		for (const { mail } of replies) {
			expect(mail.subject).toBe('Re: Please reply');
			expect(mail.to).toMatchObject({ value: [{ address: addresses[0], name: 'Person 0' }] });
			expect(mail.inReplyTo).toBe(`<many.${account}>`);
		}
		// What the server did, not what the client says: three deliveries in all, none to any other listed address.
		// Postfix logs a delivery (status=sent) only after Dovecot has stored it: wait for the three lines, then a
		// little longer so that a fourth delivery would show too.
		await waitUntil(() => sentLines(log).length >= 3, 'Postfix to log the three deliveries', 10_000);
		await new Promise((resolve) => setTimeout(resolve, 500));
		const sent = sentLines(log);
		expect(sent).toHaveLength(3);
		for (const line of sent) expect(line).toContain(`to=<${addresses[0]}>`);
		for (const other of [addresses[1], addresses[250], addresses[499]]) expect(await messageCount(stack, other)).toBe(0);
	});

	it('with "Reply to All Reply-To Addresses" refuses the item (naming the count, the limit and the fix) and sends nothing', async () => {
		const account = stack.newMailbox('account');
		const addresses = Array.from({ length: 500 }, () => stack.newMailbox('rt'));
		const item = await asItem(await receive(account, addresses), 'resolved');

		const log = new PostfixLog(stack);
		const run = await runSmtpNode({
			credential: await senderCredential(stack, account, 'smtps'),
			parameters: replyParameters({ replyToAllAddresses: true, maxReplyRecipients: 20 }),
			items: [item],
		});
		expect(run.error).toBeInstanceOf(NodeOperationError);
		expect(run.error?.message).toBe(
			'Reply to All Reply-To Addresses is on and the input email lists 500 Reply-To addresses, more than "Max Reply Recipients" (20) allows. ' +
				'The reply was sent to none of them. Raise "Max Reply Recipients" (at most 20), turn "Reply to All Reply-To Addresses" off to ' +
				'answer only the first address, or enter the recipients in "To Email". (item 0)',
		);
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(sentLines(log)).toEqual([]);
		expect(await messageCount(stack, addresses[0])).toBe(0);
	});

	it('with "Reply to All Reply-To Addresses" and a list within the limit, answers every address in one message', async () => {
		const account = stack.newMailbox('account');
		const addresses = Array.from({ length: 3 }, () => stack.newMailbox('rt'));
		const item = await asItem(await receive(account, addresses), 'raw');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, account, 'smtps'),
			parameters: replyParameters({ replyToAllAddresses: true }),
			items: [item],
		});
		expect(run.error).toBeUndefined();
		expect(run.output?.[0].json.accepted).toEqual(addresses);
		for (const address of addresses) expect(await delivered(stack, address, 1)).toHaveLength(1);
	});

	it('refuses "Max Reply Recipients" outside 1–20 with the field and the range; with Continue On Fail per item', async () => {
		const account = stack.newMailbox('account');
		const recipient = stack.newMailbox('rcpt');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, account, 'smtps'),
			parameters: { ...replyParameters({ replyToAllAddresses: true, maxReplyRecipients: 500, replyToInputEmail: false }), toEmail: recipient, subject: 's' },
			items: [{ json: {} }],
			continueOnFail: true,
		});
		expect(run.error).toBeUndefined();
		expect(run.output).toEqual([
			{ json: { error: '"Max Reply Recipients" must be from 1 to 20; 500 is outside that range (item 0)' }, pairedItem: { item: 0 } },
		]);
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(await messageCount(stack, recipient)).toBe(0);
	});
});

describe('hostile display names in the input email', () => {
	it('a From name that decodes to CR LF "Bcc: victim" reaches the sender as one To line; the victim gets nothing', async () => {
		const account = stack.newMailbox('account');
		const asker = stack.newMailbox('asker');
		const victim = stack.newMailbox('victim');
		const message = [
			`From: =?UTF-8?Q?Eve=0D=0ABcc=3A_${victim.replace('@', '=40')}?= <${asker}>`,
			`To: ${account}`,
			'Subject: Hi',
			`Message-ID: <hostile.${account}>`,
			'',
			'hello',
			'',
		].join('\r\n');
		await stack.deliver(message, { to: [account], from: asker });
		const [{ raw }] = await delivered(stack, account, 1);
		const items = await Promise.all((['simple', 'resolved', 'raw'] as const).map(async (format) => await asItem(raw, format)));

		const run = await runSmtpNode({ credential: await senderCredential(stack, account, 'smtps'), parameters: replyParameters(), items });
		expect(run.error).toBeUndefined();
		expect(run.output?.map((item) => item.json.accepted)).toEqual([[asker], [asker], [asker]]);
		for (const { raw: reply } of await delivered(stack, asker, 3)) {
			const lines = headerSection(reply).split(/\r?\n/);
			expect(lines.filter((line) => /^bcc:/i.test(line))).toEqual([]);
			expect(lines.filter((line) => /^to:/i.test(line))).toHaveLength(1);
		}
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(await messageCount(stack, victim)).toBe(0);
	});
});
