/**
 * A stand-in for n8n's trigger context, built from what n8n 2.41 does (see shared/reference/n8n-runtime.md and
 * n8n's ActiveWorkflowManager / WorkflowStaticDataService / TriggerContext), so the real GmailImapTrigger node can
 * be activated, restarted and deactivated against the real mail stack:
 *
 * - Static data: n8n wraps the workflow's static data in ObservableObject and saves it to the database only when
 *   its `__dataChanged` flag is set, at two moments: when an emit goes out, and once after a successful activation
 *   (ActiveWorkflowManager.add → workflowStaticDataService.saveStaticData). The harness does exactly that with
 *   n8n-workflow's own ObservableObject; `database` is what a restarted n8n would load.
 * - Credentials: getCredentials reads the stored data on every call; `helpers.refreshOAuth2Token` must be called
 *   bound (it uses this.getCredentials), really calls the stack's token endpoint with the refresh_token grant,
 *   merges the answer into the stored token data with `n8n_expires_at` as a string of epoch ms, and turns
 *   invalid_grant into n8n's "needs to be reconnected" error. A network failure surfaces as the raw error.
 * - emit: records the items, saves static data, "runs" the workflow through a test-supplied function and resolves
 *   the donePromise with an IRun whose runData holds the trigger node's task (the workflow ran), carrying
 *   `resultData.error` when that function throws (a node after the trigger failed).
 * - emitError: records the error and deactivates (n8n removes the workflow, which calls closeFunction).
 * - saveFailedExecution, logger: recorded.
 */
import type {
	IBinaryData,
	ICredentialDataDecryptedObject,
	IDataObject,
	INode,
	INodeExecutionData,
	IRun,
	ITaskData,
	ITriggerFunctions,
	ITriggerResponse,
	Logger,
	NodeTypeAndVersion,
	WorkflowActivateMode,
} from 'n8n-workflow';
import { NodeOperationError, ObservableObject } from 'n8n-workflow';

import type { GmailImapTrigger as GmailImapTriggerClass } from '../../../nodes/GmailImapTrigger/GmailImapTrigger.node';
import { DEFAULT_WATCHER_CONFIG } from '../../../nodes/mail/imap/watcher';
import type { Stack } from '../../stack';
import { waitUntil } from '../../support/waitUntil';

// Named with its extension: tsx (used by the benchmark) resolves "X.node" to the codex file X.node.json first.
const { GmailImapTrigger } = require('../../../nodes/GmailImapTrigger/GmailImapTrigger.node.ts') as {
	GmailImapTrigger: typeof GmailImapTriggerClass;
};

export const NODE_NAME = 'Gmail IMAP Trigger';
const CREDENTIAL_TYPE = 'mailServerOAuth2Api';

export interface LogEntry {
	level: 'debug' | 'info' | 'warn' | 'error';
	message: string;
	meta?: unknown;
}

export interface EmitRecord {
	items: INodeExecutionData[];
	at: number;
}

/** The credential as n8n stores it (shared by every activation, like n8n's credentials table). */
/** The deduplication keys of every execution created in this test process (n8n's unique index, one database). */
const EXECUTION_KEYS = new Set<string>();
/** Which workflow a saved static data object belongs to. */
const WORKFLOW_OF_DATABASE = new WeakMap<IDataObject, string>();
let workflowCounter = 0;

export class CredentialStore {
	data: ICredentialDataDecryptedObject;
	refreshRequests = 0;

	constructor(stack: Stack, user: string, tokens: { access_token: string; refresh_token: string; expires_in: number }) {
		this.data = {
			email: user,
			authUrl: stack.oauth.authorizeUrl,
			accessTokenUrl: stack.oauth.tokenUrl,
			clientId: stack.oauth.clientId,
			clientSecret: stack.oauth.clientSecret,
			authentication: 'body',
			imapHost: stack.host,
			imapPort: stack.ports.imaps,
			imapSecurity: 'tls',
			// Certificate checks on: the stack's certificate is verified against its own CA, given to the node through the
			// credential's CA field as a user with a company CA would.
			allowUnauthorizedCerts: false,
			caCertificate: stack.caCertPem,
			oauthTokenData: {
				access_token: tokens.access_token,
				refresh_token: tokens.refresh_token,
				expires_in: tokens.expires_in,
				token_type: 'Bearer',
				n8n_expires_at: String(Date.now() + tokens.expires_in * 1000),
			},
		};
	}
}

