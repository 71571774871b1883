/**
 * Changing messages of the selected folder: flags, Gmail labels, move, copy, delete. Each refuses what the server
 * cannot do safely instead of doing something else: no label commands without X-GM-EXT-1, no move without MOVE or
 * UIDPLUS and no permanent delete without UIDPLUS (a plain EXPUNGE also removes other clients' \Deleted mail).
 */
import { sameMailbox, toUidSet } from '../postActions';
import type { ImapActionClient } from './client';
import { ImapActionError } from './errors';
import { findSpecialUseFolder } from './folders';
import { locateMessages, type MessageTarget } from './locate';
import type { ImapActionSession, SelectedFolder } from './session';

export type Capabilities = Map<string, boolean | number>;

export async function changeFlags(client: ImapActionClient, uids: number[], flags: string[], add: boolean): Promise<void> {
	if (flags.length === 0) throw new ImapActionError('Enter at least one flag', 'For example \\Flagged, \\Seen or a keyword such as $Processed.');
	const range = toUidSet(uids);
	const done = add ? await client.messageFlagsAdd(range, flags, { uid: true }) : await client.messageFlagsRemove(range, flags, { uid: true });
	if (!done) throw new ImapActionError(`The server refused to ${add ? 'add' : 'remove'} the flag(s) ${flags.join(' ')}`);
}

/** Labels exist on Gmail only (X-GM-EXT-1). */
export function labelProblem(capabilities: Capabilities): ImapActionError | undefined {
	if (capabilities.has('X-GM-EXT-1')) return undefined;
	return new ImapActionError(
		'Gmail labels need a Gmail server (X-GM-EXT-1); this server does not offer it',
		'On other servers copy the message to a folder (Message → Copy) instead.',
		true,
	);
}

export async function changeLabels(
	client: ImapActionClient,
	capabilities: Capabilities,
	uids: number[],
	labels: string[],
	add: boolean,
): Promise<void> {
	const problem = labelProblem(capabilities);
	if (problem) throw problem;
	if (labels.length === 0) throw new ImapActionError('Enter at least one label', 'Comma-separated, e.g. Invoices, \\Starred, or \\Inbox to move back to the inbox.');
	const range = toUidSet(uids);
	const options = { uid: true, useLabels: true };
	const done = add ? await client.messageFlagsAdd(range, labels, options) : await client.messageFlagsRemove(range, labels, options);
	if (!done) throw new ImapActionError(`The server refused to ${add ? 'add' : 'remove'} the Gmail label(s) ${labels.join(', ')}`);
}

/** Move needs MOVE, or UIDPLUS for imapflow's COPY + UID EXPUNGE of exactly these messages. */
export function moveProblem(capabilities: Capabilities): ImapActionError | undefined {
	if (capabilities.has('MOVE') || capabilities.has('UIDPLUS')) return undefined;
	return new ImapActionError(
		'Moving needs the IMAP extension MOVE or UIDPLUS; this server offers neither, and moving by copy and a plain EXPUNGE would also remove other messages flagged as deleted in the folder',
		'Use Copy, then Mark the original (e.g. flag it) instead.',
		true,
	);
}

export interface MoveResult {
	/** UIDs in the destination, where the server reported them (COPYUID). */
	newUids?: number[];
	destinationUidValidity?: string;
}

export async function moveMessages(
	client: ImapActionClient,
	capabilities: Capabilities,
	from: SelectedFolder,
	uids: number[],
	destination: string,
): Promise<MoveResult> {
	const problem = moveProblem(capabilities);
	if (problem) throw problem;
	const target = destination.trim();
	if (!target) throw new ImapActionError('Enter the folder to move to', 'For example "Processed" or "[Gmail]/Trash".');
	if (sameMailbox(target, from.path)) throw new ImapActionError(`The message is already in "${target}"`, 'Choose another folder.');
	const moved = await client.messageMove(toUidSet(uids), target, { uid: true });
	if (!moved) throw new ImapActionError(`The server refused to move the message(s) to "${target}"`, 'Check that the folder exists (Folder → Get Many).');
	return mapped(moved.uidMap, uids, moved.uidValidity);
}

