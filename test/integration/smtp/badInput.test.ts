/**
 * Bad input through the whole node against the real server: each bad item is refused with an error naming it and
 * nothing of it reaches Postfix (the recipients' mailboxes and Postfix's log are checked), while the good items of
 * the same run go out.
 */
import { NodeOperationError } from 'n8n-workflow';

import { getStack } from '../../stack';
import { waitUntil } from '../../support/waitUntil';
import { binaryFromBuffer, expression } from '../harness/executeHarness';
import { PostfixLog, delivered, messageCount, runSmtpNode, senderCredential } from './smtpTestKit';

const stack = getStack();

describe('header injection (CR/LF in header values)', () => {
	it('refuses the item and sends nothing of it; with Continue On Fail the other items go out', async () => {
		const user = stack.newMailbox('sender');
		const recipient = stack.newMailbox('rcpt');
		const victim = stack.newMailbox('victim');
		const subjects = ['Fine 0', `Hello\r\nBcc: ${victim}`, 'Fine 2'];
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps'),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: recipient,
				subject: expression((_item, index) => subjects[index]),
				emailFormat: 'text',
				text: 'x',
				options: { appendAttribution: false },
			},
			items: [{ json: {} }, { json: {} }, { json: {} }],
			continueOnFail: true,
		});
		expect(run.error).toBeUndefined();
		expect(run.output?.[1]).toEqual({
			json: {
				error:
					'Subject contains a line break (CR or LF). Header values must be a single line; the message was not sent, because a line break in a header can add headers or recipients (header injection). (item 1)',
			},
			pairedItem: { item: 1 },
		});
		expect(run.output?.[0].json.accepted).toEqual([recipient]);
		expect(run.output?.[2].json.accepted).toEqual([recipient]);

		const mails = await delivered(stack, recipient, 2);
		expect(mails.map(({ mail }) => mail.subject).sort()).toEqual(['Fine 0', 'Fine 2']);
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(await messageCount(stack, recipient)).toBe(2);
		expect(await messageCount(stack, victim)).toBe(0);
	});

	it('stops the run at the bad item without Continue On Fail, naming it; earlier items were sent, later ones not', async () => {
		const user = stack.newMailbox('sender');
		const recipient = stack.newMailbox('rcpt');
		const victim = stack.newMailbox('victim');
		const to = [recipient, `${recipient}\nBcc: ${victim}`, recipient];
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps'),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: expression((_item, index) => to[index]),
				subject: expression((_item, index) => `Item ${index}`),
				emailFormat: 'text',
				text: 'x',
				options: { appendAttribution: false },
			},
			items: [{ json: {} }, { json: {} }, { json: {} }],
		});
		expect(run.error).toBeInstanceOf(NodeOperationError);
		expect(run.error?.message).toMatch(/^To Email contains a line break .* \(item 1\)$/);
		expect((run.error as NodeOperationError).context.itemIndex).toBe(1);
		const mails = await delivered(stack, recipient, 1);
		expect(mails.map(({ mail }) => mail.subject)).toEqual(['Item 0']);
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(await messageCount(stack, recipient)).toBe(1);
		expect(await messageCount(stack, victim)).toBe(0);
	});
});

describe('other bad input', () => {
	it('names the item and the problem for each bad item, sends the good one, and never reads files named as attachments', async () => {
		const user = stack.newMailbox('sender');
		const recipient = stack.newMailbox('rcpt');
		const log = new PostfixLog(stack);
		const cases = [
			{ to: 'bob@', attachments: '' },
			{ to: '', attachments: '' },
			{ to: recipient, attachments: 'invoice' },
			{ to: recipient, attachments: '/etc/passwd' },
			{ to: recipient, attachments: 'huge' },
			{ to: recipient, attachments: 'data' },
		];
		const small = binaryFromBuffer(Buffer.from('ok'), 'ok.txt', 'text/plain');
		const run = await runSmtpNode({
			credential: await senderCredential(stack, user, 'smtps'),
			parameters: {
				authentication: 'mailServerOAuth2Api',
				toEmail: expression((_item, index) => cases[index].to),
				subject: expression((_item, index) => `Case ${index}`),
				emailFormat: 'text',
				text: 'x',
				options: { appendAttribution: false, fileAttachments: expression((_item, index) => cases[index].attachments) },
			},
			items: cases.map(() => ({
				json: {},
				binary: { data: small, huge: { ...small, bytes: 26 * 1024 * 1024 } },
			})),
			continueOnFail: true,
		});
		expect(run.error).toBeUndefined();
		const errors = run.output?.map((item) => item.json.error);
		expect(errors?.[0]).toBe('To Email contains the invalid address "bob@": it has no domain after the @ (item 0)');
		expect(errors?.[1]).toBe('To Email is empty: enter at least one recipient (To, CC or BCC) (item 1)');
		expect(errors?.[2]).toBe('File Attachments names the binary property "invoice", which the item does not have. The item has: data, huge. (item 2)');
		expect(errors?.[3]).toMatch(/^File Attachments names "\/etc\/passwd", which is not a binary property of the item\. .*never from files on the n8n server or from URLs.* \(item 3\)$/);
		expect(errors?.[4]).toMatch(/^Attachments add up to more than 25\.0 MB \(Gmail's limit per message\): huge 26\.0 MB\. .* \(item 4\)$/);
		expect(errors?.[5]).toBeUndefined();
		expect(run.output?.[5].json.accepted).toEqual([recipient]);

		const [{ mail }] = await delivered(stack, recipient, 1);
		expect(mail.subject).toBe('Case 5');
		expect(mail.attachments.map((attachment) => attachment.content.toString())).toEqual(['ok']);
		// Postfix accepted exactly one message in this run. Its log is written by another process (postlogd): wait for
		// the line, then a little longer so that a second message would show too.
		const accepted = () => log.lines().filter((line) => line.includes(`sasl_username=${user}`));
		await waitUntil(() => accepted().length > 0, 'Postfix to log the accepted message', 10_000);
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(await messageCount(stack, recipient)).toBe(1);
		expect(accepted()).toHaveLength(1);
	});
});
