/**
 * Runs the chosen operation for every input item over ONE IMAP session, logged out at the end. Per item: its output
 * items paired with it, or (Continue On Fail) `{ error }`. A failure that would repeat for every further item (the
 * credential, a certificate, a missing server capability) is reported for them without another attempt.
 */
import type { IExecuteFunctions, INode, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { isLastingFailure, type MailAccount, openMailAccount, toNodeError } from '../glue';
import { GOOGLE_MAIL_CREDENTIAL_TYPE } from '../mail/connection';
import { describeImapFailure, ImapActionError, isCertificateFailure } from '../mail/imap/actions/errors';
import { type ImapActionClientFactory, ImapActionSession } from '../mail/imap/actions/session';
import type { SessionTiming } from '../mail/imap/session';
import { SearchCriteriaError } from '../mail/imap/search';
import { ParameterRangeError } from '../mail/parameters';
import { OPERATIONS } from './actions';

export { NODE_TYPE } from './constants';

/** Settings no user can reach: unit tests put the IMAP fake here. */
export interface GmailImapOverrides {
	createClient?: ImapActionClientFactory;
	timing?: Partial<SessionTiming>;
}

export async function executeGmailImap(this: IExecuteFunctions, overrides: GmailImapOverrides = {}): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const node = this.getNode();
	const resource = this.getNodeParameter('resource', 0, 'message') as 'folder' | 'message';
	const operationName = this.getNodeParameter('operation', 0) as string;
	const operation = OPERATIONS[resource]?.[operationName];
	if (!operation) throw new NodeOperationError(node, `Unknown operation "${operationName}" of "${resource}"`);

	const results: INodeExecutionData[] = [];
	let account: MailAccount<'imap'> | undefined;
	let session: ImapActionSession | undefined;
	let lasting: { error: unknown } | undefined;
	const fail = (error: unknown, itemIndex: number) => imapNodeError(node, error, itemIndex, account);
	try {
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				if (lasting) throw lasting.error;
				if (!account) {
					try {
						account = await openAccount(this);
					} catch (error) {
						// No credential, no token: the same for every item.
						lasting = { error };
						// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- mapped to an n8n error by the node (toNodeError)
						throw error;
					}
				}
				session ??= new ImapActionSession({
					endpoint: account.endpoint,
					tokens: account.tokens,
					logger: this.logger,
					createClient: overrides.createClient,
					timing: overrides.timing,
				});
				const output = await operation.execute({ context: this, node, itemIndex, item: items[itemIndex], session, accountEmail: account.email });
				for (const item of output) results.push({ ...item, pairedItem: { item: itemIndex } });
			} catch (error) {
				const nodeError = fail(error, itemIndex);
				if (isLasting(error)) lasting = { error };
				if (!this.continueOnFail()) throw nodeError;
				results.push({ json: { error: nodeError.message }, pairedItem: { item: itemIndex } });
			}
		}
	} finally {
		await session?.close();
	}
	return [results];
}

async function openAccount(context: IExecuteFunctions): Promise<MailAccount<'imap'>> {
	const credentialType = context.getNodeParameter('authentication', 0, GOOGLE_MAIL_CREDENTIAL_TYPE) as string;
	return await openMailAccount(context, credentialType, 'imap');
}

function isLasting(error: unknown): boolean {
	if (error instanceof ImapActionError) return error.lasting;
	return isLastingFailure(error) || isCertificateFailure(error);
}

/** The node's n8n error: its own texts, the IMAP failure named for a person, secrets redacted by the token source. */
function imapNodeError(node: INode, error: unknown, itemIndex: number, account: MailAccount<'imap'> | undefined): NodeOperationError {
	return toNodeError(node, error, {
		itemIndex,
		redact: account ? (text) => account.tokens.redact(text) : undefined,
		describe: (failure) => {
			if (failure instanceof ParameterRangeError && failure.range) {
				const { label, min, max } = failure.range;
				return { message: failure.message, description: `Set "${label}" to a value from ${min} to ${max}.` };
			}
			if (failure instanceof SearchCriteriaError) {
				return { message: failure.message, description: 'Custom Email Rules: a JSON array such as ["UNSEEN", ["FROM", "billing@example.com"]].' };
			}
			return account ? describeImapFailure(failure, account.endpoint) : undefined;
		},
	});
}
