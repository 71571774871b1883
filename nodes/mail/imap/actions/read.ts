/**
 * Finding and reading messages: the search (the trigger's Custom Email Rules, Gmail Search, received since/before),
 * newest first up to a limit, and the items: headers only (from the server's ENVELOPE) or the trigger's formats.
 */
import type { FetchMessageObject, FetchQueryObject, SearchObject } from 'imapflow';
import type { INodeExecutionData } from 'n8n-workflow';

import { isMessageContentError } from '../../message/errors';
import { messageToItem, type MessageToItemOptions } from '../../message/toItem';
import { addFetchRow } from '../fetchRows';
import { messageAttributes, messageErrorItem, type MessageDescription } from '../messageItems';
import { toUidSet } from '../postActions';
import { andSearch, usesGmailOnlyKeys } from '../search';
import type { ImapActionClient } from './client';
import { ImapActionError } from './errors';
import type { SelectedFolder } from './session';

export interface SearchRequest {
	/** Parsed Custom Email Rules (parseCustomCriteria). */
	criteria?: SearchObject;
	/** Gmail search syntax (X-GM-RAW). */
	gmailSearch?: string;
	/** Received (INTERNALDATE) at or after / before these moments. */
	since?: Date;
	before?: Date;
	/** undefined: every match. */
	limit?: number;
	newestFirst: boolean;
}

const METADATA_QUERY: FetchQueryObject = { uid: true, flags: true, internalDate: true, size: true, envelope: true };
/** Messages whose attributes are fetched in one command while a search is cut to its limit. */
const METADATA_CHUNK = 200;

export function uidsFromSearch(result: number[] | false | undefined, what: string): number[] {
	if (result === false) throw new ImapActionError(`The server refused the search for ${what}`, 'Check the search criteria.');
	if (result === undefined) throw new ImapActionError(`The search for ${what} got no answer: the connection closed`, 'Run the node again.');
	return result;
}

/** The SearchObject of a request; refuses Gmail-only keys on other servers (imapflow would drop or refuse them). */
export function buildSearch(request: SearchRequest, gmail: boolean): SearchObject {
	const gmailSearch = request.gmailSearch?.trim();
	const search = andSearch(
		request.criteria,
		gmailSearch ? { gmraw: gmailSearch } : undefined,
		// IMAP's SINCE/BEFORE compare dates only; the exact moments are checked on INTERNALDATE afterwards.
		request.since ? { since: request.since } : undefined,
		request.before ? { before: new Date(request.before.getTime() + 24 * 3600 * 1000) } : undefined,
	);
	if (!gmail && usesGmailOnlyKeys(search)) {
		throw new ImapActionError(
			'Gmail Search (X-GM-RAW) and Gmail label criteria need a Gmail server (X-GM-EXT-1); this server does not offer it',
			'Leave "Gmail Search" empty and use "Custom Email Rules" instead, e.g. ["UNSEEN", ["FROM", "billing@example.com"]].',
		);
	}
	return search;
}

/** The messages of the selected folder that match, with their attributes, newest (highest UID) first unless asked otherwise. */
export async function searchMessages(
	client: ImapActionClient,
	folder: SelectedFolder,
	request: SearchRequest,
	gmail: boolean,
): Promise<FetchMessageObject[]> {
	const search = buildSearch(request, gmail);
	const uids = uidsFromSearch(await client.search(search, { uid: true }), `messages in "${folder.path}"`);
	uids.sort((a, b) => (request.newestFirst ? b - a : a - b));
	const found: FetchMessageObject[] = [];
	for (let start = 0; start < uids.length; start += METADATA_CHUNK) {
		const chunk = uids.slice(start, start + METADATA_CHUNK);
		const metadata = await fetchMetadata(client, chunk, gmail);
		for (const uid of chunk) {
			const message = metadata.get(uid);
			if (!message || !receivedInRange(message, request)) continue;
			found.push(message);
			if (request.limit !== undefined && found.length >= request.limit) return found;
		}
	}
	return found;
}

