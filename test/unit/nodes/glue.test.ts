/** The node glue (nodes/glue): one credential read per account, item settings, core errors as n8n errors, lasting failures. */
import type { ICredentialDataDecryptedObject, INode, Logger, NodeTypeAndVersion } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import {
	imapTriggerNodes,
	inQueueMode,
	isLastingFailure,
	mailAccountKey,
	openMailAccount,
	readItemSettings,
	recordingPopNodes,
	toNodeError,
	type MailNodeContext,
} from '../../../nodes/glue';
import { CredentialReconnectRequiredError, TokenEndpointUnavailableError } from '../../../nodes/mail/auth/tokenErrors';
import { MailCredentialFieldError } from '../../../nodes/mail/connection';
import { ParameterRangeError } from '../../../nodes/mail/parameters';
import { Pop3CertificateError, Pop3ConnectionError } from '../../../nodes/mail/pop3/errors';
import { SmtpSendError } from '../../../nodes/mail/smtp/transport';
import { MessageInputError } from '../../../nodes/mail/smtp/validate';

const NODE: INode = {
	id: 'n',
	name: 'Gmail POP',
	type: 'test',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
	credentials: { mailServerOAuth2Api: { id: 'c', name: 'Work mail' } },
};
const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;

function context(data: ICredentialDataDecryptedObject): MailNodeContext & { reads: string[] } {
	const reads: string[] = [];
	return {
		reads,
		getNode: () => NODE,
		logger,
		helpers: {},
		getCredentials: async <T extends object>(type: string) => {
			reads.push(type);
			return structuredClone(data) as T;
		},
	};
}

const STORED = {
	email: 'Me@Example.com',
	popHost: 'POP.Example.com',
	popPort: 995,
	clientId: 'id',
	oauthTokenData: { access_token: 'opaque-token', refresh_token: 'refresh', n8n_expires_at: String(Date.now() + 3_600_000) },
};

describe('openMailAccount', () => {
	it('reads the credential once and hands it to the token source; the account key is the shared lower-cased one', async () => {
		const ctx = context(STORED);
		const account = await openMailAccount(ctx, 'mailServerOAuth2Api', 'pop3');
		expect(ctx.reads).toEqual(['mailServerOAuth2Api']);
		expect(await account.tokens.getAccessToken()).toBe('opaque-token');
		expect(ctx.reads).toHaveLength(1);
		expect(account.endpoint).toMatchObject({ host: 'POP.Example.com', port: 995, security: 'tls' });
		expect(account.email).toBe('Me@Example.com');
		expect(account.accountKey).toBe('pop.example.com:995/me@example.com');
		expect(account.accountKey).toBe(mailAccountKey(account.endpoint, account.email));
	});

	it('names the credential field and the protocol settings to check', async () => {
		const error = await openMailAccount(context({ ...STORED, popHost: '' }), 'mailServerOAuth2Api', 'pop3').catch((e: unknown) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect((error as NodeOperationError).message).toMatch(/POP3 Host/);
		expect((error as NodeOperationError).description).toBe('Check the POP3 settings of the credential');
	});

	it('reports a credential never connected as an n8n error with the credential name and failure cause', async () => {
		const unconnected = { ...STORED } as ICredentialDataDecryptedObject;
		delete unconnected.oauthTokenData;
		const error = (await openMailAccount(context(unconnected), 'mailServerOAuth2Api', 'pop3').catch((e: unknown) => e)) as NodeOperationError;
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/must be reconnected/);
		expect(error.description).toContain('"Work mail" (mailServerOAuth2Api)');
		expect(error.failure).toEqual({ cause: 'credential-invalid' });
	});
});

describe('readItemSettings', () => {
	const reader = (values: Record<string, unknown>) => (name: string, fallback: unknown) => (name in values ? values[name] : fallback);

	it('reads format, attachments, prefix and Max Attachment Size', () => {
		expect(readItemSettings(reader({}))).toEqual({ format: 'simple', downloadAttachments: false, attachmentPrefix: 'attachment_', maxAttachmentBytes: undefined });
		expect(
			readItemSettings(reader({ downloadAttachments: true, dataPropertyAttachmentsPrefixName: 'file_', options: { maxAttachmentSizeMb: 2 } })),
		).toEqual({ format: 'simple', downloadAttachments: true, attachmentPrefix: 'file_', maxAttachmentBytes: 2 * 1024 * 1024 });
		expect(readItemSettings(reader({ format: 'resolved' })).downloadAttachments).toBe(true);
		expect(readItemSettings(reader({ format: 'raw', downloadAttachments: true })).downloadAttachments).toBe(false);
	});

	it('refuses a Max Attachment Size outside its range', () => {
		expect(() => readItemSettings(reader({ options: { maxAttachmentSizeMb: -1 } }))).toThrow(ParameterRangeError);
	});
});

