/**
 * Scenario 5: n8n's "Connect my account" flow for the generic XOAUTH2 credential (mailServerOAuth2Api), clicked in the
 * real editor in headless Chromium, against the mail stack's auto-approving authorization endpoint - then the
 * connected credential used by the package's nodes. The same run photographs the editor for the README
 * (docs/images/*.png, rewritten only with UPDATE_SCREENSHOTS=1; otherwise the pictures go to a temp folder).
 *
 * Nothing here calls n8n's OAuth endpoints directly: the browser does, exactly as for a user (editor saves the
 * credential, asks n8n for the authorization URL, opens the popup, the popup follows /authorize's redirect to n8n's
 * callback, which exchanges the code and closes the popup).
 */
import { createHash, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Page, Request } from 'playwright-core';

import { autoReplyWorkflow } from '../../../scripts/demo';
import { decodeJwtPayload, startStack, type RunningStack } from '../../stack';
import { tokenServerPaths } from '../../stack/oauth/tokenServer';
import { repoRoot, startN8n, type N8nInstance } from '../harness';
import { launchChromium, type LaunchedBrowser } from '../harness/browser';
import { closeNode, openCredential, openNode, openWorkflow, parameterInput, pngSize, screenshot, signIn, testId } from './editor';

const minutes = (count: number): number => count * 60 * 1000;
const progress = (line: string): void => {
	process.stdout.write(`[e2e connect] ${line}\n`);
};

/** What the user types into the credential's Scope field: two scopes, so "exactly" includes the separator. */
const typedScope = 'https://mail.google.com/ offline_access';

/** The token server's own record of one /authorize request (it keeps them in its state file, by code hash). */
interface AuthorizationCodeRecord {
	user: string;
	scope: string;
	clientId: string;
	redirectUri: string;
}

function authorizationRecord(stack: RunningStack, code: string): AuthorizationCodeRecord | undefined {
	const state = JSON.parse(fs.readFileSync(tokenServerPaths(stack.dir).stateFile, 'utf8')) as {
		codes: Record<string, AuthorizationCodeRecord>;
	};
	return state.codes[createHash('sha256').update(code).digest('hex')];
}

const screenshotTarget = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(repoRoot, 'docs', 'images') : undefined;

