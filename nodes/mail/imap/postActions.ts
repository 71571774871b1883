import type { ImapClient } from './client';

/**
 * What to do with a message after the workflow run it started has succeeded. Never before: a failed run leaves the
 * message exactly as it was (unread, in place), so the user can fix the workflow and still find it.
 */
export interface PostActionPlan {
	/** n8n's Email Trigger `postProcessAction: read` — add \Seen. */
	markRead: boolean;
	/** Gmail labels to add / remove (X-GM-LABELS, Gmail only). */
	addLabels: string[];
	removeLabels: string[];
	/** Move to this folder (IMAP MOVE, or COPY + delete where MOVE is missing: imapflow decides). */
	moveTo?: string;
	/** Delete (\Deleted + EXPUNGE of these UIDs). On Gmail this removes the message from the watched label only. */
	delete: boolean;
}

export function hasPostActions(plan: PostActionPlan | undefined): plan is PostActionPlan {
	return (
		!!plan && (plan.markRead || plan.addLabels.length > 0 || plan.removeLabels.length > 0 || !!plan.moveTo || plan.delete)
	);
}

/**
 * Checks a plan against the server's capabilities and the watched folders; returns a message for the user when it
 * cannot work there, or would loop (a message moved or labelled into a watched folder starts another run) or delete
 * other mail.
 */
export function postActionProblem(
	plan: PostActionPlan | undefined,
	capabilities: Map<string, boolean | number>,
	watchedFolders: readonly string[] = [],
): string | undefined {
	if (!plan) return undefined;
	if ((plan.addLabels.length > 0 || plan.removeLabels.length > 0) && !capabilities.has('X-GM-EXT-1')) {
		return 'Adding or removing Gmail labels needs a Gmail server (X-GM-EXT-1); this server does not offer it';
	}
	if (plan.moveTo && plan.delete) return 'Choose either "Move to Folder" or "Delete", not both';
	// Without UIDPLUS a delete ends in a plain EXPUNGE, which also removes every message another client flagged
	// \Deleted in the folder; a move without MOVE is COPY + delete, the same.
	if (plan.delete && !capabilities.has('UIDPLUS')) {
		return 'Delete After Run needs the IMAP extension UIDPLUS (to expunge only the processed messages); this server does not offer it, and a plain EXPUNGE would also remove other messages flagged as deleted. Turn the option off or use "Mark as Read"';
	}
	if (plan.moveTo && !capabilities.has('MOVE') && !capabilities.has('UIDPLUS')) {
		return 'Move to Folder needs the IMAP extension MOVE or UIDPLUS; this server offers neither, and moving by copy and a plain EXPUNGE would also remove other messages flagged as deleted. Turn the option off or use "Mark as Read"';
	}
	if (plan.moveTo) {
		const target = watchedFolders.find((folder) => sameMailbox(folder, plan.moveTo as string));
		if (target !== undefined) {
			return `Move to Folder "${plan.moveTo}" is a watched folder ("${target}"): every moved message would start the workflow again. Choose a folder that is not watched`;
		}
	}
	for (const label of plan.addLabels) {
		const target = watchedFolders.find((folder) => labelIsFolder(label, folder));
		if (target !== undefined) {
			return `The added Gmail label "${label}" is a watched folder ("${target}"): every labelled message would start the workflow again. Choose a label that is not watched`;
		}
	}
	return undefined;
}

/** Whether two mailbox names name the same mailbox, as the server compares them: INBOX in any case, others exactly. */
export function sameMailbox(a: string, b: string): boolean {
	if (a.toUpperCase() === 'INBOX' || b.toUpperCase() === 'INBOX') return a.toUpperCase() === b.toUpperCase();
	return a === b;
}

/** Gmail's system labels and the folders that show them (English and the "Google Mail" names). */
const SYSTEM_LABEL_FOLDERS: Record<string, string[]> = {
	'\\inbox': ['INBOX'],
	'\\starred': ['[Gmail]/Starred', '[Google Mail]/Starred'],
	'\\important': ['[Gmail]/Important', '[Google Mail]/Important'],
	'\\sent': ['[Gmail]/Sent Mail', '[Google Mail]/Sent Mail'],
	'\\draft': ['[Gmail]/Drafts', '[Google Mail]/Drafts'],
};

/** Whether adding this Gmail label puts a message into this folder (a user label is the folder of the same name). */
export function labelIsFolder(label: string, folder: string): boolean {
	const system = SYSTEM_LABEL_FOLDERS[label.toLowerCase()];
	if (system) return system.some((name) => sameMailbox(name, folder));
	return sameMailbox(label, folder);
}

/**
 * How n8n reported a run: finished (succeeded / failed / unknown, e.g. waiting), `duplicate` (not started because an
 * execution with its deduplication key exists), `rejected` (the execution could not be created), or `abandoned` (the
 * execution exists but n8n gave up before any node ran, e.g. a queue-mode job that stalled too often).
 */
export type RunOutcome = 'succeeded' | 'failed' | 'unknown' | 'duplicate' | 'rejected' | 'abandoned';

/** Compact UID set for IMAP: [1,2,3,7,9,10] → "1:3,7,9:10". */
export function toUidSet(uids: readonly number[]): string {
	const sorted = [...new Set(uids)].sort((a, b) => a - b);
	const parts: string[] = [];
	let start = sorted[0];
	let previous = sorted[0];
	for (let index = 1; index <= sorted.length; index++) {
		const current = sorted[index];
		if (current === previous + 1) {
			previous = current;
			continue;
		}
		parts.push(start === previous ? String(start) : `${start}:${previous}`);
		start = current;
		previous = current;
	}
	return parts.join(',');
}

/**
 * Runs the plan on messages of the currently selected folder (the caller holds its mailbox lock). Flags and
 * labels first, moving or deleting last, because after those the UIDs no longer exist in this folder.
 */
export async function applyPostActions(client: ImapClient, uids: readonly number[], plan: PostActionPlan): Promise<void> {
	if (uids.length === 0) return;
	const range = toUidSet(uids);
	if (plan.markRead && !(await client.messageFlagsAdd(range, ['\\Seen'], { uid: true }))) {
		throw new Error('The server refused to mark the message(s) as read');
	}
	if (plan.addLabels.length > 0 && !(await client.messageFlagsAdd(range, plan.addLabels, { uid: true, useLabels: true }))) {
		throw new Error('The server refused to add the Gmail label(s)');
	}
	if (
		plan.removeLabels.length > 0 &&
		!(await client.messageFlagsRemove(range, plan.removeLabels, { uid: true, useLabels: true }))
	) {
		throw new Error('The server refused to remove the Gmail label(s)');
	}
	if (plan.moveTo) {
		const moved = await client.messageMove(range, plan.moveTo, { uid: true });
		// undefined (imapflow: no mailbox selected, e.g. the connection closed) is no success either.
		if (!moved) throw new Error(`The server refused to move the message(s) to "${plan.moveTo}"`);
	} else if (plan.delete) {
		const deleted = await client.messageDelete(range, { uid: true });
		if (!deleted) throw new Error('The server refused to delete the message(s)');
	}
}

/** Splits a comma-separated list of labels or folders from a node parameter. */
export function splitList(value: unknown): string[] {
	if (typeof value !== 'string') return [];
	return value
		.split(',')
		.map((part) => part.trim())
		.filter((part) => part.length > 0);
}
