/**
 * Whether a session's server honours partial ranges (BODY.PEEK[]<0.n>), so that small messages may come whole with
 * their attributes (reader.ts). Some servers ignore the range and send whole messages (imapflow names Tencent Exmail):
 * a metadata FETCH with contents would then download a chunk's messages in full (unbounded memory, messages over Max
 * Message Size), so on such a server none are asked for. Known for Gmail and Dovecot; otherwise asked once per
 * session for one byte of a small message. On such a server the probe itself downloads that one message (at most
 * `probeMaxBytes`).
 */
import type { FetchMessageObject } from 'imapflow';

import type { ImapClient } from '../client';
import { addFetchRow } from '../fetchRows';
import type { ImapSession } from '../session';
import type { WatcherLog } from './log';

/**
 * Servers known to answer partial ranges as RFC 3501 says, so no probe is spent on them: Gmail (X-GM-EXT-1) and
 * Dovecot by its ID answer (the integration tests check Dovecot's answers byte for byte).
 */
function knownToHonour(client: ImapClient): boolean {
	const name = client.serverInfo?.name;
	return client.capabilities.has('X-GM-EXT-1') || (typeof name === 'string' && /^dovecot\b/i.test(name.trim()));
}

export class PartialRanges {
	/** Per session; absent: not known yet (no contents are asked for with the attributes meanwhile). */
	private readonly known = new WeakMap<ImapSession, boolean>();

	constructor(
		private readonly probeMaxBytes: number,
		private readonly log: WatcherLog,
		private readonly signal: AbortSignal,
	) {}

	honoured(session: ImapSession): boolean {
		return this.known.get(session) === true;
	}

	/** The server answered with more than was asked: no more contents with the attributes on this session. */
	ignored(session: ImapSession): void {
		this.known.set(session, false);
		this.log.info('the server does not honour partial FETCH ranges; small messages are fetched after their attributes');
	}

	/** At a session's first pass, with a folder selected: known servers at once, others by the newest message. */
	async learn(session: ImapSession): Promise<void> {
		if (this.known.has(session) || !session.isOpen) return;
		if (knownToHonour(session.client)) {
			this.known.set(session, true);
			return;
		}
		if (!session.client.mailbox || !session.client.mailbox.exists) return;
		// Its size first: see learnFrom.
		const newest = new Map<number, FetchMessageObject>();
		try {
			for await (const message of session.client.fetch('*', { uid: true, size: true }, { uid: true })) addFetchRow(newest, message);
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			if (!session.isOpen || this.signal.aborted) throw error;
			return;
		}
		await this.learnFrom(session, newest);
	}

	/**
	 * Still unknown: probes with the smallest of these messages that can show the answer (longer than one byte) and is
	 * small enough to come whole at little cost where the range is ignored; with none, the question stays open.
	 */
	async learnFrom(session: ImapSession, metadata: Map<number, FetchMessageObject>): Promise<void> {
		if (this.known.has(session)) return;
		let smallest: FetchMessageObject | undefined;
		for (const message of metadata.values()) {
			const size = message.size ?? 0;
			if (size > 1 && size <= this.probeMaxBytes && (smallest === undefined || size < (smallest.size ?? 0))) smallest = message;
		}
		if (smallest) await this.probe(session, String(smallest.uid));
	}

	private async probe(session: ImapSession, uid: string): Promise<void> {
		let honoured: boolean | undefined;
		try {
			for await (const message of session.client.fetch(uid, { uid: true, source: { maxLength: 1 } }, { uid: true })) {
				if (message.source !== undefined) honoured = message.source.length <= 1;
			}
		} catch (error) {
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- handled by the loop's reconnect
			if (!session.isOpen || this.signal.aborted) throw error;
			honoured = false;
		}
		// No answer (the message vanished): asked again later.
		if (honoured === undefined) return;
		if (honoured) this.known.set(session, true);
		else this.ignored(session);
	}
}
