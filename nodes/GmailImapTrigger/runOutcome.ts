import type { IRun } from 'n8n-workflow';

import type { RunOutcome } from '../mail/imap/postActions';

/** Reads the finished run n8n hands to a donePromise (`undefined`: skipped as a duplicate; see docs/delivery.md). */
export function runOutcome(run: IRun | undefined): RunOutcome {
	if (!run) return 'unknown';
	// n8n gave up before any node ran (queue mode: a job that stalled too often, "This execution failed to be processed
	// too many times and will no longer retry", its data replaced by that error). The workflow never saw the message.
	if ((run.status === 'error' || run.status === 'crashed') && noNodeRan(run)) return 'abandoned';
	if (run.data?.resultData?.error) return 'failed';
	if (run.status === 'error' || run.status === 'crashed' || run.status === 'canceled') return 'failed';
	if (run.status === 'success') return 'succeeded';
	// 'waiting' and friends: the run has not finished successfully, so nothing may be touched.
	return run.status ? 'unknown' : 'succeeded';
}

function noNodeRan(run: IRun): boolean {
	const runData = run.data?.resultData?.runData;
	return !runData || Object.values(runData).every((tasks) => !Array.isArray(tasks) || tasks.length === 0);
}