export type WorkflowRun = (items: INodeExecutionData[]) => Promise<void> | void;

export interface TriggerHarnessOptions {
	stack: Stack;
	credentials: CredentialStore;
	parameters: IDataObject;
	/** The node static data saved by a previous activation (what n8n loads from its database). */
	database?: IDataObject;
	mode?: 'trigger' | 'manual';
	activationMode?: WorkflowActivateMode;
	/** The workflow behind the trigger; throwing makes the run fail. Default: succeeds at once. */
	run?: WorkflowRun;
	/** Runs before n8n's binary store keeps an attachment; throwing stands for a store that fails (a full disk). */
	beforeStoringBinary?: (fileName: string | undefined) => void;
	/**
	 * Watcher settings the node has no parameter for (e.g. `itemRetry`, the retry list's policy), in place of
	 * DEFAULT_WATCHER_CONFIG's for this trigger only: applied while the node reads its settings, put back right after.
	 */
	watcherDefaults?: Partial<typeof DEFAULT_WATCHER_CONFIG>;
	/** The nodes after the trigger in the workflow (n8n's getChildNodes, with parameters); default none. */
	childNodes?: NodeTypeAndVersion[];
}

/** n8n's IDeferredPromise (from @n8n/utils, not re-exported by n8n-workflow). */
interface IDeferredPromise<T> {
	promise: Promise<T>;
	resolve: (value: T) => void;
	reject: (error: Error) => void;
}

function deferred<T>(): IDeferredPromise<T> {
	let resolve!: (value: T) => void;
	let reject!: (error: Error) => void;
	const promise = new Promise<T>((ok, fail) => {
		resolve = ok;
		reject = fail;
	});
	return { promise, resolve, reject };
}

export class TriggerHarness {
	readonly emits: EmitRecord[] = [];
	readonly emitErrors: Error[] = [];
	readonly failedExecutions: Error[] = [];
	readonly logs: LogEntry[] = [];
	/** Emits n8n skipped because an execution with their deduplication key exists. */
	skippedAsDuplicate = 0;
	/** What n8n's database holds for the workflow's static data (deep copy, saved only when changed). */
	database: IDataObject;
	private readonly workflowStaticData: IDataObject & { __dataChanged?: boolean };
	private response?: ITriggerResponse;
	private active = false;
	private readonly node: INode;
	private readonly nodeType = new GmailImapTrigger();
	readonly runs: Array<{ items: INodeExecutionData[]; error?: Error }> = [];

	/** The workflow's id: a harness given another's `database` is the same workflow activated again. */
	readonly workflowId: string;

	constructor(private readonly options: TriggerHarnessOptions) {
		this.workflowId = (options.database && WORKFLOW_OF_DATABASE.get(options.database)) ?? `wf-${++workflowCounter}`;
		this.database = JSON.parse(JSON.stringify(options.database ?? {})) as IDataObject;
		WORKFLOW_OF_DATABASE.set(this.database, this.workflowId);
		// As n8n's Workflow constructor does with the loaded static data.
		this.workflowStaticData = ObservableObject.create(JSON.parse(JSON.stringify(this.database)) as IDataObject, undefined, {
			ignoreEmptyOnFirstChild: true,
		});
		this.node = {
			id: 'trigger-node',
			name: NODE_NAME,
			type: 'n8n-nodes-gmail-xoauth2.gmailImapTrigger',
			typeVersion: 1,
			position: [0, 0],
			parameters: { authentication: CREDENTIAL_TYPE, ...options.parameters },
			credentials: { [CREDENTIAL_TYPE]: { id: 'cred-1', name: 'Stack mailbox' } },
		};
	}

	/** ActiveWorkflowManager.add: run trigger(), then save the static data if it changed. */
	async activate(): Promise<void> {
		this.response = await this.callTrigger();
		this.active = true;
		if ((this.options.mode ?? 'trigger') === 'trigger') this.saveStaticData();
	}

