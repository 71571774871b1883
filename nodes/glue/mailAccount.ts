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
	MAIL_SERVER_CREDENTIAL_TYPE,
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
	/** The account to authenticate as (XOAUTH2 `user=`): the shared mailbox when the credential names one. */
	email: string;
	/** The generic credential's "Mailbox to Open (Shared Mailbox)": the account whose token opens `email`. */
	signedInEmail?: string;
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
	const stored = await context.getCredentials<ICredentialDataDecryptedObject>(credentialType);
	const shared = credentialType === MAIL_SERVER_CREDENTIAL_TYPE ? readSharedMailbox(node, stored) : undefined;
	// A shared mailbox is the login user everywhere (connection, token source, default sender); the token stays the account's.
	const data = shared ? { ...stored, email: shared } : stored;
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
		...(shared ? { signedInEmail: String(stored.email ?? '').trim() } : {}),
		endpoint,
		connection,
		tokens,
		accountKey: mailAccountKey(endpoint, connection.email),
	};
}

/**
 * The generic credential's optional "Mailbox to Open (Shared Mailbox)" (`sharedMailbox`), checked: one address, no
 * spaces or control characters. undefined when it is empty.
 * @throws NodeOperationError naming the field
 */
export function readSharedMailbox(node: INode, data: Readonly<Record<string, unknown>>): string | undefined {
	const raw = data.sharedMailbox;
	const shared = typeof raw === 'string' ? raw.trim() : '';
	if (!shared) return undefined;
	if (!/^[^\s@\x00-\x1f\x7f,;<>]+@[^\s@\x00-\x1f\x7f,;<>]+$/.test(shared)) {
		throw new NodeOperationError(node, `Credential field "Mailbox to Open (Shared Mailbox)" (sharedMailbox) must be one email address, got "${shared}"`, {
			description: 'Enter the shared mailbox’s address, e.g. support@example.com, or leave the field empty.',
		});
	}
	return shared;
}
