import type { ImapFlowOptions } from 'imapflow';

import { TokenRejectedError } from '../../../../nodes/mail/auth/errors';
import { resolveMailConnection } from '../../../../nodes/mail/connection';
import { DEFAULT_SESSION_TIMING, openImapSession, toLoginError } from '../../../../nodes/mail/imap/session';
import { FakeImapClient, FakeImapServer } from './fakeImap';
import { newAuthority, recordingLogger } from './watcherHarness';

describe('toLoginError', () => {
	it("turns imapflow's authentication failure into a TokenRejectedError with the decoded challenge and the server's words", () => {
		const imapflowError = Object.assign(new Error('Authentication failed'), {
			authenticationFailed: true,
			response: 'Invalid credentials (Failure)',
			oauthError: { status: '401', schemes: 'Bearer', scope: 'https://mail.google.com/' },
		});
		const error = toLoginError(imapflowError) as TokenRejectedError;
		expect(error).toBeInstanceOf(TokenRejectedError);
		expect(error.challenge).toEqual({ status: '401', schemes: 'Bearer', scope: 'https://mail.google.com/' });
		expect(error.serverText).toBe('Invalid credentials (Failure)');
		// imapflow's error (protocol details) is not carried along.
		expect(error.cause).toBeUndefined();
	});

	it('leaves every other error as it is', () => {
		const network = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
		expect(toLoginError(network)).toBe(network);
	});
});

describe('openImapSession', () => {
	it('hands imapflow the shared TLS options: verification on, TLS 1.2, and no undefined servername for an IP host', async () => {
		const server = new FakeImapServer();
		const authority = newAuthority(server);
		const connection = resolveMailConnection('mailServerOAuth2Api', authority.credentials, ['imap']);
		let options: ImapFlowOptions | undefined;
		const session = await openImapSession({
			endpoint: connection.imap,
			tokens: {
				credentialType: 'mailServerOAuth2Api',
				email: 'user@example.test',
				getAccessToken: async () => 'tok-initial',
				refresh: async () => 'tok-initial',
				expiresAt: () => undefined,
			} as unknown as Parameters<typeof openImapSession>[0]['tokens'],
			createClient: (imapOptions) => {
				options = imapOptions;
				return new FakeImapClient(server, imapOptions);
			},
			logger: recordingLogger(),
			timing: DEFAULT_SESSION_TIMING,
			track: () => undefined,
			label: 'test',
		});
		session.destroy();
		expect(options?.tls).toEqual({ rejectUnauthorized: true, minVersion: 'TLSv1.2' });
		expect(Object.keys(options?.tls ?? {})).not.toContain('servername');
		expect(options?.auth).toEqual({ user: 'user@example.test', accessToken: 'tok-initial' });
	});
});
