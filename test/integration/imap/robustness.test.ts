/**
 * Behaviour a review of the trigger asked for, where the real stack (Dovecot, Postfix, token server) can show it:
 * a token valid for weeks causes no refreshes, a catch-up never has more than a bounded number of runs in progress,
 * and switching the credential to another account does not replay that account's mail. (The failure modes that need
 * a server to misbehave on cue — a connection closing between two commands, a message it refuses to FETCH — are in
 * the unit suite, test/unit/mail/imap/watcher.test.ts, against the fake server.)
 */
import type { IDataObject } from 'n8n-workflow';

import { getStack } from '../../stack';
import { CredentialStore, TriggerHarness } from './triggerHarness';

const stack = getStack();
jest.setTimeout(30_000);

const running: TriggerHarness[] = [];

afterEach(async () => {
	for (const trigger of running.splice(0)) await trigger.deactivate();
});

function harness(options: ConstructorParameters<typeof TriggerHarness>[0]): TriggerHarness {
	const created = new TriggerHarness(options);
	running.push(created);
	return created;
}

async function credentialsFor(user: string, lifetimeSeconds = 3600): Promise<CredentialStore> {
	return new CredentialStore(stack, user, await stack.issueTokens(user, { lifetimeSeconds }));
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

const BASE_PARAMETERS: IDataObject = { mailbox: 'INBOX', postProcessAction: 'nothing', format: 'simple', options: {} };

describe('Gmail IMAP Trigger robustness on the mail stack', () => {
	it('with an access token valid for 30 days: no refresh, no second login, mail still emitted at once', async () => {
		const user = stack.newMailbox('long');
		const credentials = await credentialsFor(user, 30 * 24 * 3600);
		const since = Date.now();
		const trigger = harness({ stack, credentials, parameters: BASE_PARAMETERS });
		await trigger.activate();
		await sleep(2000);
		await stack.deliver({ to: user, subject: 'with a long-lived token' });
		await trigger.waitFor(() => trigger.emits.length === 1, 5000, 'the emit');
		await sleep(500);
		expect(await stack.tokenRequestCount({ user, since })).toBe(0);
		expect(credentials.refreshRequests).toBe(0);
		expect((await stack.connectedSessions(user)).length).toBe(1);
	});

	it('a catch-up of 40 messages keeps at most 10 runs in progress, and emits every message once, in order', async () => {
		const user = stack.newMailbox('backlog');
		for (let index = 0; index < 40; index++) await stack.deliver({ to: user, subject: `waiting ${index}` }, { via: 'lmtp' });
		let inProgress = 0;
		let mostInProgress = 0;
		// Runs end only once the test lets them: the limit is then reached however slowly the server hands out the
		// messages (with runs of a fixed length, a slow catch-up could end the first run before the tenth emit).
		let letRunsEnd!: () => void;
		const runsMayEnd = new Promise<void>((resolve) => (letRunsEnd = resolve));
		const trigger = harness({
			stack,
			credentials: await credentialsFor(user),
			parameters: { ...BASE_PARAMETERS, options: { startFrom: 'unread' } },
			run: async () => {
				inProgress++;
				mostInProgress = Math.max(mostInProgress, inProgress);
				await runsMayEnd;
				await sleep(150);
				inProgress--;
			},
		});
		await trigger.activate();
		await trigger.waitFor(() => inProgress >= 10, 20_000, '10 runs in progress');
		// Held there: no eleventh message goes out while ten runs are unfinished.
		await sleep(500);
		expect(trigger.emits).toHaveLength(10);
		letRunsEnd();
		await trigger.waitFor(() => trigger.runs.length === 40, 20_000, 'all 40 runs');
		expect(trigger.emittedSubjects()).toEqual(Array.from({ length: 40 }, (_v, index) => `waiting ${index}`));
		expect(mostInProgress).toBe(10);
	});

	it('after the credential is switched to another account, that mailbox starts afresh: its existing mail is not replayed', async () => {
		const first = stack.newMailbox('acct-a');
		const a = harness({ stack, credentials: await credentialsFor(first), parameters: BASE_PARAMETERS });
		await a.activate();
		await stack.deliver({ to: first, subject: 'to the first account' });
		await a.waitFor(() => a.emits.length === 1, 5000, 'the first emit');
		await a.deactivate();

		// The other account already has recent mail: as a "new UIDVALIDITY" of the same folder it would look new.
		const second = stack.newMailbox('acct-b');
		for (let index = 0; index < 3; index++) await stack.deliver({ to: second, subject: `already there ${index}` }, { via: 'lmtp' });
		const b = harness({ stack, credentials: await credentialsFor(second), parameters: BASE_PARAMETERS, database: a.database });
		await b.activate();
		await sleep(1500);
		expect(b.emits).toHaveLength(0);
		expect(b.logs.some((entry) => /belongs to another mail account/.test(entry.message))).toBe(true);

		await stack.deliver({ to: second, subject: 'new for the second account' });
		await b.waitFor(() => b.emits.length === 1, 5000, 'the new message');
		await sleep(500);
		expect(b.emittedSubjects()).toEqual(['new for the second account']);
		const state = (b.database['node:Gmail IMAP Trigger'] as IDataObject).gmailImapTrigger as IDataObject;
		expect(state.account).toBe(`${stack.host}:${stack.ports.imaps}/${second}`.toLowerCase());
	});
});