export async function copyMessages(client: ImapActionClient, uids: number[], destination: string): Promise<MoveResult> {
	const target = destination.trim();
	if (!target) throw new ImapActionError('Enter the folder to copy to', 'For example "Archive/2024".');
	const copied = await client.messageCopy(toUidSet(uids), target, { uid: true });
	if (!copied) throw new ImapActionError(`The server refused to copy the message(s) to "${target}"`, 'Check that the folder exists (Folder → Get Many).');
	return mapped(copied.uidMap, uids, copied.uidValidity);
}

function mapped(uidMap: Map<number, number> | undefined, uids: number[], uidValidity: bigint | undefined): MoveResult {
	if (!uidMap) return {};
	const newUids = uids.map((uid) => uidMap.get(uid)).filter((uid): uid is number => uid !== undefined);
	return { newUids, destinationUidValidity: uidValidity !== undefined ? String(uidValidity) : undefined };
}

function expungeProblem(): ImapActionError {
	return new ImapActionError(
		'Deleting permanently needs the IMAP extension UIDPLUS (to expunge only these messages); this server does not offer it, and a plain EXPUNGE would also remove other messages flagged as deleted',
		'Move the message to the Trash folder instead (turn "Delete Permanently" off), or flag it as \\Deleted with Flag.',
		true,
	);
}

/** \Deleted + UID EXPUNGE of exactly these messages; refused without UIDPLUS. */
export async function expungeMessages(client: ImapActionClient, capabilities: Capabilities, uids: number[]): Promise<void> {
	if (!capabilities.has('UIDPLUS')) throw expungeProblem();
	const deleted = await client.messageDelete(toUidSet(uids), { uid: true });
	if (!deleted) throw new ImapActionError('The server refused to delete the message(s)');
}

export interface DeleteResult {
	folder: string;
	uids: number[];
	/** Where the message went: the Trash folder, or nowhere (deleted permanently). */
	movedTo?: string;
	permanent: boolean;
}

/**
 * Delete: to the Trash folder (special use \Trash) unless `permanent`; a message already in Trash is deleted for
 * good. On Gmail an EXPUNGE outside Trash only removes a label, so a permanent delete there moves the message to Trash
 * first and expunges it in Trash (Gmail's own way of deleting forever). Takes the folder locks itself, one after
 * the other (imapflow's locks do not nest).
 */
export async function deleteMessages(session: ImapActionSession, target: MessageTarget, permanent: boolean): Promise<DeleteResult> {
	const capabilities = await session.capabilities();
	const gmail = capabilities.has('X-GM-EXT-1');
	const trash = await findSpecialUseFolder(session, '\\Trash');
	const inTrash = trash !== undefined && sameMailbox(trash, target.folder);
	const expungeHere = inTrash || (permanent && !gmail);
	if (expungeHere) {
		if (!capabilities.has('UIDPLUS')) throw expungeProblem();
	} else {
		if (!trash) {
			throw new ImapActionError(
				'This server marks no folder as Trash (special use \\Trash), so the message could not be moved there',
				'Turn on "Delete Permanently", or move the message to a folder of your choice with Move.',
			);
		}
		const problem = moveProblem(capabilities);
		if (problem) throw problem;
	}
	const first = await session.inFolder(target.folder, async (client, folder) => {
		const uids = await locateMessages(client, folder, target);
		if (expungeHere) {
			await expungeMessages(client, capabilities, uids);
			return { folder: folder.path, uids, moved: undefined };
		}
		return { folder: folder.path, uids, moved: await moveMessages(client, capabilities, folder, uids, trash as string) };
	});
	if (!first.moved) return { folder: first.folder, uids: first.uids, permanent: true };
	if (!permanent) return { folder: first.folder, uids: first.uids, movedTo: trash, permanent: false };
	const newUids = first.moved.newUids;
	if (!newUids || newUids.length !== first.uids.length) {
		throw new ImapActionError(
			`The message was moved to "${trash}" but the server did not say its new UID, so it was not deleted there`,
			'It stays in Trash (Gmail empties Trash after 30 days).',
		);
	}
	await session.inFolder(trash as string, async (client) => await expungeMessages(client, capabilities, newUids));
	return { folder: first.folder, uids: first.uids, permanent: true };
}
