/** Items for messages: the caller's builder, and whether a failure makes an error item or a retry. */
import type { FetchMessageObject } from 'imapflow';
import type { INodeExecutionData } from 'n8n-workflow';

import { isMessageContentError } from '../../message/errors';
import type { MessageDescription, WatchedMessage } from '../messageItems';
import { describeMessage, messageErrorItem } from '../messageItems';
import type { ImapSession } from '../session';
import { messageIdOf, toEpoch } from './admission';
import { errorText, isMessageParseFailure } from './errors';
import type { WatcherLog } from './log';
import { fetchEnvelope } from './reader';

/**
 * The item for a message, or an error item when the message itself cannot be parsed (an honest error item beats
 * losing it). Any other failure — the download broke, the connection closed, storing an attachment failed (disk
 * full) — is thrown: the message is not emitted, and is read again after a backoff.
 */
export async function buildMessageItem(
	build: (message: WatchedMessage) => Promise<INodeExecutionData>,
	session: ImapSession,
	message: WatchedMessage,
	signal: AbortSignal,
	log: WatcherLog,
): Promise<{ item: INodeExecutionData; parsed: boolean }> {
	let sourceFailed = false;
	if (!Buffer.isBuffer(message.source)) message.source.once('error', () => (sourceFailed = true));
	try {
		return { item: await build(message), parsed: true };
	} catch (error) {
		if (!isMessageContentError(error) && (!session.isOpen || signal.aborted || sourceFailed || !isMessageParseFailure(error))) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			throw error;
		}
		log.warn(`message ${describeMessage(message)} could not be parsed; emitting it as an error item`, { error: errorText(error) });
		// The rest of a streamed message first: the ENVELOPE answer comes after it on the same connection.
		await discardRest(message.source).catch(() => undefined);
		const envelope = message.envelope ?? (await fetchEnvelope(session, message.uid));
		return {
			item: messageErrorItem({ ...message, envelope }, `The message could not be parsed: ${errorText(error)}`),
			parsed: false,
		};
	}
}

/** The error item for a message that is not read (the server kept failing it, or it is too large). */
export function unreadableItem(
	folder: string,
	uidValidity: string,
	uid: number,
	meta: FetchMessageObject | undefined,
	reason: string,
	redelivered = false,
): INodeExecutionData {
	const message = describedMessage(folder, uidValidity, uid, meta);
	if (redelivered) message.redelivered = true;
	return messageErrorItem(message, reason);
}

/**
 * Reads what is left of a streamed message whose item failed, so the session can go on with the next command
 * (imapflow delivers the rest of the download on the same connection). Bounded: the message is at most Max Message
 * Size, which the metadata check enforced before the download.
 */
export async function discardRest(source: WatchedMessage['source']): Promise<void> {
	if (Buffer.isBuffer(source) || source.readableEnded || source.destroyed) return;
	for await (const chunk of source) void chunk;
}

/** The message as the metadata FETCH describes it (no content): for items, error items and log lines. */
export function describedMessage(folder: string, uidValidity: string, uid: number, meta: FetchMessageObject | undefined): MessageDescription {
	const internalDate = toEpoch(meta?.internalDate);
	return {
		folder,
		uid,
		uidValidity,
		size: meta?.size,
		flags: [...(meta?.flags ?? [])],
		internalDate: internalDate !== undefined ? new Date(internalDate) : undefined,
		messageId: messageIdOf(meta),
		envelope: meta?.envelope,
		labels: meta?.labels ? [...meta.labels] : undefined,
		threadId: meta?.threadId,
		emailId: meta?.emailId,
	};
}
