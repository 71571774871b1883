/**
 * Knowing when an activated workflow's trigger is really live.
 *
 * n8n 2.41 publishes through an outbox by default (N8N_USE_WORKFLOW_PUBLICATION_SERVICE=true): the public API's
 * `POST /workflows/{id}/activate` answers once the publication is queued, and the server starts the trigger when its
 * outbox poller picks it up, seconds later. Mail that arrives in between predates the trigger and is, correctly, not
 * "new". The Gmail IMAP Trigger positions itself in `trigger()` and n8n saves the node's static data right after
 * `trigger()` has returned (ActiveWorkflowManager.add), so that saved checkpoint is the signal that new mail will be seen.
 */
import type { N8nInstance } from './n8n';

/** A trigger node's saved static data (n8n keys it `node:<node name>`), or undefined while there is none. */
export async function triggerStaticData(
	n8n: N8nInstance,
	workflowId: string,
	nodeName: string,
): Promise<Record<string, unknown> | undefined> {
	const workflow = await n8n.api<{ staticData?: Record<string, unknown> | null }>('GET', `/api/v1/workflows/${workflowId}`);
	const nodeData = workflow.staticData?.[`node:${nodeName}`];
	if (nodeData && typeof nodeData === 'object' && Object.keys(nodeData).length > 0) return nodeData as Record<string, unknown>;
	return undefined;
}

/**
 * Waits until the trigger node of an activated workflow has saved its position (static data), i.e. it has logged in
 * and anything delivered from now on counts as new. Throws with n8n's activation error, when it recorded one.
 */
export async function waitForTriggerLive(
	n8n: N8nInstance,
	workflowId: string,
	nodeName: string,
	timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const data = await triggerStaticData(n8n, workflowId, nodeName);
		if (data) return data;
		if (Date.now() > deadline) {
			const activationError = await n8n
				.rest<unknown>('GET', `/rest/active-workflows/error/${workflowId}`)
				.catch((error: unknown) => `(could not read: ${String(error)})`);
			throw new Error(
				`the trigger "${nodeName}" of workflow ${workflowId} saved no position within ${timeoutMs / 1000}s; ` +
					`n8n's activation error: ${JSON.stringify(activationError) ?? 'none'}`,
			);
		}
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}