	/** Manual "Test step": trigger(), then manualTriggerFunction once trigger() has returned. */
	async testStep(): Promise<void> {
		this.response = await this.callTrigger();
		this.active = true;
		await this.response.manualTriggerFunction?.();
	}

	/**
	 * The node's trigger(). With `watcherDefaults`, the defaults are swapped only for its synchronous start, where the
	 * node reads its settings (readTriggerSettings, before its first await), so no other trigger sees them.
	 */
	private callTrigger(): Promise<ITriggerResponse> {
		const overrides = this.options.watcherDefaults;
		if (!overrides) return this.nodeType.trigger.call(this.context());
		const defaults = DEFAULT_WATCHER_CONFIG as Record<string, unknown>;
		const saved = Object.fromEntries(Object.keys(overrides).map((key) => [key, defaults[key]]));
		Object.assign(defaults, overrides);
		try {
			return this.nodeType.trigger.call(this.context());
		} finally {
			Object.assign(defaults, saved);
		}
	}

	/** Deactivation (ActiveWorkflows.remove → closeFunction). Returns how long closeFunction took. */
	async deactivate(): Promise<number> {
		if (!this.active) return 0;
		this.active = false;
		const started = Date.now();
		await this.response?.closeFunction?.();
		return Date.now() - started;
	}

	get isActive(): boolean {
		return this.active;
	}

	/** UIDs emitted, in order (from the items' attributes). */
	emittedUids(): number[] {
		return this.emits.flatMap((emit) => emit.items.map((item) => (item.json.attributes as IDataObject).uid as number));
	}

	emittedSubjects(): string[] {
		return this.emits.flatMap((emit) => emit.items.map((item) => String(item.json.subject ?? '')));
	}

