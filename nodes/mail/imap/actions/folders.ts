/** Folder (Gmail: label) operations: list, status, create, rename, delete. */
import { isMailboxMissing } from '../client';
import { sameMailbox } from '../postActions';
import { ImapActionError, missingFolderError } from './errors';
import type { ImapActionSession } from './session';

export interface FolderInfo {
	name: string;
	path: string;
	delimiter: string;
	flags: string[];
	specialUse: string | null;
	subscribed: boolean;
}

export interface FolderStatus {
	path: string;
	messages: number;
	unseen: number;
	uidNext: number;
	uidValidity: string;
}

/** Every folder the server lists, sorted by path (INBOX first). */
export async function listFolders(session: ImapActionSession): Promise<FolderInfo[]> {
	const client = await session.client();
	const listed = await client.list();
	return listed
		.map((entry) => ({
			name: entry.name,
			path: entry.path,
			delimiter: entry.delimiter,
			flags: [...entry.flags],
			specialUse: entry.specialUse ?? null,
			subscribed: entry.subscribed,
		}))
		.sort((a, b) => (a.path === 'INBOX' ? -1 : b.path === 'INBOX' ? 1 : a.path.localeCompare(b.path)));
}

/** The folder with this special use (`\Drafts`, `\Trash`, ...), as the server marks it; undefined when none is. */
export async function findSpecialUseFolder(session: ImapActionSession, specialUse: string): Promise<string | undefined> {
	const folders = await listFolders(session);
	return folders.find((folder) => folder.specialUse?.toLowerCase() === specialUse.toLowerCase())?.path;
}

/** STATUS of a folder without selecting it. */
export async function folderStatus(session: ImapActionSession, path: string): Promise<FolderStatus> {
	const client = await session.client();
	let status;
	try {
		status = await client.status(path, { messages: true, unseen: true, uidNext: true, uidValidity: true });
	} catch (error) {
		if (isMailboxMissing(error)) throw missingFolderError(path);
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- mapped to an n8n error by the node (toNodeError)
		throw error;
	}
	if (!status) throw new ImapActionError(`The server refused the status of "${path}"`, 'Check the folder name; Folder → Get Many lists every folder.');
	return {
		path: status.path,
		messages: status.messages ?? 0,
		unseen: status.unseen ?? 0,
		uidNext: status.uidNext ?? 0,
		uidValidity: String(status.uidValidity ?? ''),
	};
}

export async function createFolder(session: ImapActionSession, path: string): Promise<{ path: string; created: boolean }> {
	const client = await session.client();
	const result = await client.mailboxCreate(checkedPath(path, 'Folder'));
	return { path: result.path, created: result.created };
}

export async function renameFolder(session: ImapActionSession, path: string, newPath: string): Promise<{ path: string; newPath: string }> {
	const from = checkedPath(path, 'Folder');
	const to = checkedPath(newPath, 'New Name');
	if (sameMailbox(from, 'INBOX')) {
		throw new ImapActionError('INBOX cannot be renamed here', 'Renaming INBOX moves all its mail to a new folder on most servers; choose another folder.');
	}
	const client = await session.client();
	try {
		const result = await client.mailboxRename(from, to);
		return { path: result.path, newPath: result.newPath };
	} catch (error) {
		if (isMailboxMissing(error)) throw missingFolderError(from);
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- mapped to an n8n error by the node (toNodeError)
		throw error;
	}
}

export async function deleteFolder(session: ImapActionSession, path: string): Promise<{ path: string; deleted: true }> {
	const target = checkedPath(path, 'Folder');
	if (sameMailbox(target, 'INBOX')) throw new ImapActionError('INBOX cannot be deleted', 'Choose another folder.');
	const client = await session.client();
	try {
		const result = await client.mailboxDelete(target);
		return { path: result.path, deleted: true };
	} catch (error) {
		if (isMailboxMissing(error)) throw missingFolderError(target);
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- mapped to an n8n error by the node (toNodeError)
		throw error;
	}
}

function checkedPath(path: string, label: string): string {
	const trimmed = path.trim();
	if (!trimmed) throw new ImapActionError(`Enter the "${label}"`, 'A folder path such as "Invoices" or "Clients/2024".');
	return trimmed;
}
