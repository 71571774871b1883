import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/** Values shared by the three per-protocol "Security" fields; 'auto' decides from the port (see nodes/mail/connection.ts). */
const securityOptions = [
	{
		name: 'Automatic (From the Port)',
		value: 'auto',
		description:
			'SSL/TLS on 993, 465 and 995; STARTTLS on 143, 587, 25 and 110; SSL/TLS on any other port',
	},
	{
		name: 'SSL/TLS',
		value: 'tls',
		description: 'TLS from the first byte (implicit TLS)',
	},
	{
		name: 'STARTTLS',
		value: 'starttls',
		description: 'Connect in plain text, then upgrade with STARTTLS before logging in; fail if the server cannot',
	},
	{
		name: 'None (Insecure)',
		value: 'none',
		description:
			'No encryption: the access token would be readable on the way. Refused unless the host is this machine (localhost, 127.0.0.0/8 or ::1).',
	},
];

/**
 * Any mail server that accepts SASL XOAUTH2 (Microsoft 365, Dovecot with an OAuth2 passdb, other providers):
 * the OAuth2 endpoints, the scope, the account and the IMAP / SMTP / POP servers are all editable.
 *
 * Scope: the user edits `enabledScopes`; the hidden `scope` that n8n's Connect flow requests is an expression over
 * it. Before n8n's fix for community credentials (n8n-io/n8n PRs #27858 / #28953), the Connect flow deleted the
 * stored `scope` of every type whose name contains "OAuth2" unless the type was in n8n's
 * GENERIC_OAUTH2_CREDENTIALS_WITH_EDITABLE_SCOPE list, and requested the type's default instead; newer n8n deletes
 * it whenever `scope` is hidden. In both cases the default below is what gets requested, and it resolves to the
 * user's value, so the user's scope is requested on every n8n version (n8n's own Zendesk and Google Sheets
 * credentials use the same pattern).
 *
 * The stored field names are part of the public interface (they live in users' n8n databases): keep them stable.
 */
export class MailServerOAuth2Api implements ICredentialType {
	name = 'mailServerOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'Mail Server (XOAUTH2) OAuth2 API';

	documentationUrl = 'https://www.npmjs.com/package/n8n-nodes-gmail-xoauth2#mail-server-xoauth2-credential';

	icon = { light: 'file:icons/mailServer.svg', dark: 'file:icons/mailServer.dark.svg' } as const;

