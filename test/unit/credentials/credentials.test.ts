import * as fs from 'node:fs';
import * as path from 'node:path';

import type { INodeParameters, INodeProperties, INodeTypes } from 'n8n-workflow';
import { NodeHelpers, Workflow } from 'n8n-workflow';

import { GoogleMailOAuth2Api } from '../../../credentials/GoogleMailOAuth2Api.credentials';
import { MailServerOAuth2Api } from '../../../credentials/MailServerOAuth2Api.credentials';

function property(properties: INodeProperties[], name: string): INodeProperties {
	const found = properties.filter((candidate) => candidate.name === name);
	expect(found).toHaveLength(1);
	return found[0];
}

/**
 * What n8n's Connect flow does with a credential's data before building the authorization URL
 * (packages/cli/src/oauth/oauth.service.ts getOAuthCredentials + CredentialsHelper.applyDefaultsAndOverwrites):
 * delete a stored `scope` (older n8n: for every "OAuth2" type outside its allow-list; newer: when `scope` is
 * hidden), fill in the defaults, then resolve expressions with the data itself as `$self`.
 */
function resolveLikeConnectFlow(properties: INodeProperties[], stored: INodeParameters): INodeParameters {
	const data = { ...stored };
	delete data.scope;
	const withDefaults = NodeHelpers.getNodeParameters(properties, data, true, false, null, null) as INodeParameters;
	const node = { id: 'temp', name: 'Temp', type: 'temp', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
	const nodeTypes = {
		getByName: () => ({ description: { properties: [] } }),
		getByNameAndVersion: () => ({ description: { properties: [] } }),
		getKnownTypes: () => ({}),
	} as unknown as INodeTypes;
	const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
	return workflow.expression.getParameterValue(
		withDefaults,
		null,
		0,
		0,
		node.name,
		[],
		'internal',
		{},
		undefined,
		false,
		withDefaults,
	) as INodeParameters;
}

describe('GoogleMailOAuth2Api', () => {
	const credential = new GoogleMailOAuth2Api();

	it('is an oAuth2Api extension with the names the package.json and the nodes use', () => {
		expect(credential.name).toBe('googleMailOAuth2Api');
		expect(credential.displayName).toBe('Google Mail (IMAP/SMTP/POP) OAuth2 API');
		expect(credential.extends).toEqual(['oAuth2Api']);
		expect(credential.documentationUrl).toMatch(/^https:\/\//);
	});

	it.each([
		['grantType', 'authorizationCode'],
		['authUrl', 'https://accounts.google.com/o/oauth2/v2/auth'],
		['accessTokenUrl', 'https://oauth2.googleapis.com/token'],
		['scope', 'https://mail.google.com/'],
		['authQueryParameters', 'access_type=offline&prompt=consent'],
		['authentication', 'body'],
	])('fixes %s to %s in a hidden field', (name, value) => {
		const field = property(credential.properties, name);
		expect(field.type).toBe('hidden');
		expect(field.default).toBe(value);
	});

	it('asks only for the account address besides the client ID and secret (which come from oAuth2Api)', () => {
		const visible = credential.properties.filter((field) => field.type !== 'hidden' && field.type !== 'notice');
		expect(visible.map((field) => field.name)).toEqual(['email']);
		const email = property(credential.properties, 'email');
		expect(email).toMatchObject({ type: 'string', required: true, default: '' });
	});

	it('requests the Gmail scope in the Connect flow even when stale scope data is stored', () => {
		const resolved = resolveLikeConnectFlow(credential.properties, { scope: 'openid', email: 'a@gmail.com' });
		expect(resolved.scope).toBe('https://mail.google.com/');
		expect(resolved.authQueryParameters).toBe('access_type=offline&prompt=consent');
	});
});

describe('MailServerOAuth2Api', () => {
	const credential = new MailServerOAuth2Api();

	it('is an oAuth2Api extension with the names the package.json and the nodes use', () => {
		expect(credential.name).toBe('mailServerOAuth2Api');
		expect(credential.displayName).toBe('Mail Server (XOAUTH2) OAuth2 API');
		expect(credential.extends).toEqual(['oAuth2Api']);
		expect(credential.documentationUrl).toMatch(/^https:\/\//);
	});

	it.each(['authUrl', 'accessTokenUrl', 'enabledScopes', 'authQueryParameters'])('lets the user edit %s', (name) => {
		expect(property(credential.properties, name).type).toBe('string');
	});

	it('pins the grant type to the authorization code flow, which yields refresh tokens', () => {
		expect(property(credential.properties, 'grantType')).toMatchObject({ type: 'hidden', default: 'authorizationCode' });
	});

	it('offers body and header client authentication, body by default', () => {
		const field = property(credential.properties, 'authentication');
		expect(field.type).toBe('options');
		expect(field.default).toBe('body');
		expect(field.options?.map((option) => ('value' in option ? option.value : undefined))).toEqual(['body', 'header']);
	});

	it('requests exactly the scope the user entered, on every n8n version', () => {
		const stored = {
			enabledScopes: 'https://outlook.office.com/IMAP.AccessAsUser.All offline_access',
			// A stale value from an earlier save must not win: n8n deletes it, the hidden default recomputes it.
			scope: 'openid',
			email: 'user@example.com',
		};
		const resolved = resolveLikeConnectFlow(credential.properties, stored);
		expect(resolved.scope).toBe('https://outlook.office.com/IMAP.AccessAsUser.All offline_access');
		expect(property(credential.properties, 'scope').type).toBe('hidden');
	});

	it('has stable server field names with implicit-TLS default ports and automatic security', () => {
		expect(property(credential.properties, 'email')).toMatchObject({ type: 'string', required: true });
		expect(property(credential.properties, 'imapHost')).toMatchObject({ type: 'string', default: '' });
		expect(property(credential.properties, 'imapPort')).toMatchObject({ type: 'number', default: 993 });
		expect(property(credential.properties, 'smtpHost')).toMatchObject({ type: 'string', default: '' });
		expect(property(credential.properties, 'smtpPort')).toMatchObject({ type: 'number', default: 465 });
		expect(property(credential.properties, 'popHost')).toMatchObject({ type: 'string', default: '' });
		expect(property(credential.properties, 'popPort')).toMatchObject({ type: 'number', default: 995 });
		for (const name of ['imapSecurity', 'smtpSecurity', 'popSecurity']) {
			const field = property(credential.properties, name);
			expect(field.default).toBe('auto');
			expect(field.options?.map((option) => ('value' in option ? option.value : undefined))).toEqual([
				'auto',
				'tls',
				'starttls',
				'none',
			]);
		}
	});

	it('verifies mail server certificates unless the user opts out', () => {
		const field = property(credential.properties, 'allowUnauthorizedCerts');
		expect(field).toMatchObject({ type: 'boolean', default: false });
		expect(field.displayName).toMatch(/insecure/i);
		expect(property(credential.properties, 'ignoreSSLIssues')).toMatchObject({ type: 'boolean', default: false });
	});

	it('offers an optional, unmasked multi-line CA certificate field, placed before the switch that turns checks off', () => {
		const field = property(credential.properties, 'caCertificate');
		expect(field).toMatchObject({ displayName: 'CA Certificate (PEM)', type: 'string', default: '', typeOptions: { rows: 4 } });
		expect(field.required).toBeFalsy();
		// Public data: masking it would hide which authority the credential trusts.
		expect(field.typeOptions?.password).toBeUndefined();
		expect(field.description).toMatch(/IMAP, SMTP and POP3/);
		const names = credential.properties.map((candidate) => candidate.name);
		expect(names.indexOf('caCertificate')).toBe(names.indexOf('allowUnauthorizedCerts') - 1);
	});

	it('says in the "None (Insecure)" option that only a server on this machine may use it', () => {
		const none = property(credential.properties, 'imapSecurity').options?.find(
			(option) => 'value' in option && option.value === 'none',
		) as { description?: string } | undefined;
		expect(none?.description).toMatch(/localhost, 127\.0\.0\.0\/8 or ::1/);
	});
});

describe('package wiring', () => {
	const root = path.resolve(__dirname, '../../..');
	const packageJson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
		n8n: { credentials: string[] };
	};

	it.each([
		['GoogleMailOAuth2Api', new GoogleMailOAuth2Api()],
		['MailServerOAuth2Api', new MailServerOAuth2Api()],
	])('registers %s in package.json and ships its themed icons', (className, credential) => {
		expect(packageJson.n8n.credentials).toContain(`dist/credentials/${className}.credentials.js`);
		const icon = credential.icon as { light: string; dark: string };
		for (const variant of [icon.light, icon.dark]) {
			expect(variant).toMatch(/^file:.+\.svg$/);
			const file = path.join(root, 'credentials', variant.slice('file:'.length));
			expect(fs.readFileSync(file, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
		}
		expect(icon.light).not.toBe(icon.dark);
	});
});
