import type { IExecuteFunctions, INode, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { attributionLinkOf, isLastingFailure, openMailAccount, readComposeInput, toNodeError } from '../glue';
import type { EndpointOverride } from '../mail/connection';
import { GOOGLE_MAIL_CREDENTIAL_TYPE } from '../mail/connection';
import { ParameterRangeError } from '../mail/parameters';
import { describeSmtpFailure } from '../mail/smtp/describeError';
import { composeMessage } from '../mail/smtp/message';
import { SmtpSender } from '../mail/smtp/transport';

export const NODE_TYPE = 'n8n-nodes-gmail-xoauth2.gmailSmtp';

interface Session {
	sender: SmtpSender;
	accountEmail: string;
}

/**
 * Sends one email per input item over one SMTP connection. Items are sent in order; each output item is paired
 * with its input item. With "Continue On Fail" a failed item yields `{ error }` and the rest are still sent;
 * failures no retry can fix (the credential must be reconnected, the server refuses the token or the certificate)
 * are then reported for the remaining items without trying each of them again.
 */
export async function executeSend(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const node = this.getNode();
	const link = attributionLinkOf(this, NODE_TYPE);
	const results: INodeExecutionData[] = [];

	let session: Promise<Session> | undefined;
	/** The original error of a failure that would repeat for every item (re-reported per item, not retried). */
	let lasting: unknown;
	try {
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				if (lasting !== undefined) throw lasting;
				const input = await readComposeInput(this, itemIndex, items[itemIndex], link);
				// Connect only once an item is ready to go: a run whose items are all invalid opens no connection.
				// A failed setup (credential fields, no token) stays failed: every later item gets the same error.
				session ??= openSession(this, node);
				const { sender, accountEmail } = await session;
				const message = composeMessage({ ...input, accountEmail });
				const sent = await sender.send(message);
				results.push({ json: { ...sent }, pairedItem: { item: itemIndex } });
			} catch (error) {
				const nodeError = toNodeError(node, error, { itemIndex, describe: (failure) => itemFailure(failure, itemIndex) });
				if (isLastingFailure(error)) lasting = error;
				if (!this.continueOnFail()) throw nodeError;
				results.push({ json: { error: nodeError.message }, pairedItem: { item: itemIndex } });
			}
		}
	} finally {
		if (session) await session.then((opened) => opened.sender.close(), () => undefined);
	}
	return [results];
}

async function openSession(context: IExecuteFunctions, node: INode): Promise<Session> {
	const credentialType = context.getNodeParameter('authentication', 0, GOOGLE_MAIL_CREDENTIAL_TYPE) as string;
	const gmailPort = credentialType === GOOGLE_MAIL_CREDENTIAL_TYPE ? context.getNodeParameter('gmailPort', 0, 465) : undefined;
	let override: EndpointOverride | undefined;
	try {
		override = smtpOverrides(credentialType, gmailPort).smtp;
	} catch (error) {
		if (error instanceof ParameterRangeError) throw new NodeOperationError(node, error.message, { description: 'Nothing was sent.' });
		throw toNodeError(node, error);
	}
	const account = await openMailAccount(context, credentialType, 'smtp', { override });
	const sender = new SmtpSender({ endpoint: account.endpoint, tokens: account.tokens, logger: context.logger });
	return { sender, accountEmail: account.email };
}

/**
 * The node's "Gmail Connection" choice (465 implicit TLS or 587 STARTTLS) for the Google credential; the generic
 * credential brings its own host, port and security.
 */
export function smtpOverrides(credentialType: string, gmailPort: unknown): { smtp?: EndpointOverride } {
	if (credentialType !== GOOGLE_MAIL_CREDENTIAL_TYPE) return {};
	if (gmailPort === undefined || gmailPort === null || gmailPort === '') return { smtp: { port: 465 } };
	// An options field, but an expression can put anything into it: only Gmail's two submission ports make sense.
	const port = typeof gmailPort === 'string' ? Number(gmailPort.trim()) : gmailPort;
	if (port !== 465 && port !== 587) {
		throw new ParameterRangeError(`"Gmail Connection" must be port 465 or 587, not "${String(gmailPort)}"`);
	}
	return { smtp: { port } };
}

/** The SMTP node's wording of an item's failure: its cause with " (item N)", and what to do. */
function itemFailure(error: unknown, itemIndex: number) {
	const text = describeSmtpFailure(error);
	return text && { message: `${text.message} (item ${itemIndex})`, description: text.description };
}
