/**
 * A mail credential as n8n stores it, and n8n's token refresh, for integration tests of any node against the stack.
 *
 * What n8n 2.41 does (shared/reference/n8n-runtime.md, verified in a real n8n): `getCredentials` reads the stored data
 * on every call; `helpers.refreshOAuth2Token` must be called bound to the node context (it reads
 * `this.getCredentials`), always calls the token endpoint with the refresh_token grant, merges the answer into the
 * stored token data (so the refresh token survives), writes `n8n_expires_at` as a STRING of epoch ms, turns
 * `invalid_grant` into "The credential ... needs to be reconnected." and leaves a network failure as the raw error.
 */
import type { ICredentialDataDecryptedObject, IDataObject, INode } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { Stack } from '../../stack';

export const MAIL_SERVER_TYPE = 'mailServerOAuth2Api';
export const GOOGLE_MAIL_TYPE = 'googleMailOAuth2Api';

export interface IssuedTokens {
	access_token: string;
	refresh_token: string;
	expires_in: number;
}

export class StoredCredential {
	/** What n8n's credentials table holds (decrypted). */
	data: ICredentialDataDecryptedObject;
	/** Requests sent to the token endpoint through refreshOAuth2Token (successful or not). */
	refreshRequests = 0;

	constructor(
		readonly type: string,
		readonly name: string,
		data: ICredentialDataDecryptedObject,
	) {
		this.data = data;
	}

	/**
	 * The generic Mail Server credential pointed at the stack's token endpoint. `fields` sets or overrides any stored
	 * field (smtpHost, smtpPort, allowUnauthorizedCerts, ...). `expiresAt` overrides the stored `n8n_expires_at`
	 * (to store a token the server will refuse while n8n believes it valid).
	 */
	static mailServer(
		stack: Stack,
		user: string,
		tokens: IssuedTokens,
		fields: ICredentialDataDecryptedObject = {},
		options: { expiresAt?: number; name?: string } = {},
	): StoredCredential {
		return new StoredCredential(MAIL_SERVER_TYPE, options.name ?? 'Stack mailbox', {
			email: user,
			authUrl: stack.oauth.authorizeUrl,
			accessTokenUrl: stack.oauth.tokenUrl,
			clientId: stack.oauth.clientId,
			clientSecret: stack.oauth.clientSecret,
			enabledScopes: stack.oauth.scope,
			scope: stack.oauth.scope,
			authentication: 'body',
			...fields,
			oauthTokenData: {
				access_token: tokens.access_token,
				refresh_token: tokens.refresh_token,
				expires_in: tokens.expires_in,
				token_type: 'Bearer',
				n8n_expires_at: String(options.expiresAt ?? Date.now() + tokens.expires_in * 1000),
			},
		});
	}

	/** A deep copy, as getCredentials hands out (the node cannot change the stored data by mutating it). */
	read(): ICredentialDataDecryptedObject {
		return JSON.parse(JSON.stringify(this.data)) as ICredentialDataDecryptedObject;
	}

	get tokenData(): IDataObject {
		return (this.data.oauthTokenData ?? {}) as IDataObject;
	}

	/** n8n's refreshOAuth2Token: the refresh_token grant at the stored token URL, the answer merged and saved. */
	async refresh(node: INode): Promise<IDataObject> {
		const data = this.read();
		const tokenData = (data.oauthTokenData ?? {}) as IDataObject;
		this.refreshRequests++;
		const form = new URLSearchParams({
			grant_type: 'refresh_token',
			refresh_token: String(tokenData.refresh_token ?? ''),
		});
		const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
		if (data.authentication === 'header') {
			headers.authorization = `Basic ${Buffer.from(`${String(data.clientId)}:${String(data.clientSecret)}`).toString('base64')}`;
		} else {
			form.set('client_id', String(data.clientId));
			form.set('client_secret', String(data.clientSecret));
		}
		// A network failure (ECONNREFUSED) propagates as the raw error, as in n8n.
		const response = await fetch(String(data.accessTokenUrl), { method: 'POST', headers, body: form.toString() });
		const body = (await response.json()) as IDataObject;
		if (!response.ok) {
			if (body.error === 'invalid_grant') {
				throw new NodeOperationError(node, `The credential "${this.name}" needs to be reconnected.`, {
					description: 'The OAuth2 refresh token was rejected. Please reconnect the credential.',
				});
			}
			throw Object.assign(new Error(`Request failed with status code ${response.status}`), {
				status: response.status,
				body,
			});
		}
		const merged: IDataObject = {
			...tokenData,
			...body,
			n8n_expires_at: String(Date.now() + Number(body.expires_in) * 1000),
		};
		this.data = { ...this.data, oauthTokenData: merged };
		return merged;
	}
}
