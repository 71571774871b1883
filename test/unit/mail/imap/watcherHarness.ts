/**
 * Builds a MailboxWatcher the way the trigger node does — real session code, real token source — but with the
 * fake IMAP client and a fake n8n context for the token source, and records what it emits.
 *
 * Time is jest's fake clock (useFakeClock): every timer, setImmediate and Date.now() of the watcher, the session
 * code, the fake server and the harness runs on it, and it moves only when a test advances it (advance, waitFor,
 * settle). Nothing waits in real time; a timeout in these helpers is simulated time.
 */
import type { Readable } from 'node:stream';
import type { ICredentialDataDecryptedObject, IDataObject, INode, INodeExecutionData, Logger } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { TokenSource } from '../../../../nodes/mail/auth/tokens';
import { createTokenSource } from '../../../../nodes/mail/auth/tokens';
import { isReconnectRequiredError } from '../../../../nodes/mail/auth/tokenErrors';
import { resolveMailConnection } from '../../../../nodes/mail/connection';
import { CheckpointStore, checkpointAccountKey } from '../../../../nodes/GmailImapTrigger/checkpointStore';
import type { FolderCheckpoint } from '../../../../nodes/mail/imap/checkpoint';
import type { RunOutcome } from '../../../../nodes/mail/imap/postActions';
import type { SessionTiming } from '../../../../nodes/mail/imap/session';
import { openImapSession } from '../../../../nodes/mail/imap/session';
import type { WatchedMessage, WatcherConfig } from '../../../../nodes/mail/imap/watcher';
import { DEFAULT_WATCHER_CONFIG, MailboxWatcher } from '../../../../nodes/mail/imap/watcher';
import type { FakeImapServer } from './fakeImap';
import { fakeClientFactory } from './fakeImap';

export const TEST_NODE: INode = {
	id: 'node-1',
	name: 'Gmail IMAP Trigger',
	type: 'n8n-nodes-gmail-xoauth2.gmailImapTrigger',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
	credentials: { mailServerOAuth2Api: { id: 'cred-1', name: 'Test mail' } },
};

export interface LogEntry {
	level: string;
	message: string;
	meta?: unknown;
}

export function recordingLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
	const log = (level: string) => (message: string, meta?: unknown) => {
		entries.push({ level, message, meta });
	};
	return { entries, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') } as unknown as Logger & {
		entries: LogEntry[];
	};
}

export interface TokenAuthority {
	refreshCount: number;
	/** Token lifetime for the next refreshes, seconds. */
	lifetimeSeconds: number;
	/** When set, refreshed tokens expire at this moment (epoch ms) whatever the lifetime: a token endpoint that hands out a cached token. */
	fixedExpiresAt?: number;
	/** When set, refreshes fail with this (e.g. n8n's "needs to be reconnected"). */
	refreshFailure?: () => Error | undefined;
	credentials: ICredentialDataDecryptedObject;
}

/** A fake n8n context for createTokenSource: stored credential + a refreshOAuth2Token helper that issues tokens. */
export function tokenContext(server: FakeImapServer, authority: TokenAuthority, logger: Logger) {
	return {
		getNode: () => TEST_NODE,
		logger,
		getCredentials: async <T extends object = ICredentialDataDecryptedObject>() =>
			JSON.parse(JSON.stringify(authority.credentials)) as T,
		helpers: {
			async refreshOAuth2Token(this: unknown, type: string): Promise<unknown> {
				if (type !== 'mailServerOAuth2Api') throw new Error('wrong credential type');
				authority.refreshCount++;
				const failure = authority.refreshFailure?.();
				if (failure) throw failure;
				const accessToken = `tok-${authority.refreshCount}-${Math.random().toString(36).slice(2)}`;
				server.acceptedTokens.add(accessToken);
				const expiresAt = authority.fixedExpiresAt ?? Date.now() + authority.lifetimeSeconds * 1000;
				const tokenData = {
					...(authority.credentials.oauthTokenData as IDataObject),
					access_token: accessToken,
					expires_in: Math.round((expiresAt - Date.now()) / 1000),
					n8n_expires_at: String(expiresAt),
				};
				authority.credentials = { ...authority.credentials, oauthTokenData: tokenData };
				return tokenData;
			},
		},
	};
}