function receivedInRange(message: FetchMessageObject, request: SearchRequest): boolean {
	if (!request.since && !request.before) return true;
	const received = message.internalDate ? new Date(message.internalDate).getTime() : Number.NaN;
	if (Number.isNaN(received)) return true;
	if (request.since && received < request.since.getTime()) return false;
	return !(request.before && received >= request.before.getTime());
}

/**
 * The attributes of these messages (Gmail: labels and thread ids too), by UID. Ones the answer left out are asked for
 * once more (imapflow can drop rows when it retries a throttled FETCH); a message still missing was expunged meanwhile.
 */
export async function fetchMetadata(client: ImapActionClient, uids: number[], gmail: boolean): Promise<Map<number, FetchMessageObject>> {
	const result = new Map<number, FetchMessageObject>();
	const query: FetchQueryObject = gmail ? { ...METADATA_QUERY, labels: true, threadId: true } : METADATA_QUERY;
	for (let attempt = 0, wanted = uids; attempt < 2 && wanted.length > 0; attempt++) {
		// Collected first: another command inside imapflow's fetch iterator would deadlock it.
		const asked = new Set(wanted);
		for await (const message of client.fetch(toUidSet(wanted), query, { uid: true })) addFetchRow(result, message, asked);
		wanted = wanted.filter((uid) => !result.has(uid));
	}
	return result;
}

/** The trigger's description of a fetched message (what `attributes` and error items are made of). */
export function describeFetched(folder: SelectedFolder, message: FetchMessageObject): MessageDescription {
	const internalDate = message.internalDate ? new Date(message.internalDate) : undefined;
	return {
		folder: folder.path,
		uid: message.uid,
		uidValidity: folder.uidValidity,
		flags: [...(message.flags ?? [])],
		internalDate: internalDate && !Number.isNaN(internalDate.getTime()) ? internalDate : undefined,
		size: message.size,
		messageId: message.envelope?.messageId,
		envelope: message.envelope,
		labels: message.labels ? [...message.labels] : undefined,
		threadId: message.threadId,
		emailId: message.emailId,
	};
}

/** Headers only: what the server's ENVELOPE says (no download), and the message's attributes. */
export function headersItem(folder: SelectedFolder, message: FetchMessageObject): INodeExecutionData {
	const description = describeFetched(folder, message);
	// messageErrorItem's headers are the envelope's, cut and cleaned; without its error field they are the item.
	const { json } = messageErrorItem(description, '');
	delete json.error;
	return { json: { ...(json.headers as object), attributes: json.attributes } };
}

export type ItemSettingsForRead = Omit<MessageToItemOptions, 'attributes'>;

/**
 * The item of one message in one of the trigger's formats, streamed from the server. A message above maxBytes is
 * not downloaded: its item carries the headers, attributes and an `error` saying so (as the trigger's).
 */
export async function messageItem(
	client: ImapActionClient,
	folder: SelectedFolder,
	message: FetchMessageObject,
	settings: ItemSettingsForRead,
	maxBytes: number,
): Promise<INodeExecutionData> {
	const description = describeFetched(folder, message);
	if (message.size !== undefined && message.size > maxBytes) {
		const mb = (bytes: number) => `${Math.round((bytes / 1048576) * 10) / 10} MB`;
		return messageErrorItem(
			description,
			`The message is ${mb(message.size)}, larger than "Max Message Size (MB)" allows (${mb(maxBytes)}), so it was not downloaded`,
		);
	}
	const download = await client.download(String(message.uid), undefined, { uid: true });
	if (!download.content) {
		throw new ImapActionError(`The server sent no content for UID ${message.uid} in "${folder.path}"`, 'It may have been deleted meanwhile; run the node again.');
	}
	try {
		return await messageToItem(download.content, { ...settings, attributes: messageAttributes(description) });
	} catch (error) {
		// The message's own fault (unparseable MIME) becomes its item, as in the trigger; anything else is the operation's.
		// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- the node glue maps it
		if (!isMessageContentError(error)) throw error;
		return messageErrorItem(description, `The message could not be parsed: ${(error as Error).message}`);
	}
}
