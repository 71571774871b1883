/**
 * The real mail stack for tests and the demo: Dovecot (IMAP, POP3, LMTP), Postfix (submission) and an OAuth2 token
 * server on 127.0.0.1, all speaking XOAUTH2 / OAUTHBEARER with JWT access tokens.
 *
 * In jest's integration project one stack is started per run (jest/globalSetup.ts); test files call getStack().
 * Elsewhere: `const stack = await startStack(); ... await stack.stop();` or `npx tsx test/stack/cli.ts start`.
 */
import * as fs from 'node:fs';
import { Stack, type StackInfo } from './stack';

export { startStack, RunningStack, MAIL_SCOPE, type StartStackOptions } from './start';
export {
	Stack,
	waitForTokenExpiry,
	type StackInfo,
	type OAuthEndpoints,
	type MailboxState,
	type MessageState,
	type Session,
	type OutgoingMessage,
	type DeliverOptions,
	type DeliveryRoute,
	type Delivery,
	type TokenRequestFilter,
	type TokenEndpointResponse,
} from './stack';
export type { TokenRequestRecord, TokenServerSettings, TokenSet } from './oauth/tokenServer';
export { decodeJwtPayload } from './oauth/jwt';
export { LineClient, type LineClientOptions } from './lineClient';
export { PORT_NAMES, type PortName, type StackPorts } from './ports';
export { MAIL_DOMAIN } from './configs';

/** Environment variable naming the JSON connection file that jest's global setup writes. */
export const STACK_INFO_ENV = 'GX_STACK_INFO';

let shared: Stack | undefined;

/** The stack started for this jest run (integration and e2e projects). */
export function getStack(): Stack {
	if (shared) return shared;
	const file = process.env[STACK_INFO_ENV];
	if (!file || !fs.existsSync(file)) {
		throw new Error(
			`No mail stack for this test: ${STACK_INFO_ENV} is not set or its file is gone. Run integration tests through ` +
				'jest\'s integration project (npm run test:integration), whose global setup starts the stack.',
		);
	}
	shared = new Stack(JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo);
	return shared;
}