export function newAuthority(server: FakeImapServer, lifetimeSeconds = 3600): TokenAuthority {
	const accessToken = 'tok-initial';
	server.acceptedTokens.add(accessToken);
	return {
		refreshCount: 0,
		lifetimeSeconds,
		credentials: {
			email: 'user@example.test',
			imapHost: '127.0.0.1',
			imapPort: 993,
			accessTokenUrl: 'https://token.example.test/token',
			clientId: 'client',
			clientSecret: 'client-secret-value',
			oauthTokenData: {
				access_token: accessToken,
				refresh_token: 'refresh-token-value',
				expires_in: lifetimeSeconds,
				n8n_expires_at: String(Date.now() + lifetimeSeconds * 1000),
			},
		},
	};
}

/** n8n's own message for invalid_grant (what refreshOAuth2Token throws). */
export function n8nReconnectError(): Error {
	return new NodeOperationError(TEST_NODE, 'The credential "Test mail" needs to be reconnected.');
}

export interface EmitRecord {
	uids: number[];
	folders: string[];
	items: INodeExecutionData[];
	/** The node static data as it was when the emit went out (what n8n would save with it). */
	savedAtEmit: IDataObject;
	at: number;
}

export interface Harness {
	watcher: MailboxWatcher;
	staticData: IDataObject;
	store: CheckpointStore;
	emits: EmitRecord[];
	fatal: Error[];
	faults: Error[];
	logger: Logger & { entries: LogEntry[] };
	authority: TokenAuthority;
	tokens: TokenSource;
	/** Decide how each run ends (default: succeeded, reported after `runMs`). */
	outcome: (uids: number[]) => RunOutcome;
	/** Runs reported finished so far, and the most runs that were unfinished at once (counting the one starting). */
	runsFinished: number;
	maxRunsInFlight: number;
	checkpoint(folder: string): FolderCheckpoint | undefined;
	emittedUids(folder?: string): number[];
	/** Advances the fake clock until the predicate holds (fails after timeoutMs of simulated time). */
	waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
	/** Advances the fake clock until the promise settles (e.g. watcher.start(), watcher.stop()); its result. */
	settle<T>(promise: Promise<T>, timeoutMs?: number, what?: string): Promise<T>;
}

export const FAST_TIMING: SessionTiming = {
	autoIdleDelayMs: 50,
	maxIdleTimeMs: 60_000,
	socketTimeoutMs: 60_000,
	connectionTimeoutMs: 5_000,
};

export async function createHarness(
	server: FakeImapServer,
	config: Partial<WatcherConfig> & { folders?: string[] },
	options: {
		authority?: TokenAuthority;
		staticData?: IDataObject;
		runMs?: number;
		/** Replaces the default item builder (which reads the whole source). */
		buildItem?: (message: WatchedMessage) => Promise<INodeExecutionData>;
		/** Called after a persistent fault was recorded (e.g. to make n8n's saveFailedExecution throw). */
		onFault?: (error: Error) => void;
		/** false: an n8n without createDeferredPromise, which cannot report the end of a run. */
		reportsRunEnd?: boolean;
	} = {},
): Promise<Harness> {
	const logger = recordingLogger();
	const authority = options.authority ?? newAuthority(server);
	const context = tokenContext(server, authority, logger);
	const tokens = await createTokenSource(context, 'mailServerOAuth2Api');
	const connection = resolveMailConnection('mailServerOAuth2Api', authority.credentials, ['imap']);
	const staticData: IDataObject = options.staticData ?? {};
	const store = new CheckpointStore(staticData, checkpointAccountKey(connection.imap, tokens.email));
	const emits: EmitRecord[] = [];
	const fatal: Error[] = [];
	const faults: Error[] = [];
	const runMs = options.runMs ?? 5;

	const fullConfig: WatcherConfig = {
		...DEFAULT_WATCHER_CONFIG,
		folders: ['INBOX'],
		start: { mode: 'new' },
		output: { mode: 'perMessage' },
		firstRetryMs: 20,
		initialBackoffMs: 40,
		maxBackoffMs: 400,
		...config,
	};

	const harness = {} as Harness;
	const watcher: MailboxWatcher = new MailboxWatcher(fullConfig, {
		openSession: async (label, sessionOptions) =>
			await openImapSession({
				endpoint: connection.imap,
				tokens,
				createClient: fakeClientFactory(server),
				logger,
				timing: FAST_TIMING,
				track: (client) => watcher.trackClient(client),
				onExists: (event) => sessionOptions.onExists(event.path, event.count, event.prevCount),
				label,
				minTokenValidityMs: sessionOptions.minTokenValidityMs,
			}),
		checkpoints: store,
		buildItem: options.buildItem ?? defaultBuildItem,
		emit: (items, onRunFinished) => {
			// Error items carry where the message is under `attributes` (as the real items do).
			const attributes = (item: INodeExecutionData) => (item.json.attributes ?? {}) as { uid?: number; mailbox?: string };
			const uids = items.map((item) => (item.json.uid ?? attributes(item).uid) as number);
			emits.push({
				uids,
				folders: items.map((item) => (item.json.folder ?? attributes(item).mailbox) as string),
				items,
				savedAtEmit: JSON.parse(JSON.stringify(staticData)) as IDataObject,
				at: Date.now(),
			});
			harness.maxRunsInFlight = Math.max(harness.maxRunsInFlight, emits.length - harness.runsFinished);
			if (options.reportsRunEnd === false) return false;
			if (onRunFinished) {
				setTimeout(() => {
					harness.runsFinished++;
					onRunFinished(harness.outcome(uids));
				}, runMs);
			}
			return onRunFinished !== undefined;
		},
		reportPersistentFault: (error) => {
			faults.push(error);
			options.onFault?.(error);
		},
		reportFatal: (error) => fatal.push(error),
		isUnrecoverable: (error) => isReconnectRequiredError(error),
		isOwnError: (error) => error instanceof NodeOperationError,
		logger,
		logName: 'Gmail IMAP Trigger',
	});

	Object.assign(harness, {
		watcher,
		staticData,
		store,
		emits,
		fatal,
		faults,
		logger,
		authority,
		tokens,
		outcome: () => 'succeeded' as RunOutcome,
		runsFinished: 0,
		maxRunsInFlight: 0,
		checkpoint: (folder: string) => store.get(folder),
		emittedUids: (folder?: string) =>
			emits.flatMap((emit) => emit.uids.filter((_uid, index) => folder === undefined || emit.folders[index] === folder)),
		waitFor,
		settle,
	});
	return harness;
}

