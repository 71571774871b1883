/**
 * Runs the Gmail IMAP node's real execute() against the unit IMAP fake, through the shared execute harness (an n8n
 * execute context) with a stored credential whose token is valid, so no token endpoint is needed.
 */
import type { ICredentialDataDecryptedObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { executeGmailImap, NODE_TYPE } from '../../../../nodes/GmailImap/router';
import { GmailImap } from '../../../../nodes/GmailImap/GmailImap.node';
import { StoredCredential } from '../../../integration/harness/credentials';
import { binaryFromBuffer, ExecuteHarness } from '../../../integration/harness/executeHarness';
import type { FakeImapServer } from '../../mail/imap/fakeImap';
import { FakeActionServerExtras, fakeActionClientFactory, GMAIL_FOLDERS } from '../../mail/imap/actions/fakeActionClient';
import type { ImapFlowOptions } from 'imapflow';

export const ACCOUNT = 'user@example.test';

export function credential(fields: ICredentialDataDecryptedObject = {}): StoredCredential {
	return new StoredCredential('mailServerOAuth2Api', 'Fake mailbox', {
		email: ACCOUNT,
		authUrl: 'https://auth.invalid/authorize',
		accessTokenUrl: 'https://auth.invalid/token',
		clientId: 'id',
		clientSecret: 'secret',
		authentication: 'body',
		imapHost: 'imap.fake.test',
		imapPort: 993,
		imapSecurity: 'tls',
		...fields,
		oauthTokenData: { access_token: 'token-1', refresh_token: 'refresh-1', expires_in: 3600, token_type: 'Bearer', n8n_expires_at: String(Date.now() + 3600_000) },
	});
}

/** A fake Gmail: X-GM-EXT-1 and Gmail's folders with their special use. */
export function gmailExtras(server: FakeImapServer): FakeActionServerExtras {
	server.enableGmail();
	const extras = new FakeActionServerExtras();
	for (const [path, use] of Object.entries(GMAIL_FOLDERS)) {
		if (!server.folders.has(path)) server.createFolder(path);
		if (use) extras.specialUse.set(path, use);
	}
	return extras;
}

export interface UnitRun {
	items: INodeExecutionData[];
	/** The options every IMAP client was created with (auth.user is the XOAUTH2 user). */
	clientOptions: ImapFlowOptions[];
}

export async function runUnit(
	server: FakeImapServer,
	extras: FakeActionServerExtras,
	parameters: Record<string, unknown>,
	options: { items?: INodeExecutionData[]; continueOnFail?: boolean; credential?: StoredCredential } = {},
): Promise<UnitRun> {
	const harness = new ExecuteHarness({
		nodeType: new GmailImap(),
		typeName: NODE_TYPE,
		credential: options.credential ?? credential(),
		parameters: { authentication: 'mailServerOAuth2Api', ...parameters },
		items: options.items ?? [{ json: {} }],
		continueOnFail: options.continueOnFail,
	});
	const context = harness['context']() as IExecuteFunctions;
	(context.helpers as unknown as Record<string, unknown>).prepareBinaryData = async (content: Buffer, fileName?: string, mimeType?: string) =>
		binaryFromBuffer(content, fileName ?? 'file', mimeType ?? 'application/octet-stream');
	const clientOptions: ImapFlowOptions[] = [];
	const factory = fakeActionClientFactory(server, extras);
	const [items] = await executeGmailImap.call(context, {
		createClient: (imapOptions) => {
			clientOptions.push(imapOptions);
			return factory(imapOptions);
		},
	});
	return { items, clientOptions };
}
