import type { IRun } from 'n8n-workflow';

import type { RunOutcome } from '../mail/imap/postActions';

/** Reads the finished run n8n hands to a donePromise. */
export function runOutcome(run: IRun | undefined): RunOutcome {
	if (!run) return 'unknown';
	if (run.data?.resultData?.error) return 'failed';
	if (run.status === 'error' || run.status === 'crashed' || run.status === 'canceled') return 'failed';
	if (run.status === 'success') return 'succeeded';
	// 'waiting' and friends: the run has not finished successfully, so nothing may be touched.
	return run.status ? 'unknown' : 'succeeded';
}