	async waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
		await waitUntil(predicate, what, timeoutMs);
	}

	/** WorkflowStaticDataService.saveStaticData: only when changed. */
	private saveStaticData(): void {
		if (this.workflowStaticData.__dataChanged === true) {
			this.database = JSON.parse(JSON.stringify(this.workflowStaticData)) as IDataObject;
			WORKFLOW_OF_DATABASE.set(this.database, this.workflowId);
			this.workflowStaticData.__dataChanged = false;
		}
	}

	/** Workflow.getStaticData('node', node). */
	private nodeStaticData(): IDataObject {
		const key = `node:${this.node.name}`;
		if (this.workflowStaticData[key] === undefined) {
			this.workflowStaticData[key] = ObservableObject.create(
				{},
				this.workflowStaticData as Parameters<typeof ObservableObject.create>[1],
			);
		}
		return this.workflowStaticData[key] as IDataObject;
	}

	private context(): ITriggerFunctions {
		const refreshToken = async (data: ICredentialDataDecryptedObject) => await this.refreshToken(data);
		const options = this.options;
		const node = this.node;
		const logger: Logger = {
			debug: (message: string, meta?: unknown) => this.logs.push({ level: 'debug', message, meta }),
			info: (message: string, meta?: unknown) => this.logs.push({ level: 'info', message, meta }),
			warn: (message: string, meta?: unknown) => this.logs.push({ level: 'warn', message, meta }),
			error: (message: string, meta?: unknown) => this.logs.push({ level: 'error', message, meta }),
		} as unknown as Logger;

		const context = {
			logger,
			getNode: () => node,
			getWorkflow: () => ({ id: this.workflowId, name: 'harness', active: true }),
			getMode: () => options.mode ?? 'trigger',
			getChildNodes: () => options.childNodes ?? [],
			getActivationMode: () => options.activationMode ?? 'activate',
			getNodeParameter: (name: string, fallback?: unknown) => {
				const value = node.parameters[name];
				return value === undefined ? fallback : value;
			},
			getCredentials: async (type: string) => {
				if (type !== CREDENTIAL_TYPE) throw new Error(`Node does not have credentials of type ${type}`);
				return JSON.parse(JSON.stringify(options.credentials.data)) as ICredentialDataDecryptedObject;
			},
			getWorkflowStaticData: (type: string) => {
				if (type !== 'node') throw new Error('only node static data is used');
				return this.nodeStaticData();
			},
			emit: (data: INodeExecutionData[][], _response?: unknown, donePromise?: IDeferredPromise<IRun>, deduplicationKey?: string) => {
				if (!this.active) throw new Error('emit after deactivation');
				const items = data[0];
				// n8n 2.x: a key that already has an execution starts nothing; the done promise resolves with undefined.
				if (deduplicationKey !== undefined) {
					if (EXECUTION_KEYS.has(deduplicationKey)) {
						if ((options.mode ?? 'trigger') === 'trigger') this.saveStaticData();
						this.skippedAsDuplicate++;
						(donePromise as IDeferredPromise<IRun | undefined> | undefined)?.resolve(undefined);
						return;
					}
					EXECUTION_KEYS.add(deduplicationKey);
				}
				this.emits.push({ items, at: Date.now() });
				if ((options.mode ?? 'trigger') === 'trigger') this.saveStaticData();
				void this.runWorkflow(items).then((run) => donePromise?.resolve(run));
			},
			emitError: (error: Error) => {
				this.emitErrors.push(error);
				// n8n deactivates the workflow (and queues a reactivation, which tests do themselves when they want it).
				void this.deactivate();
			},
			saveFailedExecution: (error: Error) => {
				this.failedExecutions.push(error);
			},
			helpers: {
				createDeferredPromise: deferred,
				prepareBinaryData: async (buffer: Buffer, fileName?: string, mimeType?: string): Promise<IBinaryData> => {
					options.beforeStoringBinary?.(fileName);
					return {
					data: buffer.toString('base64'),
					mimeType: mimeType ?? 'application/octet-stream',
					fileName,
					bytes: buffer.length,
					fileSize: `${buffer.length} B`,
				};
				},
				async refreshOAuth2Token(this: ITriggerFunctions, type: string): Promise<IDataObject> {
					// Like n8n's helper: it reads the credential through the context it is bound to.
					const data = await this.getCredentials(type);
					return await refreshToken(data);
				},
			},
		};
		return context as unknown as ITriggerFunctions;
	}

	/** The refresh_token grant against the stack's real token endpoint, then stored like n8n stores it. */
	private async refreshToken(data: ICredentialDataDecryptedObject): Promise<IDataObject> {
		const tokenData = (data.oauthTokenData ?? {}) as IDataObject;
		this.options.credentials.refreshRequests++;
		const response = await fetch(String(data.accessTokenUrl), {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: new URLSearchParams({
				grant_type: 'refresh_token',
				refresh_token: String(tokenData.refresh_token ?? ''),
				client_id: String(data.clientId),
				client_secret: String(data.clientSecret),
			}).toString(),
		});
		const body = (await response.json()) as IDataObject;
		if (!response.ok) {
			if (body.error === 'invalid_grant') {
				throw new NodeOperationError(this.node, 'The credential "Stack mailbox" needs to be reconnected.', {
					description: 'Please reconnect the credential.',
				});
			}
			throw new Error(`token endpoint answered ${response.status} ${String(body.error)}`);
		}
		const merged: IDataObject = {
			...tokenData,
			...body,
			n8n_expires_at: String(Date.now() + Number(body.expires_in) * 1000),
		};
		this.options.credentials.data = { ...this.options.credentials.data, oauthTokenData: merged };
		return merged;
	}

	private async runWorkflow(items: INodeExecutionData[]): Promise<IRun> {
		let error: Error | undefined;
		try {
			await (this.options.run ?? (() => undefined))(items);
		} catch (caught) {
			error = caught as Error;
		}
		this.runs.push({ items, error });
		// As n8n records a workflow that ran: the trigger node's task is in runData, so a failure thrown by the test's
		// function is a node that failed after the trigger, not a run n8n gave up on before any node ran.
		const startTime = Date.now();
		const triggerTask: ITaskData = { startTime, executionTime: 0, executionIndex: 0, source: [], data: { main: [items] } };
		return {
			data: {
				resultData: {
					runData: { [this.node.name]: [triggerTask] },
					...(error ? { error: new NodeOperationError(this.node, error.message) } : {}),
				},
			},
			mode: 'trigger',
			startedAt: new Date(),
			stoppedAt: new Date(),
			storedAt: 'db',
			status: error ? 'error' : 'success',
		} as IRun;
	}
}
