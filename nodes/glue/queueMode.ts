/**
 * n8n's queue mode saves a workflow's static data as one value, written back whole by the worker that ran an
 * execution: a Gmail POP Get Many in the trigger's workflow rolls the trigger's saved position back (measured, see
 * docs/queue-mode.md). Both nodes refuse that combination, naming the fix.
 */
import type { FunctionsBase, NodeTypeAndVersion } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

/** Whether this n8n process runs in queue mode (main or worker: the same variable is set on both). */
export function inQueueMode(env: NodeJS.ProcessEnv = process.env): boolean {
	return (env.EXECUTIONS_MODE ?? '').trim().toLowerCase() === 'queue';
}

/** Enabled Gmail POP nodes that record what they fetched in static data (Get Many, the default operation). */
export function recordingPopNodes(nodes: readonly NodeTypeAndVersion[]): string[] {
	return nodes
		.filter((node) => !node.disabled && isType(node, 'gmailPop') && (node.parameters?.operation ?? 'getAll') === 'getAll')
		.map((node) => node.name);
}

/** Enabled Gmail IMAP Triggers among the nodes. */
export function imapTriggerNodes(nodes: readonly NodeTypeAndVersion[]): string[] {
	return nodes.filter((node) => !node.disabled && isType(node, 'gmailImapTrigger')).map((node) => node.name);
}

/** The refusal both nodes give: what would go wrong and what to do. */
function sharedStaticDataProblem(triggerName: string, popName: string): string {
	return (
		`In n8n's queue mode the Gmail POP node "${popName}" (Get Many) cannot run in the same workflow as the Gmail IMAP ` +
		`Trigger "${triggerName}": the worker saves the workflow's static data as one value, which puts back an old copy of ` +
		`the trigger's saved position, so mail arriving while n8n is stopped could be missed. Move the Gmail POP node into ` +
		`another workflow and call it with an Execute Workflow node`
	);
}

function isType(node: NodeTypeAndVersion, name: string): boolean {
	// Installed as a community package the type is `<package>.<name>`.
	return node.type === name || node.type.endsWith(`.${name}`);
}

/**
 * Throws the refusal when, in queue mode, this node shares its workflow with the other side: for the trigger a
 * recording Gmail POP after it, for Gmail POP Get Many a Gmail IMAP Trigger before it. Older n8n without the
 * workflow-graph helpers: nothing is checked.
 */
export function refuseSharedStaticData(context: Pick<FunctionsBase, 'getNode' | 'getChildNodes' | 'getParentNodes'>, role: 'trigger' | 'pop'): void {
	if (!inQueueMode()) return;
	const node = context.getNode();
	if (role === 'trigger') {
		if (typeof context.getChildNodes !== 'function') return;
		const [pop] = recordingPopNodes(context.getChildNodes(node.name, { includeNodeParameters: true }));
		if (pop !== undefined) throw new NodeOperationError(node, sharedStaticDataProblem(node.name, pop));
		return;
	}
	if (typeof context.getParentNodes !== 'function') return;
	const [trigger] = imapTriggerNodes(context.getParentNodes(node.name));
	if (trigger !== undefined) throw new NodeOperationError(node, sharedStaticDataProblem(trigger, node.name));
}
