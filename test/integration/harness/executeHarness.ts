/**
 * A stand-in for n8n's execute context (IExecuteFunctions), so an action node's real `execute()` runs against the
 * real mail stack. Only what action nodes of this package use, each behaving as n8n 2.41 does:
 *
 * - getInputData / getNodeParameter(name, itemIndex, fallback): parameters are the node's stored values; a value
 *   made with `expression(fn)` is evaluated per item, like an n8n expression over `$json`. A parameter that is not
 *   set returns the fallback (n8n fills in description defaults beforehand; tests set what they rely on).
 * - getCredentials(type): the stored credential, read fresh on every call; only the type the node selects.
 * - helpers.refreshOAuth2Token: must be called bound (n8n's reads this.getCredentials); refreshes through the
 *   stack's real token endpoint (see credentials.ts).
 * - helpers.assertBinaryData / getBinaryDataBuffer(itemIndex, property): n8n's checks and messages; the buffer is
 *   read from the in-memory base64 data. `onBinaryRead` lets a test act while the node waits for binary data (n8n's
 *   binary store is asynchronous: a slow read is a real pause in the middle of a run).
 * - continueOnFail, getNode, getInstanceId, logger (recorded).
 */
import type {
	IBinaryData,
	ICredentialDataDecryptedObject,
	IDataObject,
	IExecuteFunctions,
	INode,
	INodeExecutionData,
	INodeType,
	Logger,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { StoredCredential } from './credentials';

/** A parameter value computed per item, like an n8n expression. */
export class Expression {
	constructor(readonly evaluate: (item: INodeExecutionData, itemIndex: number) => unknown) {}
}

export function expression(evaluate: (item: INodeExecutionData, itemIndex: number) => unknown): Expression {
	return new Expression(evaluate);
}

export interface LogEntry {
	level: 'debug' | 'info' | 'warn' | 'error';
	message: string;
}

export interface ExecuteHarnessOptions {
	nodeType: INodeType;
	/** n8n node type name, e.g. n8n-nodes-gmail-xoauth2.gmailSmtp. */
	typeName: string;
	credential: StoredCredential;
	parameters: Record<string, unknown>;
	items: INodeExecutionData[];
	continueOnFail?: boolean;
	onBinaryRead?: (itemIndex: number, property: string) => Promise<void> | void;
}

/** Binary data as n8n keeps it in memory (prepareBinaryData without external storage). */
export function binaryFromBuffer(content: Buffer, fileName: string, mimeType: string, options: { withBytes?: boolean } = {}): IBinaryData {
	const extension = fileName.includes('.') ? fileName.slice(fileName.lastIndexOf('.') + 1) : undefined;
	return {
		data: content.toString('base64'),
		mimeType,
		fileName,
		...(extension ? { fileExtension: extension } : {}),
		fileSize: `${content.length} B`,
		...(options.withBytes === false ? {} : { bytes: content.length }),
	};
}

export class ExecuteHarness {
	readonly logs: LogEntry[] = [];
	readonly node: INode;

	constructor(private readonly options: ExecuteHarnessOptions) {
		this.node = {
			id: 'node-under-test',
			name: 'Node Under Test',
			type: options.typeName,
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
			credentials: { [options.credential.type]: { id: 'credential-1', name: options.credential.name } },
		};
	}

	/** Runs the node's execute() once over all input items. */
	async run(): Promise<INodeExecutionData[][]> {
		const execute = this.options.nodeType.execute;
		if (!execute) throw new Error('the node type has no execute()');
		return (await execute.call(this.context())) as INodeExecutionData[][];
	}

	private parameter(name: string, itemIndex: number, fallback: unknown): unknown {
		if (!Object.prototype.hasOwnProperty.call(this.options.parameters, name)) {
			if (fallback === undefined) throw new Error(`Could not get parameter "${name}"`);
			return fallback;
		}
		return this.resolve(this.options.parameters[name], itemIndex);
	}

	private resolve(value: unknown, itemIndex: number): unknown {
		if (value instanceof Expression) return value.evaluate(this.options.items[itemIndex], itemIndex);
		if (Array.isArray(value)) return value.map((entry) => this.resolve(entry, itemIndex));
		if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
			const resolved: IDataObject = {};
			for (const [key, entry] of Object.entries(value)) resolved[key] = this.resolve(entry, itemIndex) as IDataObject[string];
			return resolved;
		}
		return value;
	}

	private context(): IExecuteFunctions {
		const { options, node, logs } = this;
		const record = (level: LogEntry['level']) => (message: string) => logs.push({ level, message });
		const logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') } as unknown as Logger;

		const assertBinaryData = (itemIndex: number, property: string): IBinaryData => {
			const binary = options.items[itemIndex]?.binary;
			if (binary === undefined) {
				throw new NodeOperationError(
					node,
					`This operation expects the node's input data to contain a binary file '${property}', but none was found [item ${itemIndex}]`,
					{ itemIndex, description: 'Make sure that the previous node outputs a binary file' },
				);
			}
			const data = binary[property];
			if (data === undefined) {
				throw new NodeOperationError(node, `The item has no binary field '${property}' [item ${itemIndex}]`, { itemIndex });
			}
			return data;
		};

		const context = {
			logger,
			getNode: () => node,
			getInputData: () => options.items,
			getInstanceId: () => 'test-instance',
			continueOnFail: () => options.continueOnFail === true,
			getNodeParameter: (name: string, itemIndex: number, fallback?: unknown) => this.parameter(name, itemIndex, fallback),
			getCredentials: async (type: string): Promise<ICredentialDataDecryptedObject> => {
				if (type !== options.credential.type) throw new Error(`Node "${node.name}" does not have any credentials of type "${type}" set`);
				return options.credential.read();
			},
			helpers: {
				assertBinaryData,
				getBinaryDataBuffer: async (itemIndex: number, property: string): Promise<Buffer> => {
					const data = assertBinaryData(itemIndex, property);
					await options.onBinaryRead?.(itemIndex, property);
					return Buffer.from(data.data, 'base64');
				},
				async refreshOAuth2Token(this: IExecuteFunctions, type: string): Promise<IDataObject> {
					// n8n's helper reads the credential through the context it is bound to; unbound, this throws.
					await this.getCredentials(type);
					return await options.credential.refresh(node);
				},
			},
		};
		return context as unknown as IExecuteFunctions;
	}
}
