/**
 * A model of n8n's side of a trigger, for the durable-delivery tests: the workflow's static data in memory and as the
 * database holds it (saved at every emit — optionally "lost" when the process dies before the write lands — and after
 * activation), the executions table with its unique deduplication key, done promises that resolve, reject or never
 * settle, and crashes (the process dies: no save, running executions become "crashed") followed by a new activation
 * from what the database holds. Built on the same fake IMAP server and session code as watcherHarness.ts, and on its
 * fake clock (useFakeClock): activate(), crash() and stop() advance it until they are done, waitFor() until the
 * condition holds; nothing waits in real time.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { isReconnectRequiredError } from '../../../../nodes/mail/auth/tokenErrors';
import { createTokenSource } from '../../../../nodes/mail/auth/tokens';
import { resolveMailConnection } from '../../../../nodes/mail/connection';
import { CheckpointStore, checkpointAccountKey } from '../../../../nodes/GmailImapTrigger/checkpointStore';
import { messageAttributes } from '../../../../nodes/mail/imap/messageItems';
import type { RunOutcome } from '../../../../nodes/mail/imap/postActions';
import { openImapSession } from '../../../../nodes/mail/imap/session';
import type { WatchedMessage, WatcherConfig } from '../../../../nodes/mail/imap/watcher';
import { DEFAULT_WATCHER_CONFIG, MailboxWatcher } from '../../../../nodes/mail/imap/watcher';
import type { FakeImapServer } from './fakeImap';
import { fakeClientFactory } from './fakeImap';
import type { LogEntry, TokenAuthority } from './watcherHarness';
import { FAST_TIMING, newAuthority, recordingLogger, settle, tokenContext, waitFor } from './watcherHarness';

export type ExecutionStatus = 'running' | 'success' | 'error' | 'crashed';

export interface ModelExecution {
	id: number;
	key?: string;
	/** `folder:uid` of each item. */
	messages: string[];
	items: INodeExecutionData[];
	status: ExecutionStatus;
	/** Which activation (1, 2, ...) emitted it. */
	activation: number;
	/** n8n gave up before the workflow ran: the message was not delivered by this execution. */
	abandoned?: boolean;
}

/** What n8n does with one emit (decided by the test per emit). */
export type EmitFate =
	/** Execution created; the run succeeds after runMs and the done promise resolves. */
	| 'succeed'
	/** Execution created; the run fails (the done promise resolves with an error run). */
	| 'fail'
	/** Execution created and never reported (the done promise never settles). */
	| 'never'
	/** runWorkflow throws (e.g. a database error): no execution; the done promise rejects. */
	| 'reject'
	/** The static data save lands, then the process dies before the execution is created (call crash() next). */
	| 'lost'
	/** Execution created, then n8n gives up before any node runs (queue mode: a job stalled too often). */
	| 'abandon'
	/** emit itself throws synchronously. */
	| 'throw';

export interface EmitEvent {
	key?: string;
	messages: string[];
	items: INodeExecutionData[];
	/** What happened: an execution was created, skipped as a duplicate, rejected, or the emit threw. */
	result: 'created' | 'duplicate' | 'rejected' | 'threw';
	activation: number;
}

export class N8nModel {
	/** The static data the database holds. */
	saved: IDataObject = {};
	/** The running workflow's static data (n8n's observed object). */
	live: IDataObject = {};
	readonly executions: ModelExecution[] = [];
	readonly emits: EmitEvent[] = [];
	readonly byKey = new Map<string, ModelExecution>();
	/** Decides the fate of each emit (default: succeed). */
	fate: (event: { messages: string[]; activation: number; index: number }) => EmitFate = () => 'succeed';
	/** When true, the static-data save of the next emits does not land (the process dies before the write completes). */
	loseSaves = false;
	/** False: an n8n that ignores deduplication keys (versions before they existed). */
	honoursKeys = true;
	runMs = 5;
	/** Replaces the item builder (e.g. one that fails like a full disk). */
	buildItem?: (message: WatchedMessage) => Promise<INodeExecutionData>;
	activation = 0;
	watcher?: MailboxWatcher;
	logger = recordingLogger();
	readonly fatal: Error[] = [];
	private store?: CheckpointStore;
	private nextId = 1;
	private alive = false;

	constructor(
		readonly server: FakeImapServer,
		readonly config: Partial<WatcherConfig> = {},
		readonly authority: TokenAuthority = newAuthority(server),
	) {}

	get logs(): LogEntry[] {
		return this.logger.entries;
	}

	/** Activates the trigger as n8n does: static data from the database, trigger(), then a save. */
	async activate(): Promise<void> {
		await settle(this.activateNow(), 10_000, 'the activation');
	}