describe('toNodeError', () => {
	it('keeps a token error’s description, level and failure cause, and the item index', () => {
		const error = toNodeError(NODE, new CredentialReconnectRequiredError({ type: 't', name: 'n' }, { cause: 'Gone.' }), { itemIndex: 2 });
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe('The OAuth2 credential must be reconnected');
		expect(error.description).toMatch(/^Credential "n" \(t\): Gone\./);
		expect(error.level).toBe('warning');
		expect(error.failure).toEqual({ cause: 'credential-invalid' });
		expect(error.context.itemIndex).toBe(2);
	});

	it('passes n8n errors through, uses the node’s wording, redacts, and keeps other messages', () => {
		const n8nError = new NodeOperationError(NODE, 'as is');
		expect(toNodeError(NODE, n8nError, { itemIndex: 1 })).toBe(n8nError);
		expect(n8nError.context.itemIndex).toBe(1);
		const described = toNodeError(NODE, new Error('x'), {
			describe: () => ({ message: 'secret here', description: 'and secret there' }),
			redact: (text) => text.replace('secret', '[redacted]'),
		});
		expect([described.message, described.description]).toEqual(['[redacted] here', 'and [redacted] there']);
		expect(toNodeError(NODE, new Error('plain')).message).toBe('plain');
	});
});

describe('isLastingFailure', () => {
	it('credential and certificate problems last; a typed value never does; a lost session always does', () => {
		expect(isLastingFailure(new CredentialReconnectRequiredError({ type: 't' }, { cause: 'x' }))).toBe(true);
		expect(isLastingFailure(new TokenEndpointUnavailableError({ type: 't' }, { endpoint: 'e', detail: 'd' }))).toBe(false);
		expect(isLastingFailure(new SmtpSendError('cert', { delivery: 'notSent', certificateRejected: true }))).toBe(true);
		expect(isLastingFailure(new SmtpSendError('busy', { delivery: 'notSent', responseCode: 421 }))).toBe(false);
		expect(isLastingFailure(new Pop3CertificateError('cert'))).toBe(true);
		expect(isLastingFailure(new Pop3ConnectionError('gone'))).toBe(false);
		expect(isLastingFailure(new Pop3ConnectionError('gone'), { sessionLost: true })).toBe(true);
		expect(isLastingFailure(new MailCredentialFieldError('popHost', 'is empty'))).toBe(true);
		expect(isLastingFailure(new ParameterRangeError('bad'), { sessionLost: true })).toBe(false);
		expect(isLastingFailure(new MessageInputError('To', 'is empty'), { sessionLost: true })).toBe(false);
	});
});

describe('queue mode: which nodes share the workflow static data', () => {
	const node = (type: string, extra: Partial<NodeTypeAndVersion> = {}): NodeTypeAndVersion => ({ name: type, type, typeVersion: 1, disabled: false, ...extra });

	it('reads EXECUTIONS_MODE as n8n does (queue, any case); anything else is not queue mode', () => {
		expect(inQueueMode({ EXECUTIONS_MODE: 'queue' })).toBe(true);
		expect(inQueueMode({ EXECUTIONS_MODE: ' Queue ' })).toBe(true);
		expect(inQueueMode({ EXECUTIONS_MODE: 'regular' })).toBe(false);
		expect(inQueueMode({})).toBe(false);
	});

	it('a Gmail POP records on Get Many (also the default when the saved parameters omit it), not on other operations nor disabled', () => {
		const nodes = [
			node('n8n-nodes-gmail-xoauth2.gmailPop', { name: 'default op', parameters: {} }),
			node('n8n-nodes-gmail-xoauth2.gmailPop', { name: 'get many', parameters: { operation: 'getAll' } }),
			node('gmailPop', { name: 'short type', parameters: { operation: 'getAll' } }),
			node('n8n-nodes-gmail-xoauth2.gmailPop', { name: 'count', parameters: { operation: 'getCount' } }),
			node('n8n-nodes-gmail-xoauth2.gmailPop', { name: 'disabled', disabled: true, parameters: {} }),
			node('n8n-nodes-base.emailReadImap', { name: 'other', parameters: {} }),
			node('other.notGmailPop', { name: 'suffix only', parameters: {} }),
		];
		expect(recordingPopNodes(nodes)).toEqual(['default op', 'get many', 'short type']);
	});

	it('finds enabled Gmail IMAP Triggers', () => {
		expect(
			imapTriggerNodes([
				node('n8n-nodes-gmail-xoauth2.gmailImapTrigger', { name: 'a' }),
				node('n8n-nodes-gmail-xoauth2.gmailImapTrigger', { name: 'b', disabled: true }),
				node('n8n-nodes-base.emailReadImap', { name: 'c' }),
			]),
		).toEqual(['a']);
	});
});
