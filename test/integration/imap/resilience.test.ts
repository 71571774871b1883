/**
 * The trigger through token expiry, server kicks and a revoked refresh token, on the real stack. Exactly once is
 * checked by Message-ID: every delivered message must be emitted, none twice.
 */
import * as fs from 'node:fs';
import type { IDataObject } from 'n8n-workflow';

import { getStack } from '../../stack';
import { CredentialStore, TriggerHarness } from './triggerHarness';

const stack = getStack();
const running: TriggerHarness[] = [];

afterEach(async () => {
	for (const trigger of running.splice(0)) await trigger.deactivate();
});

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

const PARAMETERS: IDataObject = { mailbox: 'INBOX', postProcessAction: 'nothing', format: 'simple', options: {} };

async function setup(lifetimeSeconds: number) {
	const user = stack.newMailbox('res');
	const tokens = await stack.issueTokens(user, { lifetimeSeconds });
	const credentials = new CredentialStore(stack, user, tokens);
	const trigger = new TriggerHarness({ stack, credentials, parameters: PARAMETERS });
	running.push(trigger);
	return { user, tokens, credentials, trigger };
}

function emittedMessageIds(trigger: TriggerHarness): string[] {
	return trigger.emits.flatMap((emit) => emit.items.map((item) => String((item.json.metadata as IDataObject)['message-id'] ?? '')));
}

/** Dovecot's log lines for refused logins of this user (a refused token shows up as "auth failed"). */
function refusedLogins(user: string, since: number): string[] {
	const log = fs.readFileSync(stack.info.files.dovecotLog, 'utf8').split('\n');
	return log.filter((line) => line.includes(user) && /auth failed|Authentication failed/i.test(line)).slice(since);
}

function countRefusedLogins(user: string): number {
	return refusedLogins(user, 0).length;
}

function expectExactlyOnce(trigger: TriggerHarness, delivered: string[]): void {
	const emitted = emittedMessageIds(trigger);
	const duplicates = emitted.filter((id, index) => emitted.indexOf(id) !== index);
	expect(duplicates).toEqual([]);
	expect(new Set(emitted)).toEqual(new Set(delivered));
	expect(emitted).toHaveLength(delivered.length);
}

