import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * Gmail / Google Workspace mail over IMAP, SMTP and POP with SASL XOAUTH2. Everything Google-specific is a hidden
 * field (n8n always uses hidden defaults), so a user can neither break it nor point it elsewhere. The stored field
 * names live in users' n8n databases: keep them stable.
 */
export class GoogleMailOAuth2Api implements ICredentialType {
	name = 'googleMailOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'Google Mail (IMAP/SMTP/POP) OAuth2 API';

	documentationUrl = 'https://www.npmjs.com/package/n8n-nodes-gmail-xoauth2#google-mail-credential';

	icon = { light: 'file:icons/googleMail.svg', dark: 'file:icons/googleMail.dark.svg' } as const;

	properties: INodeProperties[] = [
		{
			displayName: 'Grant Type',
			name: 'grantType',
			type: 'hidden',
			default: 'authorizationCode',
		},
		{
			displayName: 'Authorization URL',
			name: 'authUrl',
			type: 'hidden',
			default: 'https://accounts.google.com/o/oauth2/v2/auth',
		},
		{
			displayName: 'Access Token URL',
			name: 'accessTokenUrl',
			type: 'hidden',
			default: 'https://oauth2.googleapis.com/token',
		},
		{
			// The only scope that grants IMAP, POP and SMTP access to Gmail.
			displayName: 'Scope',
			name: 'scope',
			type: 'hidden',
			default: 'https://mail.google.com/',
		},
		{
			// offline: Google issues a refresh token only with access_type=offline.
			// consent: Google sends a refresh token again on every reconnect, not just the first one.
			displayName: 'Auth URI Query Parameters',
			name: 'authQueryParameters',
			type: 'hidden',
			default: 'access_type=offline&prompt=consent',
		},
		{
			displayName: 'Authentication',
			name: 'authentication',
			type: 'hidden',
			default: 'body',
		},
		{
			displayName: 'Email',
			name: 'email',
			type: 'string',
			placeholder: 'name@gmail.com',
			default: '',
			required: true,
			description:
				'The Gmail or Google Workspace address to sign in as. It must be the account you connect below: the mail servers check that the address and the token belong together.',
		},
		{
			displayName:
				'In the Google Cloud console, enable the OAuth consent screen and add the scope https://mail.google.com/. While the app\'s publishing status is "Testing", Google revokes its refresh tokens after 7 days: publish it to keep this credential connected.',
			name: 'consentScreenNotice',
			type: 'notice',
			default: '',
		},
	];
}