/** The item the harness records: where the message came from and how many bytes its source had. */
export async function defaultBuildItem(message: WatchedMessage): Promise<INodeExecutionData> {
	return {
		json: {
			uid: message.uid,
			folder: message.folder,
			uidValidity: message.uidValidity,
			messageId: message.messageId ?? null,
			labels: message.labels ?? null,
			threadId: message.threadId ?? null,
			emailId: message.emailId ?? null,
			sourceBytes: (await readAll(message.source)).length,
		},
	};
}

async function readAll(source: Buffer | Readable): Promise<Buffer> {
	if (Buffer.isBuffer(source)) return source;
	const chunks: Buffer[] = [];
	for await (const chunk of source) chunks.push(Buffer.from(chunk as Buffer));
	return Buffer.concat(chunks);
}

/**
 * Jest's modern fake timers for every test of the calling file: setTimeout/setInterval/setImmediate, Date and
 * performance are faked; process.nextTick and queueMicrotask stay real (streams and promise plumbing need them,
 * and they are not time). Each test starts on a fresh clock, so timers a test left behind never fire in another.
 * Stop watchers in an afterEach with settle(): the fake clock is still installed then.
 */
export function useFakeClock(): void {
	beforeEach(() => {
		jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
	});
	afterAll(() => {
		jest.useRealTimers();
	});
}

/**
 * The fake clock's step while waiting for a condition: a condition is checked at least every millisecond of
 * simulated time. Timers always fire at their exact time whatever the step; each setImmediate scheduled while the
 * clock advances takes 1 ms (@sinonjs/fake-timers), about what a round trip to a local server takes.
 */
const STEP_MS = 1;

function requireFakeClock(helper: string): void {
	if (!('clock' in setTimeout)) throw new Error(`${helper} needs jest's fake timers (call useFakeClock() in the test file)`);
}

/** Lets `ms` of simulated time pass: every timer due meanwhile fires, promise callbacks run after each. */
export async function advance(ms: number): Promise<void> {
	requireFakeClock('advance');
	await jest.advanceTimersByTimeAsync(ms);
}

/** Advances the fake clock in small steps until the predicate holds; fails after timeoutMs of simulated time. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
	requireFakeClock('waitFor');
	const deadline = Date.now() + timeoutMs;
	while (!predicate()) {
		if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms of simulated time)`);
		await jest.advanceTimersByTimeAsync(Math.min(STEP_MS, deadline - Date.now()));
	}
}

/** Advances the fake clock until the promise settles; resolves or rejects as it does. */
export async function settle<T>(promise: Promise<T>, timeoutMs = 10_000, what = 'the promise'): Promise<T> {
	let settled = false;
	promise.then(
		() => (settled = true),
		() => (settled = true),
	);
	await waitFor(() => settled, timeoutMs, what);
	return await promise;
}

/**
 * A promise that resolves `ms` later on the fake clock — for code the watcher calls (an item builder that takes a
 * while); a test never awaits it directly, it advances the clock instead.
 */
export function delay(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}
