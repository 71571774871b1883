import type { IRun } from 'n8n-workflow';

import { runOutcome } from '../../../nodes/GmailImapTrigger/runOutcome';

function run(status: IRun['status'], runData?: Record<string, unknown[]>, error?: Error): IRun {
	return { status, mode: 'trigger', startedAt: new Date(), data: { resultData: { runData: runData ?? {}, error } } } as unknown as IRun;
}

describe('runOutcome', () => {
	const ran = { 'Gmail IMAP Trigger': [{}] };

	it('tells succeeded, failed and unfinished runs apart', () => {
		expect(runOutcome(run('success', ran))).toBe('succeeded');
		expect(runOutcome(run('error', ran, new Error('node failed')))).toBe('failed');
		expect(runOutcome(run('canceled', ran))).toBe('failed');
		expect(runOutcome(run('waiting', ran))).toBe('unknown');
		expect(runOutcome(undefined)).toBe('unknown');
	});

	it('reads a run n8n gave up on before any node ran (queue mode: stalled too often) as abandoned', () => {
		const stalled = run('error', {}, new Error('This execution failed to be processed too many times and will no longer retry.'));
		expect(runOutcome(stalled)).toBe('abandoned');
		expect(runOutcome(run('crashed', { 'Gmail IMAP Trigger': [] }))).toBe('abandoned');
		// A cancelled run is the user's decision, not n8n giving up.
		expect(runOutcome(run('canceled', {}))).toBe('failed');
		expect(runOutcome(run('error', ran, new Error('x')))).toBe('failed');
	});
});
