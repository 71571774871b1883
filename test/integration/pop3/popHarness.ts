/**
 * Runs the Gmail POP node's real execute() the way n8n 2.41 does, for tests against the mail stack (or a fake server).
 *
 * What the shared ExecuteHarness (../harness/executeHarness.ts) does not offer and this node needs:
 * - getWorkflowStaticData('node') with n8n's own ObservableObject, persisted between runs exactly as n8n decides:
 *   after every execution whose static data changed, failed executions included, and never for mode `manual`
 *   (packages/cli execution-lifecycle-hooks.ts, hookFunctionsSave: `!isManualMode && newStaticData`);
 * - getMode(): `cli` (what `n8n execute` uses), `trigger`, or `manual` (the editor's "Test step");
 * - helpers.prepareBinaryData (in-memory binary data, as n8n keeps it without external storage).
 * The credential and its token refresh are the shared StoredCredential.
 */
import type {
	IBinaryData,
	IDataObject,
	IExecuteFunctions,
	INode,
	INodeExecutionData,
	IObservableObject,
	NodeTypeAndVersion,
	Logger,
	WorkflowExecuteMode,
} from 'n8n-workflow';
import { ObservableObject } from 'n8n-workflow';

import { executePop, NODE_TYPE, type PopExecuteOverrides } from '../../../nodes/GmailPop/execute';
import type { StoredCredential } from '../harness/credentials';
import { binaryFromBuffer } from '../harness/executeHarness';

export interface LogEntry {
	level: 'debug' | 'info' | 'warn' | 'error';
	message: string;
}

/** A parameter computed per item, like an n8n expression over `$json`. */
export type ParameterExpression = (item: INodeExecutionData, itemIndex: number) => unknown;

export interface PopRunOptions {
	/** Node parameters; a function value is evaluated per item (an expression). */
	parameters: Record<string, unknown>;
	/** Input items (default: one empty item, as after a Manual Trigger). */
	items?: INodeExecutionData[];
	mode?: WorkflowExecuteMode;
	continueOnFail?: boolean;
	/** The nodes before this one in the workflow (n8n's getParentNodes); default none. */
	parentNodes?: NodeTypeAndVersion[];
	/** Replaces n8n's binary store for this run (to make storing an attachment fail, as a full disk would). */
	prepareBinaryData?: (content: Buffer, fileName: string, mimeType: string) => Promise<IBinaryData>;
}

export interface PopRunResult {
	items: INodeExecutionData[];
	/** Whether n8n would have written static data after this execution. */
	staticDataSaved: boolean;
	logs: LogEntry[];
}

/** One node in one saved workflow: its static data survives between runs as n8n's database would keep it. */
export class PopNodeHarness {
	/** The workflow's static data as stored in n8n's database (JSON). */
	storedStaticData: IDataObject = {};
	/** The log of the latest run, also when it threw. */
	lastLogs: LogEntry[] = [];
	readonly node: INode;

	constructor(
		readonly credential: StoredCredential,
		private readonly overrides: PopExecuteOverrides = {},
		nodeName = 'Gmail POP',
	) {
		this.node = {
			id: 'pop-node',
			name: nodeName,
			type: NODE_TYPE,
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
			credentials: { [credential.type]: { id: 'credential-1', name: credential.name } },
		};
	}

	/** The node's own static data as stored (what `getWorkflowStaticData('node')` returns on the next run). */
	get nodeStaticData(): IDataObject | undefined {
		return this.storedStaticData[`node:${this.node.name}`] as IDataObject | undefined;
	}

	/** One execution. Throws what execute() throws; static data is saved (or not) as n8n would, either way. */
	async run(options: PopRunOptions): Promise<PopRunResult> {
		const mode = options.mode ?? 'cli';
		const logs: LogEntry[] = [];
		this.lastLogs = logs;
		// n8n's Workflow constructor: static data loaded from the database, wrapped to notice changes.
		const workflowStaticData = ObservableObject.create(JSON.parse(JSON.stringify(this.storedStaticData)) as IDataObject, undefined, {
			ignoreEmptyOnFirstChild: true,
		}) as IDataObject & { __dataChanged?: boolean };
		const context = this.context(options, mode, workflowStaticData, logs);
		const persist = (): boolean => {
			if (mode === 'manual' || workflowStaticData.__dataChanged !== true) return false;
			this.storedStaticData = JSON.parse(JSON.stringify(workflowStaticData)) as IDataObject;
			return true;
		};
		let output: INodeExecutionData[][];
		try {
			output = await executePop.call(context, this.overrides);
		} catch (error) {
			persist();
			throw error;
		}
		const staticDataSaved = persist();
		return { items: output[0] ?? [], staticDataSaved, logs };
	}

	private context(
		options: PopRunOptions,
		mode: WorkflowExecuteMode,
		workflowStaticData: IDataObject,
		logs: LogEntry[],
	): IExecuteFunctions {
		const { node, credential } = this;
		const items = options.items ?? [{ json: {} }];
		const record = (level: LogEntry['level']) => (message: string) => logs.push({ level, message });
		const logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') } as unknown as Logger;
		const parameter = (name: string, itemIndex: number, fallback?: unknown): unknown => {
			if (Object.prototype.hasOwnProperty.call(options.parameters, name)) {
				const value = options.parameters[name];
				// A function stands for an n8n expression: evaluated per item.
				return typeof value === 'function' ? (value as ParameterExpression)(items[itemIndex], itemIndex) : value;
			}
			if (fallback === undefined) throw new Error(`Could not get parameter "${name}"`);
			return fallback;
		};
		const context = {
			logger,
			getNode: () => node,
			getMode: () => mode,
			getParentNodes: () => options.parentNodes ?? [],
			getInputData: () => items,
			continueOnFail: () => options.continueOnFail === true,
			getNodeParameter: parameter,
			getCredentials: async (type: string) => {
				if (type !== credential.type) throw new Error(`Node "${node.name}" does not have any credentials of type "${type}" set`);
				return credential.read();
			},
			getWorkflowStaticData: (type: string): IDataObject => {
				// n8n's Workflow.getStaticData: one observable child object per node, created on first use.
				const key = type === 'node' ? `node:${node.name}` : 'global';
				if (workflowStaticData[key] === undefined) {
					workflowStaticData[key] = ObservableObject.create({}, workflowStaticData as IObservableObject) as IDataObject;
				}
				return workflowStaticData[key] as IDataObject;
			},
			helpers: {
				prepareBinaryData: async (content: Buffer, fileName?: string, mimeType?: string) =>
					options.prepareBinaryData
						? await options.prepareBinaryData(content, fileName ?? 'file', mimeType ?? 'application/octet-stream')
						: binaryFromBuffer(content, fileName ?? 'file', mimeType ?? 'application/octet-stream'),
				async refreshOAuth2Token(this: IExecuteFunctions, type: string): Promise<IDataObject> {
					// n8n's helper reads the credential through the context it is bound to; unbound, this throws.
					await this.getCredentials(type);
					return await credential.refresh(node);
				},
			},
		};
		return context as unknown as IExecuteFunctions;
	}
}
