/**
 * Which message an operation acts on: a UID in a folder (checked against the folder's UIDVALIDITY when the caller
 * knows the one the UID was read under), or a Message-ID searched in a folder.
 */
import { uidsFromSearch } from './read';
import { ImapActionError, MessageNotFoundError } from './errors';
import type { ImapActionClient } from './client';
import type { SelectedFolder } from './session';

export type MessageTarget =
	| { folder: string; uid: number; uidValidity?: string; source: 'parameter' | 'item' }
	| { folder: string; messageId: string };

/** The error when a UID was read under another UIDVALIDITY: the folder was recreated and the UID names nothing, or another message. */
export function uidValidityChanged(folder: string, was: string, now: string): ImapActionError {
	return new ImapActionError(
		`The folder "${folder}" changed its UIDVALIDITY since the item was made (${was} → ${now}): its UIDs may now name other messages, so nothing was done`,
		'The folder was recreated or restored on the server. Search for the message again (Message → Search or Get by Message-ID) and use the new item.',
	);
}

/** The UIDs of the target in the selected folder; throws when there is none, or when UIDVALIDITY differs. */
export async function locateMessages(client: ImapActionClient, folder: SelectedFolder, target: MessageTarget): Promise<number[]> {
	if ('uid' in target) {
		if (target.uidValidity !== undefined && target.uidValidity !== '' && target.uidValidity !== folder.uidValidity) {
			throw uidValidityChanged(folder.path, target.uidValidity, folder.uidValidity);
		}
		const found = uidsFromSearch(await client.search({ uid: String(target.uid) }, { uid: true }), 'the message');
		if (!found.includes(target.uid)) throw new MessageNotFoundError(`with UID ${target.uid}`, folder.path);
		return [target.uid];
	}
	const messageId = target.messageId.trim();
	if (!messageId) throw new ImapActionError('Enter the Message-ID', 'For example <CAF=abc123@mail.gmail.com>, as in the message’s Message-ID header.');
	const found = uidsFromSearch(await client.search({ header: { 'Message-ID': messageId } }, { uid: true }), 'the message');
	// SEARCH HEADER matches a substring: keep the messages whose Message-ID is the one asked for.
	const wanted = normaliseMessageId(messageId);
	const exact: number[] = [];
	if (found.length > 0) {
		for await (const message of client.fetch(found.join(','), { uid: true, envelope: true }, { uid: true })) {
			if (normaliseMessageId(message.envelope?.messageId ?? '') === wanted) exact.push(message.uid);
		}
	}
	if (exact.length === 0) throw new MessageNotFoundError(`with Message-ID ${messageId}`, folder.path);
	return exact.sort((a, b) => a - b);
}

function normaliseMessageId(value: string): string {
	return value.trim().replace(/^<|>$/g, '').toLowerCase();
}

/** A UID typed by a person or taken from an item: a positive whole number. */
export function parseUid(value: unknown, label = 'UID'): number {
	const text = typeof value === 'number' ? String(value) : String(value ?? '').trim();
	const uid = Number(text);
	if (!/^\d+$/.test(text) || !Number.isSafeInteger(uid) || uid < 1 || uid > 4294967295) {
		throw new ImapActionError(
			`"${label}" must be a positive whole number, got "${text}"`,
			'The UID of a message is in the output of Search, Get and the Gmail IMAP Trigger: {{ $json.attributes.uid }}.',
		);
	}
	return uid;
}
