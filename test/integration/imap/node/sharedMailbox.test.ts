/**
 * "Mailbox to Open (Shared Mailbox)" on the real servers. Microsoft 365 opens a shared mailbox when the XOAUTH2
 * `user=` names it and the token is the signed-in user's. The stack's Dovecot accepts a login only when `user=` is
 * the token's own account, so the stand-in is a token issued for the shared address under a credential whose Email is
 * another account: every login below succeeds only because the node sends the shared mailbox as `user=`, on IMAP,
 * POP3 and SMTP alike, and the message the SMTP node sends goes out from the shared mailbox by default.
 */
import { simpleParser } from 'mailparser';
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

import { GmailSmtp } from '../../../../nodes/GmailSmtp/GmailSmtp.node';
import { NODE_TYPE as SMTP_NODE_TYPE } from '../../../../nodes/GmailSmtp/execute';
import { StoredCredential } from '../../harness/credentials';
import { ExecuteHarness } from '../../harness/executeHarness';
import { PopNodeHarness } from '../../pop3/popHarness';
import { runError, runNode, stack } from './nodeKit';

jest.setTimeout(30_000);

async function sharedSetup(fields: ICredentialDataDecryptedObject = {}) {
	const signedIn = stack.newMailbox('delegate');
	const shared = stack.newMailbox('shared');
	const tokens = await stack.issueTokens(shared, { lifetimeSeconds: 3600 });
	const credential = StoredCredential.mailServer(stack, signedIn, tokens, {
		imapHost: stack.host,
		imapPort: stack.ports.imaps,
		imapSecurity: 'tls',
		popHost: stack.host,
		popPort: stack.ports.pop3s,
		popSecurity: 'tls',
		smtpHost: stack.host,
		smtpPort: stack.ports.smtps,
		smtpSecurity: 'tls',
		caCertificate: stack.caCertPem,
		sharedMailbox: ` ${shared} `,
		...fields,
	});
	return { signedIn, shared, credential };
}

describe('Mailbox to Open (Shared Mailbox) on the real servers', () => {
	it('IMAP: the Gmail IMAP node opens the shared mailbox; without the field the same token is refused for the account', async () => {
		const { shared, signedIn, credential } = await sharedSetup();
		await stack.deliver({ to: shared, subject: 'for the team', text: 'x' });
		const { items } = await runNode({ user: shared, credential }, { resource: 'message', operation: 'search', mailbox: 'INBOX', returnAll: true, format: 'headers' });
		expect(items.map((item) => item.json.subject)).toEqual(['for the team']);

		credential.data.sharedMailbox = '';
		const refused = await runError({ user: signedIn, credential }, { resource: 'folder', operation: 'getMany' });
		expect(refused.message).toMatch(/refused|rejected/i);
	});

	it('POP3: the Gmail POP node logs in as the shared mailbox', async () => {
		const { shared, credential } = await sharedSetup();
		await stack.deliver({ to: shared, subject: 'pop for the team', text: 'x' });
		const harness = new PopNodeHarness(credential, { tls: { ca: stack.caCertPem, servername: stack.info.servername } });
		const result = await harness.run({ parameters: { authentication: 'mailServerOAuth2Api', operation: 'getAll', returnAll: true, format: 'simple', options: {} } });
		expect(result.items.map((item) => item.json.subject)).toEqual(['pop for the team']);
	});

	it('SMTP: the Gmail SMTP node logs in as the shared mailbox and sends from it by default', async () => {
		const { shared, credential } = await sharedSetup();
		const recipient = stack.newMailbox('rcpt');
		const harness = new ExecuteHarness({
			nodeType: new GmailSmtp(),
			typeName: SMTP_NODE_TYPE,
			credential,
			parameters: { authentication: 'mailServerOAuth2Api', operation: 'send', fromEmail: '', toEmail: recipient, subject: 'from the team', emailFormat: 'text', text: 'hello', options: {} },
			items: [{ json: {} }],
		});
		await harness.run();
		const [message] = (await stack.waitForMessages(recipient, 1, { includeRaw: true })).messages;
		const parsed = await simpleParser(message.raw as string);
		expect(parsed.from?.value[0].address).toBe(shared);
		expect(parsed.subject).toBe('from the team');
	});

	it('a value that is not one address is refused, naming the field, before anything connects', async () => {
		const { shared, credential } = await sharedSetup({ sharedMailbox: 'team one@example.test' });
		const error = await runError({ user: shared, credential }, { resource: 'folder', operation: 'getMany' });
		expect(error.message).toBe('Credential field "Mailbox to Open (Shared Mailbox)" (sharedMailbox) must be one email address, got "team one@example.test"');
	});
});
