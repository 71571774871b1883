import type { Logger as ImapFlowLogger } from 'imapflow';
import type { Logger as N8nLogger } from 'n8n-workflow';

/** The part of n8n's logger this package uses (also what tests pass in). */
export type TriggerLogger = Pick<N8nLogger, 'debug' | 'info' | 'warn' | 'error'>;

const SECRET_KEYS = /token|secret|pass|auth|authorization|cookie/i;

/**
 * imapflow logs through pino by default (JSON on stdout, which n8n does not collect). This adapter routes its
 * entries into n8n's logger instead:
 * - protocol transcripts (`src: 'c' | 's'`, i.e. every command and response) are dropped: they carry message
 *   content, addresses and subjects, and their volume would drown n8n's log; `isLevelEnabled('debug')` says no so
 *   imapflow does not even build them;
 * - imapflow's `error` entries go to debug: every connection drop logs one, and the trigger reports the faults that
 *   matter itself (with context and without noise during an ordinary reconnect);
 * - any field whose name looks like a credential is removed before it reaches the log.
 */
export function createImapFlowLogger(logger: TriggerLogger, context: Record<string, string | number>): ImapFlowLogger & {
	isLevelEnabled(level: string): boolean;
} {
	const forward = (target: 'debug' | 'warn', entry: unknown) => {
		if (!entry || typeof entry !== 'object') return;
		const record = entry as Record<string, unknown>;
		if (record.src === 'c' || record.src === 's') return;
		const message = typeof record.msg === 'string' ? record.msg : 'imapflow';
		const meta: Record<string, unknown> = { ...context };
		for (const [key, value] of Object.entries(record)) {
			if (key === 'msg' || SECRET_KEYS.test(key)) continue;
			if (key === 'err' && value instanceof Error) {
				meta.error = `${value.name}: ${value.message}`;
				continue;
			}
			if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) meta[key] = value;
		}
		logger[target](`IMAP: ${message}`, meta);
	};
	return {
		trace: () => undefined,
		debug: (entry: unknown) => forward('debug', entry),
		info: (entry: unknown) => forward('debug', entry),
		warn: (entry: unknown) => forward('warn', entry),
		error: (entry: unknown) => forward('debug', entry),
		fatal: (entry: unknown) => forward('warn', entry),
		isLevelEnabled: (level: string) => level !== 'trace' && level !== 'debug',
	};
}
