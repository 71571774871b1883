import type {
	IDataObject,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IRun,
	ITriggerFunctions,
	ITriggerResponse,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { openMailAccount, refuseSharedStaticData, toNodeError } from '../glue';
import { TokenSourceError, isReconnectRequiredError } from '../mail/auth/tokenErrors';
import { mailCredentials } from '../mail/descriptions';
import { createImapFlowClient } from '../mail/imap/client';
import { messageAttributes } from '../mail/imap/messageItems';
import type { RunOutcome } from '../mail/imap/postActions';
import { DEFAULT_SESSION_TIMING, openImapSession } from '../mail/imap/session';
import { MailboxWatcher, storageStep } from '../mail/imap/watcher';
import { messageToItem } from '../mail/message/toItem';
import { CheckpointStore } from './checkpointStore';
import { readTriggerSettings } from './config';
import { triggerProperties } from './description';
import { runOutcome } from './runOutcome';

export class GmailImapTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Gmail IMAP Trigger',
		name: 'gmailImapTrigger',
		icon: { light: 'file:gmailImapTrigger.svg', dark: 'file:gmailImapTrigger.dark.svg' },
		group: ['trigger'],
		// 2: Output defaults to Automatic (batches while a backlog drains). 1 keeps one run per message.
		version: [1, 2],
		defaultVersion: 2,
		subtitle: '={{$parameter["mailbox"]}}',
		description:
			'Starts the workflow for every new email, exactly once, over IMAP with OAuth2 (Gmail or any XOAUTH2 server)',
		eventTriggerDescription: 'Waiting for you to receive an email',
		activationMessage: 'New emails in the watched folders will now start this workflow.',
		defaults: { name: 'Gmail IMAP Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: mailCredentials(),
		properties: triggerProperties,
	};

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		const node = this.getNode();
		const manual = this.getMode() === 'manual';
		const settings = readTriggerSettings(this, manual);
		if (!manual) refuseSharedStaticData(this, 'trigger');
		const account = await openMailAccount(this, settings.credentialType, 'imap');
		const tokens = account.tokens;
		// Manual runs never persist static data (n8n), and must not disturb the saved position of the active workflow.
		const staticData = manual ? ({} as IDataObject) : this.getWorkflowStaticData('node');
		const itemSettings = settings.items;
		const createDeferred =
			typeof this.helpers.createDeferredPromise === 'function' ? this.helpers.createDeferredPromise : undefined;
		// Every text that leaves the trigger (n8n errors, fault reports, logs) passes the token source's redaction.
		const redact = (text: string) => tokens.redact(text);
		const nodeError = (error: unknown) => toNodeError(node, error, { redact });

		// Durable delivery (docs/delivery.md): every emit carries a deduplication key built from this scope, and runs not
		// yet reported are kept in static data. Only where n8n reports a run's end, and never for "Test step".
		const workflowId = typeof this.getWorkflow === 'function' ? this.getWorkflow().id : undefined;
		const deliveryScope = !manual && createDeferred ? JSON.stringify([workflowId ?? '', node.id, account.accountKey]) : undefined;

		const watcher: MailboxWatcher = new MailboxWatcher({ ...settings.watcher, deliveryScope }, {
			openSession: async (label, options) =>
				await openImapSession({
					endpoint: account.endpoint,
					tokens,
					createClient: createImapFlowClient,
					logger: this.logger,
					timing: DEFAULT_SESSION_TIMING,
					track: (client) => watcher.trackClient(client),
					onExists: (event) => options.onExists(event.path, event.count, event.prevCount),
					label,
					minTokenValidityMs: options.minTokenValidityMs,
				}),
			checkpoints: new CheckpointStore(staticData, account.accountKey),
			buildItem: async (message) =>
				await messageToItem(message.source, {
					format: itemSettings.format,
					downloadAttachments: itemSettings.downloadAttachments,
					attachmentPrefix: itemSettings.attachmentPrefix,
					maxAttachmentBytes: itemSettings.maxAttachmentBytes,
					attributes: messageAttributes(message),
					// A failure to store (e.g. the disk is full) is not the message's fault: it is read again later.
					prepareBinaryData: storageStep(
						async (content: Buffer, fileName?: string, mimeType?: string) =>
							await this.helpers.prepareBinaryData(content, fileName, mimeType),
					),
				}),
			emit: (items: INodeExecutionData[], onRunFinished?: (outcome: RunOutcome) => void, deduplicationKey?: string) => {
				if (!onRunFinished || !createDeferred || manual) {
					this.emit([items], undefined, undefined, deduplicationKey);
					return false;
				}
				const done = createDeferred<IRun>();
				// n8n 2.x: a key that already has an execution is not run again; the done promise then resolves with
				// undefined. It rejects when the execution could not be created (or was cancelled).
				this.emit([items], undefined, done, deduplicationKey);
				done.promise.then(
					(run: IRun | undefined) => onRunFinished(run === undefined ? 'duplicate' : runOutcome(run)),
					() => onRunFinished('rejected'),
				);
				return true;
			},
			reportPersistentFault: (error) => {
				const reported = new NodeOperationError(node, redact(error.message), { level: 'warning' });
				// saveFailedExecution (n8n-workflow ≥ 2.x) records the fault and keeps the workflow active.
				if (typeof this.saveFailedExecution === 'function') this.saveFailedExecution(reported);
				else this.logger.warn(`Gmail IMAP Trigger: ${redact(error.message)}`);
			},
			reportFatal: (error) => {
				// The watcher calls this at most once.
				this.emitError(nodeError(error));
			},
			isUnrecoverable: (error) => isReconnectRequiredError(error),
			// n8n's errors and the token source's already say what to do.
			isOwnError: (error) => error instanceof NodeOperationError || error instanceof TokenSourceError,
			logger: this.logger,
			logName: 'Gmail IMAP Trigger',
		});

		const closeFunction = async () => await watcher.stop();

		if (manual) {
			// "Test step": never emit inside trigger(); n8n swaps in the real emit and then calls this.
			return {
				closeFunction,
				manualTriggerFunction: async () => {
					await watcher.start({ failFast: true }).catch((error: unknown) => {
						throw nodeError(error);
					});
				},
			};
		}

		const activation = this.getActivationMode();
		try {
			// Positions new folders BEFORE returning, so n8n's save after activation covers them (see README).
			await watcher.start({ failFast: activation !== 'init' && activation !== 'leadershipChange' });
		} catch (error) {
			await watcher.stop();
			throw nodeError(error);
		}
		return { closeFunction };
	}
}