	private async activateNow(): Promise<void> {
		this.activation++;
		const activation = this.activation;
		this.live = clone(this.saved);
		this.alive = true;
		const tokens = await createTokenSource(tokenContext(this.server, this.authority, this.logger), 'mailServerOAuth2Api');
		const connection = resolveMailConnection('mailServerOAuth2Api', this.authority.credentials, ['imap']);
		const accountKey = checkpointAccountKey(connection.imap, tokens.email);
		const store = (this.store = new CheckpointStore(this.live, accountKey));
		const config: WatcherConfig = {
			...DEFAULT_WATCHER_CONFIG,
			folders: ['INBOX'],
			start: { mode: 'new' },
			output: { mode: 'perMessage' },
			firstRetryMs: 20,
			initialBackoffMs: 40,
			maxBackoffMs: 400,
			redeliveryBackoff: { firstMs: 30, maxMs: 200 },
			deliveryScope: JSON.stringify(['workflow-1', 'node-1', accountKey]),
			...this.config,
		};
		const watcher: MailboxWatcher = new MailboxWatcher(config, {
			openSession: async (label, options) =>
				await openImapSession({
					endpoint: connection.imap,
					tokens,
					createClient: fakeClientFactory(this.server),
					logger: this.logger,
					timing: FAST_TIMING,
					track: (client) => watcher.trackClient(client),
					onExists: (event) => options.onExists(event.path, event.count, event.prevCount),
					label,
					minTokenValidityMs: options.minTokenValidityMs,
				}),
			checkpoints: store,
			buildItem: async (message) => await (this.buildItem ?? itemOf)(message),
			emit: (items, onRunFinished, key) => this.emit(activation, items, onRunFinished, key),
			reportPersistentFault: () => undefined,
			reportFatal: (error) => this.fatal.push(error),
			isUnrecoverable: (error) => isReconnectRequiredError(error),
			isOwnError: (error) => error instanceof NodeOperationError,
			logger: this.logger,
			logName: 'Gmail IMAP Trigger',
		});
		this.watcher = watcher;
		await watcher.start({ failFast: true });
		// n8n saves the static data once the triggers are registered.
		this.saved = clone(this.live);
	}

	/** The process dies: nothing more is saved, running executions are marked crashed at the next start. */
	async crash(): Promise<void> {
		this.alive = false;
		await settle(this.watcher?.stop() ?? Promise.resolve(), 10_000, 'the watcher to stop');
		for (const execution of this.executions) if (execution.status === 'running') execution.status = 'crashed';
	}

	/** A graceful stop: the trigger is closed (n8n waits for running executions, which then finish). */
	async stop(): Promise<void> {
		await settle(this.watcher?.stop() ?? Promise.resolve(), 10_000, 'the watcher to stop');
	}

	/** Executions per message (`folder:uid`). */
	executionsOf(message: string): ModelExecution[] {
		return this.executions.filter((execution) => execution.messages.includes(message));
	}

	checkpoint(folder: string) {
		return this.store?.get(folder);
	}

	inFlight() {
		return this.store?.inFlight() ?? [];
	}

	/** Advances the fake clock until the predicate holds (fails after timeoutMs of simulated time). */
	async waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
		await waitFor(predicate, timeoutMs, what);
	}

	private emit(activation: number, items: INodeExecutionData[], onRunFinished: ((outcome: RunOutcome) => void) | undefined, key: string | undefined): boolean {
		const messages = items.map(messageOf);
		// A watcher of an earlier activation must not reach n8n any more (n8n replaced its emit at deactivation).
		if (!this.alive || activation !== this.activation) throw new Error(`emit after deactivation (activation ${activation})`);
		const fate = this.fate({ messages, activation, index: this.emits.length });
		if (fate === 'throw') {
			this.emits.push({ key, messages, items, result: 'threw', activation });
			throw new Error('emit failed');
		}
		// saveStaticData at emit: fire and forget, before the execution exists.
		if (!this.loseSaves) this.saved = clone(this.live);
		if (key !== undefined && this.honoursKeys && this.byKey.has(key)) {
			this.emits.push({ key, messages, items, result: 'duplicate', activation });
			setTimeout(() => onRunFinished?.('duplicate'), 1);
			return onRunFinished !== undefined;
		}
		if (fate === 'lost') {
			this.alive = false;
			return onRunFinished !== undefined;
		}
		if (fate === 'reject') {
			this.emits.push({ key, messages, items, result: 'rejected', activation });
			setTimeout(() => onRunFinished?.('rejected'), 1);
			return onRunFinished !== undefined;
		}
		const execution: ModelExecution = { id: this.nextId++, key, messages, items, status: 'running', activation };
		this.executions.push(execution);
		if (key !== undefined) this.byKey.set(key, execution);
		this.emits.push({ key, messages, items, result: 'created', activation });
		if (fate === 'never') return onRunFinished !== undefined;
		setTimeout(() => {
			if (execution.status !== 'running') return;
			execution.status = fate === 'succeed' ? 'success' : 'error';
			if (fate === 'abandon') execution.abandoned = true;
			const outcome = fate === 'fail' ? 'failed' : fate === 'abandon' ? 'abandoned' : 'succeeded';
			if (this.alive && activation === this.activation) onRunFinished?.(outcome);
		}, this.runMs);
		return onRunFinished !== undefined;
	}
}

/** The item: where the message is, and whether it was emitted again (as the trigger's items say). */
export async function itemOf(message: WatchedMessage): Promise<INodeExecutionData> {
	if (!Buffer.isBuffer(message.source)) for await (const chunk of message.source) void chunk;
	return { json: { attributes: messageAttributes(message) as IDataObject } };
}

export function messageOf(item: INodeExecutionData): string {
	const attributes = item.json.attributes as { mailbox: string; uid: number };
	return `${attributes.mailbox}:${attributes.uid}`;
}

function clone<T>(value: T): T {
	return JSON.parse(JSON.stringify(value)) as T;
}

/** Models created by a test file, stopped after each test: `const model = modelsStoppedAfterEach();`. */
export function modelsStoppedAfterEach(): (server: FakeImapServer, config?: Partial<WatcherConfig>) => N8nModel {
	const created: N8nModel[] = [];
	afterEach(async () => {
		for (const model of created.splice(0)) await model.stop();
	});
	return (server, config = {}) => {
		const model = new N8nModel(server, config);
		created.push(model);
		return model;
	};
}