describe('Connect my account for the XOAUTH2 credential, in the n8n editor (headless Chromium)', () => {
	let stack: RunningStack | undefined;
	let n8n: N8nInstance | undefined;
	let browser: LaunchedBrowser | undefined;
	let page: Page | undefined;
	const screenshotDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gx-e2e-screenshots-'));
	const mailbox = `connect-${randomUUID().slice(0, 8)}@example.test`;
	const credentialId = randomUUID().replace(/-/g, '').slice(0, 16);
	const credentialName = 'Mail server via Connect';
	let connected = false;

	const running = (): { stack: RunningStack; n8n: N8nInstance; page: Page } => {
		if (!stack || !n8n || !page) throw new Error('set-up failed (see beforeAll)');
		return { stack, n8n, page };
	};

	beforeAll(async () => {
		stack = await startStack({ log: progress });
		// /authorize approves this account (n8n sends no login_hint), so the tokens are for the credential's mailbox.
		await stack.configureTokenServer({ defaultUser: mailbox });
		n8n = await startN8n({
			log: progress,
			env: {
				// The nodes verify the stack's self-signed certificate against this CA, as n8n users add a private CA.
				NODE_EXTRA_CA_CERTS: path.join(stack.dir, 'tls', 'cert.pem'),
				// The editor's node panel makes the server fetch n8n's list of verified community nodes from api.n8n.io.
				N8N_VERIFIED_PACKAGES_ENABLED: 'false',
			},
		});
		browser = await launchChromium({ log: progress, viewport: { width: 1280, height: 800 } });
		page = await browser.context.newPage();
		await signIn(page, n8n);
	}, minutes(40));

	afterAll(async () => {
		await browser?.close();
		await n8n?.stop();
		await stack?.stop();
		fs.rmSync(screenshotDir, { recursive: true, force: true });
	}, minutes(3));

	test('the owner types the scope and clicks Connect; n8n stores real tokens for exactly that scope', async () => {
		const { stack, n8n, page } = running();
		// A credential as a user would have filled it in, short of the scope and without tokens.
		await n8n.importCredentials([
			{
				id: credentialId,
				name: credentialName,
				type: 'mailServerOAuth2Api',
				data: {
					authUrl: stack.oauth.authorizeUrl,
					accessTokenUrl: stack.oauth.tokenUrl,
					clientId: stack.oauth.clientId,
					clientSecret: stack.oauth.clientSecret,
					authentication: 'body',
					email: mailbox,
					imapHost: stack.host,
					imapPort: stack.ports.imaps,
					smtpHost: stack.host,
					smtpPort: stack.ports.smtps,
					popHost: stack.host,
					popPort: stack.ports.pop3s,
				},
			},
		]);
		const codeGrantsBefore = await stack.tokenRequestCount({ grantType: 'authorization_code' });

		const dialog = await openCredential(page, n8n, credentialId);
		// Scope is required: no Connect button until it is filled in.
		await expect(testId(dialog, 'quick-connect-button').isVisible()).resolves.toBe(false);
		await parameterInput(dialog, 'enabledScopes').fill(typedScope);
		const connectButton = testId(dialog, 'quick-connect-button');
		await connectButton.waitFor({ state: 'visible', timeout: 10_000 });

		// Every request of the flow, from the editor page and the popup alike (they share the browser context).
		const flowRequests: Request[] = [];
		const onRequest = (request: Request): void => {
			const url = request.url();
			if (url.startsWith(stack.oauth.authorizeUrl) || url.includes('/rest/oauth2-credential/')) flowRequests.push(request);
		};
		page.context().on('request', onRequest);
		const popupOpened = page.context().waitForEvent('page', { timeout: 30_000 });
		await connectButton.click();
		const popup = await popupOpened;
		// The callback page reports to the editor and closes itself.
		await popup.waitForEvent('close', { timeout: 30_000 });
		await testId(dialog, 'oauth-connect-success-banner').waitFor({ state: 'visible', timeout: 30_000 });
		page.context().off('request', onRequest);
		connected = true;

		// The editor asked n8n for the URL, the popup went to the stack's /authorize and came back to n8n's callback.
		const authUriRequest = flowRequests.find((request) => request.url().includes('/rest/oauth2-credential/auth?'));
		const authorizeRequest = flowRequests.find((request) => request.url().startsWith(`${stack.oauth.authorizeUrl}?`));
		const callbackRequest = flowRequests.find((request) => request.url().includes('/rest/oauth2-credential/callback?'));
		expect(new URL(authUriRequest?.url() ?? 'http://missing/').searchParams.get('id')).toBe(credentialId);
		expect(authorizeRequest).toBeDefined();
		expect(callbackRequest).toBeDefined();
		expect(authorizeRequest?.frame().page()).toBe(popup);
		const authorizeUrl = new URL(authorizeRequest?.url() ?? 'http://missing/');
		const callbackUrl = new URL(callbackRequest?.url() ?? 'http://missing/');
		expect(callbackUrl.origin + callbackUrl.pathname).toBe(`${n8n.baseUrl}/rest/oauth2-credential/callback`);

		// The scope: exactly what was typed, in the popup's request, in the token server's record of that request (found
		// by the code it issued), in the issued token, and in what n8n stored.
		expect(authorizeUrl.searchParams.get('scope')).toBe(typedScope);
		expect(authorizeUrl.searchParams.get('client_id')).toBe(stack.oauth.clientId);
		expect(authorizeUrl.searchParams.get('redirect_uri')).toBe(`${n8n.baseUrl}/rest/oauth2-credential/callback`);
		const code = callbackUrl.searchParams.get('code');
		expect(code).toBeTruthy();
		const record = authorizationRecord(stack, code as string);
		expect(record).toEqual({
			user: mailbox,
			scope: typedScope,
			clientId: stack.oauth.clientId,
			redirectUri: `${n8n.baseUrl}/rest/oauth2-credential/callback`,
			codeChallenge: undefined,
			codeChallengeMethod: undefined,
			expiresAt: expect.any(Number),
			used: true,
		});

		// n8n exchanged the code once, successfully, and stored the tokens with its own expiry stamp.
		const codeGrants = await stack.tokenRequests({ grantType: 'authorization_code' });
		expect(codeGrants.length).toBe(codeGrantsBefore + 1);
		expect(codeGrants.at(-1)).toMatchObject({ user: mailbox, status: 200 });
		const tokenData = await n8n.readCredentialTokenData(credentialId);
		expect(typeof tokenData?.access_token).toBe('string');
		expect(typeof tokenData?.refresh_token).toBe('string');
		expect(tokenData?.scope).toBe(typedScope);
		const expiresAt = Number(tokenData?.n8n_expires_at);
		expect(expiresAt).toBeGreaterThan(Date.now() + 50 * 60 * 1000);
		expect(expiresAt).toBeLessThan(Date.now() + 61 * 60 * 1000);
		const claims = decodeJwtPayload(tokenData?.access_token as string);
		expect(claims).toMatchObject({ email: mailbox, scope: typedScope, iss: stack.oauth.url });
		// The refresh token is live at the token server (the credential can renew itself).
		expect((await stack.refreshAccessToken(tokenData?.refresh_token as string)).status).toBe(200);

		// The credential as the user left it: the typed scope is stored in the field they typed it into.
		const stored = await n8n.readCredential(credentialId);
		expect(stored.data.enabledScopes).toBe(typedScope);

		await screenshot(page, screenshotDir, 'credential-connected');
	}, minutes(4));

	test('the connected credential works: Gmail POP "Get Count" run from the editor counts the mailbox', async () => {
		const { stack, n8n, page } = running();
		expect(connected).toBe(true);
		for (const subject of ['one', 'two', 'three']) await stack.deliver({ to: mailbox, subject, text: subject });
		const workflowId = await n8n.importWorkflow({
			name: 'Count mail over POP',
			settings: { executionOrder: 'v1' },
			nodes: [
				{
					id: randomUUID(),
					name: 'When clicking Execute workflow',
					type: 'n8n-nodes-base.manualTrigger',
					typeVersion: 1,
					position: [0, 0],
					parameters: {},
				},
				{
					id: randomUUID(),
					name: 'Gmail POP',
					type: 'n8n-nodes-gmail-xoauth2.gmailPop',
					typeVersion: 1,
					position: [260, 0],
					parameters: { authentication: 'mailServerOAuth2Api', operation: 'getCount' },
					credentials: { mailServerOAuth2Api: { id: credentialId, name: credentialName } },
				},
			],
			connections: {
				'When clicking Execute workflow': { main: [[{ node: 'Gmail POP', type: 'main', index: 0 }]] },
			},
		});

		await openWorkflow(page, n8n, workflowId, 2);
		await testId(page, 'execute-workflow-button').click();
		const [execution] = await n8n.waitForExecutions(workflowId, 1, 60_000, true);
		expect(execution.mode).toBe('manual');
		expect(execution.status).toBe('success');
		const output = execution.data?.resultData.runData['Gmail POP']?.[0].data?.main[0]?.[0]?.json;
		expect(output).toMatchObject({ count: 3 });
		expect(Number(output?.size)).toBeGreaterThan(0);
		// The run used the Connect tokens as they were: no refresh needed for an hour-long token.
		expect(await stack.tokenRequestCount({ grantType: 'refresh_token', user: mailbox, since: Date.parse(execution.startedAt) })).toBe(0);

		// The parameter panel with the run's output, for the README.
		const panel = await openNode(page, 'Gmail POP');
		await testId(panel, 'ndv-data-container').filter({ hasText: 'count' }).waitFor({ state: 'visible', timeout: 15_000 });
		await screenshot(page, screenshotDir, 'node-gmail-pop');
		await closeNode(page);
	}, minutes(3));

	test('the sample workflow (new mail → auto-reply) runs on the connected credential; editor pictures', async () => {
		const { stack, n8n, page } = running();
		expect(connected).toBe(true);
		const workflow = autoReplyWorkflow({ id: credentialId, name: credentialName }, mailbox);
		const workflowId = await n8n.importWorkflow(workflow);
		await n8n.activateWorkflow(workflowId);
		await n8n.waitForTriggersLive(workflowId);
		const sender = stack.newMailbox('sender');
		const delivered = await stack.deliver({ from: sender, to: mailbox, subject: 'Question about my order', text: 'Hello?' });
		const executions = await n8n.waitForExecutions(workflowId, 1, 60_000);
		expect(executions.map((execution) => execution.status)).toEqual(['success']);
		const replies = await stack.waitForMessages(sender, 1, { includeRaw: true, timeoutMs: 30_000 });
		expect(replies.messages[0].raw).toContain(`In-Reply-To: ${delivered.messageId}`);
		expect(replies.messages[0].raw).toMatch(/^Subject: Re: Question about my order/m);

		await openWorkflow(page, n8n, workflowId, 3);
		await screenshot(page, screenshotDir, 'workflow-auto-reply');
		// The trigger's panel with its option list open: what the trigger can do beyond the defaults.
		const triggerPanel = await openNode(page, 'New mail');
		await testId(triggerPanel, 'collection-parameter-add').click();
		await page.getByText('Additional Folders', { exact: true }).last().waitFor({ state: 'visible', timeout: 10_000 });
		await screenshot(page, screenshotDir, 'node-gmail-imap-trigger');
		await page.keyboard.press('Escape');
		await closeNode(page);
		// The SMTP panel scrolled to the reply settings (reply to the input email, the loop-guard header).
		const smtpPanel = await openNode(page, 'Auto-reply');
		await testId(smtpPanel, 'parameter-input-replyToInputEmail').scrollIntoViewIfNeeded();
		await screenshot(page, screenshotDir, 'node-gmail-smtp');
		await closeNode(page);
	}, minutes(4));

	test('the pictures are real PNGs of the editor size (copied to docs/images with UPDATE_SCREENSHOTS=1)', () => {
		const expected = [
			'credential-connected',
			'node-gmail-pop',
			'workflow-auto-reply',
			'node-gmail-imap-trigger',
			'node-gmail-smtp',
		];
		for (const name of expected) {
			const file = path.join(screenshotDir, `${name}.png`);
			const size = pngSize(file);
			expect({ name, width: size.width, height: size.height }).toEqual({ name, width: 1280, height: 800 });
			// An empty or blank page compresses to a few kilobytes; the editor with text and icons does not.
			expect(size.bytes).toBeGreaterThan(15_000);
		}
		expect(running().page.isClosed()).toBe(false);
		// The browser may not leave the machine (launchChromium aborts such requests). The editor asks only for its web
		// font from Google Fonts (and falls back to a local font); anything else would be a new outside call to look at.
		const outsideHosts = new Set((browser?.blockedRequests ?? []).map((url) => new URL(url).hostname));
		for (const host of outsideHosts) expect(['fonts.googleapis.com', 'fonts.gstatic.com']).toContain(host);
		if (screenshotTarget) {
			fs.mkdirSync(screenshotTarget, { recursive: true });
			for (const name of expected) fs.copyFileSync(path.join(screenshotDir, `${name}.png`), path.join(screenshotTarget, `${name}.png`));
			progress(`screenshots written to ${screenshotTarget}`);
		}
	});
});