	properties: INodeProperties[] = [
		{
			// The nodes need a refresh token for the user's mailbox, which only the authorization code flow yields.
			displayName: 'Grant Type',
			name: 'grantType',
			type: 'hidden',
			default: 'authorizationCode',
		},
		{
			displayName: 'Authorization URL',
			name: 'authUrl',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'e.g. https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
		},
		{
			displayName: 'Access Token URL',
			name: 'accessTokenUrl',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'e.g. https://login.microsoftonline.com/common/oauth2/v2.0/token',
		},
		{
			displayName: 'Scope',
			name: 'enabledScopes',
			type: 'string',
			default: '',
			required: true,
			placeholder:
				'e.g. https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access',
			description:
				'Space-separated scopes to request. Include the scope your provider needs for refresh tokens (Microsoft: offline_access).',
		},
		{
			displayName: 'Scope (Requested)',
			name: 'scope',
			type: 'hidden',
			default: '={{$self["enabledScopes"]}}',
		},
		{
			displayName: 'Auth URI Query Parameters',
			name: 'authQueryParameters',
			type: 'string',
			default: '',
			placeholder: 'e.g. access_type=offline&prompt=consent',
			description: 'Extra query parameters for the authorization URL, if your provider needs any',
		},
		{
			displayName: 'Authentication',
			name: 'authentication',
			type: 'options',
			options: [
				{
					name: 'Body',
					value: 'body',
					description: 'Send the client ID and secret in the token request body',
				},
				{
					name: 'Header',
					value: 'header',
					description: 'Send the client ID and secret as a Basic Auth header',
				},
			],
			default: 'body',
		},
		{
			displayName: 'Email',
			name: 'email',
			type: 'string',
			placeholder: 'name@example.com',
			default: '',
			required: true,
			description:
				'The account to sign in as (the XOAUTH2 user). It must be the account you connect below.',
		},
		{
			// Microsoft 365 opens a shared mailbox for a signed-in user who has Full Access to it when the SASL XOAUTH2
			// `user=` names the shared mailbox and the token is the user's own (nodes/glue/mailAccount.ts).
			displayName: 'Mailbox to Open (Shared Mailbox)',
			name: 'sharedMailbox',
			type: 'string',
			placeholder: 'e.g. support@example.com',
			default: '',
			description:
				'Optional. The address of a shared mailbox (Microsoft 365) to open instead of the account’s own, with the account’s token: it becomes the login user on IMAP, POP3 and SMTP and the default sender. The account needs Full Access (and Send As to send) on it. Leave empty for the account’s own mailbox.',
		},
		{
			displayName: 'IMAP Host',
			name: 'imapHost',
			type: 'string',
			default: '',
			placeholder: 'e.g. outlook.office365.com',
			description: 'Leave empty if you do not use IMAP with this credential',
		},
		{
			displayName: 'IMAP Port',
			name: 'imapPort',
			type: 'number',
			default: 993,
		},
		{
			displayName: 'IMAP Security',
			name: 'imapSecurity',
			type: 'options',
			options: securityOptions,
			default: 'auto',
		},
		{
			displayName: 'SMTP Host',
			name: 'smtpHost',
			type: 'string',
			default: '',
			placeholder: 'e.g. smtp.office365.com',
			description: 'Leave empty if you do not send mail with this credential',
		},
		{
			displayName: 'SMTP Port',
			name: 'smtpPort',
			type: 'number',
			default: 465,
			description: '465 for SSL/TLS, 587 for STARTTLS (Microsoft 365 uses 587)',
		},
		{
			displayName: 'SMTP Security',
			name: 'smtpSecurity',
			type: 'options',
			options: securityOptions,
			default: 'auto',
		},
		{
			displayName: 'POP3 Host',
			name: 'popHost',
			type: 'string',
			default: '',
			placeholder: 'e.g. outlook.office365.com',
			description: 'Leave empty if you do not use POP3 with this credential',
		},
		{
			displayName: 'POP3 Port',
			name: 'popPort',
			type: 'number',
			default: 995,
		},
		{
			displayName: 'POP3 Security',
			name: 'popSecurity',
			type: 'options',
			options: securityOptions,
			default: 'auto',
		},
		// A CA certificate is public, not a secret: the masking rule matches "cert" in the name, but a masked field would
		// hide from the user which authority the credential trusts. Several rows, so a pasted PEM keeps its line breaks
		// (a single-line input strips them; nodes/mail/connection.ts re-wraps the base64 either way).
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'CA Certificate (PEM)',
			name: 'caCertificate',
			type: 'string',
			typeOptions: { rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----',
			description:
				'Only for servers whose certificate comes from a private (company) certificate authority: paste that authority\'s certificate, PEM, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----. The IMAP, SMTP and POP3 servers are then verified against it as well as the public authorities, instead of turning certificate checks off. Leave empty for servers with a public certificate.',
		},
		// A boolean switch, not a secret: the masking rule matches "cert" in the name. The name follows n8n's own
		// Send Email option of the same meaning.
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'Ignore Mail Server Certificate Errors (Insecure)',
			name: 'allowUnauthorizedCerts',
			type: 'boolean',
			default: false,
			description:
				'Whether to connect even when the IMAP, SMTP or POP3 server presents a self-signed, expired or mismatched certificate. Anyone able to intercept the connection could then read the access token. For a certificate from a private (company) certificate authority, fill in "CA Certificate (PEM)" instead.',
		},
		{
			// Same name as the field n8n's own OAuth2 types use (n8n does not pass it on to types that extend oAuth2Api):
			// n8n's code exchange and token refresh read `ignoreSSLIssues` from the credential data.
			displayName: 'Ignore Token URL Certificate Errors (Insecure)',
			name: 'ignoreSSLIssues',
			type: 'boolean',
			default: false,
			description:
				'Whether to accept a self-signed or otherwise invalid certificate from the authorization server (Access Token URL)',
		},
	];
}
