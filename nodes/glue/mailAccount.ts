/**
 * How a node opens its mail account: the credential is read ONCE, the protocol's endpoint resolved from it and the
 * same data handed to the token source. Failures come out as n8n errors that name the field or say what to do.
 */
import type { ICredentialDataDecryptedObject, INode } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { MailProtocol } from '../mail/auth/errors';
import { createTokenSource, type TokenSource, type TokenSourceContext, type TokenSourceOptions } from '../mail/auth/tokens';
import {
	type EndpointOverride,
	type MailConnection,
	type MailCredentialType,
	MailCredentialFieldError,
	type MailEndpoint,
	mailAccountKey,
	resolveMailConnection,
} from '../mail/connection';
import { toNodeError } from './nodeErrors';

/** What the glue needs from n8n's `this` (execute and trigger contexts fit as they are). */
export interface MailNodeContext extends TokenSourceContext {
	getNode(): INode;
}

export interface MailAccount<P extends MailProtocol> {
	credentialType: MailCredentialType;
	/** The account to authenticate as (XOAUTH2 `user=`). */
	email: string;
	endpoint: MailEndpoint;
	connection: MailConnection<P>;
	tokens: TokenSource;
	/** mailAccountKey(endpoint, email): the key of records the node keeps in static data. */
	accountKey: string;
}

export interface OpenMailAccountOptions {
	/** A node-level choice that wins over the credential (the SMTP node's Gmail port). */
	override?: EndpointOverride;
	tokenOptions?: TokenSourceOptions;
}

const CREDENTIAL_FIELD_HINTS: Readonly<Record<MailProtocol, string>> = {
	imap: 'Check the credential’s IMAP settings',
	smtp: 'Check the SMTP settings of the credential',
	pop3: 'Check the POP3 settings of the credential',
};

/** @throws NodeOperationError (a bad credential field, a credential never connected, ...) */
export async function openMailAccount<P extends MailProtocol>(
	context: MailNodeContext,
	credentialType: string,
	protocol: P,
	options: OpenMailAccountOptions = {},
): Promise<MailAccount<P>> {
	const node = context.getNode();
	const data = await context.getCredentials<ICredentialDataDecryptedObject>(credentialType);
	let connection: MailConnection<P>;
	let tokens: TokenSource;
	try {
		const overrides = options.override ? { [protocol]: options.override } : {};
		connection = resolveMailConnection(credentialType, data, [protocol], overrides);
		const name = node.credentials?.[credentialType]?.name;
		tokens = await createTokenSource(context, { type: credentialType, data, name }, options.tokenOptions);
	} catch (error) {
		if (error instanceof MailCredentialFieldError) {
			throw new NodeOperationError(node, error.message, { description: CREDENTIAL_FIELD_HINTS[protocol] });
		}
		throw toNodeError(node, error);
	}
	const endpoint: MailEndpoint = connection[protocol];
	return {
		credentialType: connection.credentialType,
		email: connection.email,
		endpoint,
		connection,
		tokens,
		accountKey: mailAccountKey(endpoint, connection.email),
	};
}
