/**
 * Scripted servers and opened mailboxes for the Pop3Mailbox tests: a FakeMailbox with per-command overrides, a LIST
 * that lies about sizes, a connection that closes at a command, and a token source with a refresh. Call
 * `closeMailboxFixtures` after each test.
 */
import type { TokenRejectedError } from '../../../../nodes/mail/auth/errors';
import { AccessTokenRejectedError } from '../../../../nodes/mail/auth/tokenErrors';
import type { TokenSource } from '../../../../nodes/mail/auth/tokens';
import { openPop3Mailbox, type Pop3Mailbox } from '../../../../nodes/mail/pop3/mailbox';
import { SeenTracker } from '../../../../nodes/mail/pop3/seenState';
import { GOOD_TOKEN, readAll, USER } from './clientTestKit';
import { type FakeMailbox, type FakePop3Server, type FakeSession, pause, startFakePop3Server } from './fakePop3Server';

/** A token source that hands out `tokens` in order: the first from getAccessToken, the next on each refresh. */
export function tokenSource(tokens: string[]): TokenSource & { refreshed: Array<string | undefined> } {
	let index = 0;
	const refreshed: Array<string | undefined> = [];
	return {
		refreshed,
		credentialType: 'mailServerOAuth2Api',
		email: USER,
		getAccessToken: async () => tokens[index],
		refresh: async (rejected?: string) => {
			refreshed.push(rejected);
			index = Math.min(index + 1, tokens.length - 1);
			return tokens[index];
		},
		expiresAt: () => undefined,
		redact: (text: unknown) => String(text),
		rejectedAfterRefreshError: (error: TokenRejectedError) =>
			new AccessTokenRejectedError({ type: 'mailServerOAuth2Api' }, { protocol: error.protocol, email: USER, challenge: error.challenge }),
	};
}

let servers: FakePop3Server[] = [];
let opened: Pop3Mailbox[] = [];

/** Destroys every mailbox opened and closes every server started since the last call. */
export async function closeMailboxFixtures(): Promise<void> {
	for (const mailbox of opened) mailbox.destroy();
	opened = [];
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
}

export type Override = (command: string, session: FakeSession) => Promise<boolean> | boolean;

export async function serve(mailbox: FakeMailbox, override?: Override): Promise<FakePop3Server> {
	const fallback = mailbox.handler();
	const server = await startFakePop3Server({
		onCommand: async (command, session) => {
			if (override && (await override(command, session))) return;
			await fallback(command, session);
		},
	});
	servers.push(server);
	return server;
}

/** LIST as the mailbox would answer it, but with these sizes (message number → size): a server whose LIST lies. */
export function listedAs(mailbox: FakeMailbox, sizes: Record<number, number>): Override {
	return (command, session) => {
		if (command !== 'LIST') return false;
		const lines = mailbox.messages.map((content, index) => `${index + 1} ${sizes[index + 1] ?? content.length}\r\n`).join('');
		void session.send(`+OK ${mailbox.messages.length} messages\r\n${lines}.\r\n`);
		return true;
	};
}

/** The connection closes when the server receives `command`. */
export function closesAt(command: string): Override {
	return (received, session) => {
		if (received !== command) return false;
		session.destroy();
		return true;
	};
}

export async function open(server: FakePop3Server, tokens: TokenSource, user = USER): Promise<Pop3Mailbox> {
	const mailbox = await openPop3Mailbox({
		endpoint: { host: '127.0.0.1', port: server.port, security: 'none', tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2' } },
		tokens,
		user,
		timeouts: { connect: 3000, greeting: 3000, command: 3000, idle: 3000 },
	});
	opened.push(mailbox);
	return mailbox;
}

export const message = (subject: string) => `Subject: ${subject}\r\n\r\nbody of ${subject}\r\n`;

/**
 * fetchNew until it fails, with the texts the consumer got and the tracker's unseen UIDLs afterwards. `consumeMs`:
 * how long the consumer takes per message (so that a refusal and a close can arrive while it works).
 */
export async function fetchUntilBroken(
	mailbox: FakeMailbox,
	override: Override,
	options: { continueOnMessageError?: boolean; deleteAfter?: boolean; consumeMs?: number } = {},
) {
	const server = await serve(mailbox, override);
	const session = await open(server, tokenSource([GOOD_TOKEN]));
	const tracker = SeenTracker.empty('acct');
	const consumed: string[] = [];
	const error = await session
		.fetchNew(tracker, {
			deleteAfter: options.deleteAfter ?? false,
			continueOnMessageError: options.continueOnMessageError ?? true,
			consume: async (source) => {
				const text = (await readAll(source)).toString('latin1');
				if (options.consumeMs) await pause(options.consumeMs);
				consumed.push(text);
				return text;
			},
		})
		.then(
			() => undefined,
			(failure: unknown) => failure,
		);
	const listing = mailbox.uids.map((uidl, index) => ({ messageNumber: index + 1, uidl, size: 1 }));
	const unseen = tracker.observe(listing).unseen.map((entry) => entry.uidl);
	return { server, error, consumed, unseen };
}

/** Resolves once the client has written nothing new for `quietMs` (at most 500 ms): all it pipelined has arrived. */
export async function clientQuiet(session: FakeSession, quietMs = 15): Promise<void> {
	const deadline = Date.now() + 500;
	let seen = session.received.length;
	while (Date.now() < deadline) {
		await pause(quietMs);
		if (session.received.length === seen) return;
		seen = session.received.length;
	}
}
