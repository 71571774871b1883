/**
 * Durable delivery on the real stack (Dovecot): what docs/delivery.md promises beyond the crash windows — refusals at
 * activation and the retry list for a message whose item cannot be stored. Unit tests only, and why: Gmail's one run
 * per message under two labels needs X-GM-EXT-1, which Dovecot does not offer; a future INTERNALDATE cannot be made
 * (Dovecot sets an APPEND's future date to now); a server restored from a backup cannot be staged reliably.
 */
import type { IDataObject } from 'n8n-workflow';

import { getStack } from '../../stack';
import { CredentialStore, TriggerHarness } from './triggerHarness';

const stack = getStack();
jest.setTimeout(30_000);

const running: TriggerHarness[] = [];
const BASE_PARAMETERS: IDataObject = { mailbox: 'INBOX', postProcessAction: 'nothing', format: 'simple', options: {} };

async function setup() {
	const user = stack.newMailbox('deliv');
	const tokens = await stack.issueTokens(user, { lifetimeSeconds: 3600 });
	return { user, credentials: new CredentialStore(stack, user, tokens) };
}

function harness(options: ConstructorParameters<typeof TriggerHarness>[0]): TriggerHarness {
	const created = new TriggerHarness(options);
	running.push(created);
	return created;
}

afterEach(async () => {
	for (const trigger of running.splice(0)) await trigger.deactivate();
});

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('durable delivery on the real stack', () => {
	it('refuses at activation a Move to Folder into the watched folder (INBOX in any case)', async () => {
		const { credentials } = await setup();
		const trigger = harness({ stack, credentials, parameters: { ...BASE_PARAMETERS, options: { moveToFolder: 'inbox' } } });
		await expect(trigger.activate()).rejects.toThrow(/Move to Folder "inbox" is a watched folder/);
	});

	it('a message whose attachment cannot be stored waits in the retry list while later mail flows, then goes out once', async () => {
		const { user, credentials } = await setup();
		let diskFull = true;
		const trigger = harness({
			stack,
			credentials,
			parameters: { ...BASE_PARAMETERS, downloadAttachments: true },
			beforeStoringBinary: (fileName) => {
				if (diskFull && fileName === 'stuck.bin') throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
			},
		});
		await trigger.activate();
		await stack.deliver({ to: user, subject: 'stuck', text: 'has an attachment', attachments: [{ filename: 'stuck.bin', content: 'x'.repeat(100) }] }, { via: 'lmtp' });
		await stack.deliver({ to: user, subject: 'later 1' }, { via: 'lmtp' });
		await stack.deliver({ to: user, subject: 'later 2' }, { via: 'lmtp' });
		await trigger.waitFor(() => trigger.emits.length === 2, 10_000, 'the later messages');
		expect(trigger.emittedSubjects()).toEqual(['later 1', 'later 2']);
		const state = (trigger.database['node:Gmail IMAP Trigger'] as IDataObject).gmailImapTrigger as { retries?: Record<string, Array<{ uid: number }>> };
		expect(state.retries?.INBOX).toEqual([expect.objectContaining({ uid: 1, attempts: 1 })]);
		// The first retry comes a minute later (the default policy: 1 min, doubling, up to 1 h; given up after 10 attempts and 24 h).
		diskFull = false;
		await trigger.waitFor(() => trigger.emits.length === 3, 75_000, 'the stuck message once the disk has room');
		await sleep(1000);
		expect(trigger.emittedSubjects()).toEqual(['later 1', 'later 2', 'stuck']);
		expect(trigger.emits[2].items[0].json.error).toBeUndefined();
		expect(trigger.emits[2].items[0].binary?.attachment_0).toBeDefined();
	}, 100_000);
});