describe('Gmail IMAP Trigger resilience on the mail stack', () => {
	it('with 10 s access tokens and 60 s of steady delivery: every message exactly once, ≥ 5 refreshes, no refused login', async () => {
		const { user, trigger, credentials } = await setup(10);
		const refusedBefore = countRefusedLogins(user);
		const refreshesBefore = await stack.tokenRequestCount({ user, grantType: 'refresh_token' });
		await trigger.activate();
		const delivered: string[] = [];
		const latencies: number[] = [];
		const started = Date.now();
		let sequence = 0;
		while (Date.now() - started < 60_000) {
			const messageId = `<steady-${sequence}-${Date.now()}@example.test>`;
			const sentAt = Date.now();
			const emitsBefore = trigger.emits.length;
			await stack.deliver({ to: user, subject: `steady ${sequence}`, text: 'tick', messageId });
			delivered.push(messageId);
			sequence++;
			await trigger.waitFor(() => trigger.emits.length > emitsBefore, 10_000, `emit of message ${sequence}`);
			latencies.push(trigger.emits[trigger.emits.length - 1].at - sentAt);
			await sleep(Math.max(0, 1000 - (Date.now() - sentAt)));
		}
		await sleep(1500);
		expectExactlyOnce(trigger, delivered);
		const refreshes = (await stack.tokenRequestCount({ user, grantType: 'refresh_token' })) - refreshesBefore;
		expect(refreshes).toBeGreaterThanOrEqual(5);
		expect(countRefusedLogins(user) - refusedBefore).toBe(0);
		expect(trigger.emitErrors).toEqual([]);
		expect(trigger.failedExecutions).toEqual([]);
		// The old sessions were closed after each rollover: one left.
		expect((await stack.connectedSessions(user)).length).toBeLessThanOrEqual(2);
		latencies.sort((a, b) => a - b);
		process.stdout.write(
			`[imap-trigger] 10 s tokens: ${delivered.length} messages, ${refreshes} refreshes (${credentials.refreshRequests} through the helper), ` +
				`latency p50 ${latencies[Math.floor(latencies.length / 2)]} ms, max ${latencies[latencies.length - 1]} ms\n`,
		);
	}, 120_000);

	it('300 messages delivered while the sessions are kicked every few seconds: every message exactly once', async () => {
		const { user, trigger } = await setup(3600);
		await trigger.activate();
		const delivered: string[] = [];
		let kicking = true;
		let kicks = 0;
		const kicker = (async () => {
			while (kicking) {
				await sleep(1500 + Math.floor(Math.random() * 1500));
				if (!kicking) break;
				await stack.kick(user);
				kicks++;
			}
		})();
		const deliverOne = async (index: number) => {
			const messageId = `<kick-${index}-${Date.now()}@example.test>`;
			await stack.deliver({ to: user, subject: `kick ${index}`, text: 'x', messageId }, { via: 'lmtp' });
			delivered.push(messageId);
		};
		// About 15 s of delivery, so the kicks land while mail is arriving and while catch-ups are running.
		for (let batch = 0; batch < 30; batch++) {
			await Promise.all(Array.from({ length: 10 }, (_v, index) => deliverOne(batch * 10 + index)));
			await sleep(500);
		}
		await trigger.waitFor(() => trigger.emits.length >= 300, 60_000, 'all 300 emits');
		kicking = false;
		await kicker;
		await sleep(2000);
		expectExactlyOnce(trigger, delivered);
		expect(kicks).toBeGreaterThanOrEqual(3);
		expect(trigger.emitErrors).toEqual([]);
		process.stdout.write(`[imap-trigger] 300 messages with ${kicks} kicks: exactly once\n`);
		await trigger.deactivate();
		await stack.waitForNoSessions(user, 3000);
	}, 150_000);

	it('a revoked refresh token ends in one clear error after a bounded number of token requests', async () => {
		const { user, tokens, trigger } = await setup(4);
		await trigger.activate();
		await stack.deliver({ to: user, subject: 'before revocation' });
		await trigger.waitFor(() => trigger.emits.length === 1, 5000, 'first emit');
		const since = Date.now();
		await stack.revokeRefreshToken(tokens.refresh_token);
		await trigger.waitFor(() => trigger.emitErrors.length > 0, 15_000, 'the error');
		await sleep(5000);
		expect(trigger.emitErrors).toHaveLength(1);
		expect(trigger.emitErrors[0].message).toMatch(/must be reconnected/);
		const requests = await stack.tokenRequestCount({ user, since });
		expect(requests).toBeGreaterThanOrEqual(1);
		expect(requests).toBeLessThanOrEqual(2);
		expect(trigger.isActive).toBe(false);
		await stack.waitForNoSessions(user, 3000);
		// No token or secret in anything the trigger logged.
		const logged = JSON.stringify(trigger.logs);
		expect(logged).not.toContain(tokens.refresh_token);
		expect(logged).not.toContain(tokens.access_token);
	}, 40_000);

	it('survives a token endpoint outage during a rollover: keeps watching on the old session, then rolls over', async () => {
		const { user, trigger } = await setup(8);
		await trigger.activate();
		// The rollover is due ~5 s after issue; the token server is down from ~4 s to ~10 s.
		await sleep(4000);
		await stack.tokenServerOutage(6000);
		const messageId = `<during-outage-${Date.now()}@example.test>`;
		await stack.deliver({ to: user, subject: 'during outage', messageId });
		await trigger.waitFor(() => trigger.emits.length === 1, 5000, 'emit during the outage');
		await sleep(9000);
		const after = `<after-outage-${Date.now()}@example.test>`;
		await stack.deliver({ to: user, subject: 'after outage', messageId: after });
		await trigger.waitFor(() => trigger.emits.length === 2, 10_000, 'emit after the outage');
		expectExactlyOnce(trigger, [messageId, after]);
		expect(trigger.emitErrors).toEqual([]);
	}, 40_000);
});
