/**
 * A token source with a scripted sequence of tokens, recording every refresh and what it was told was refused.
 * It implements the same interface as nodes/mail/auth/tokens.ts and builds the same error classes, so the
 * transport is tested against the contract, not against this fake's wording.
 */
import type { INode } from 'n8n-workflow';

import type { TokenRejectedError } from '../../../../nodes/mail/auth/errors';
import { redact } from '../../../../nodes/mail/auth/redact';
import { AccessTokenRejectedError } from '../../../../nodes/mail/auth/tokenErrors';
import type { TokenSource } from '../../../../nodes/mail/auth/tokens';

export const FAKE_NODE: INode = {
	id: 'node-1',
	name: 'Gmail SMTP',
	type: 'n8n-nodes-gmail-xoauth2.gmailSmtp',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

export class FakeTokens implements TokenSource {
	readonly credentialType = 'mailServerOAuth2Api' as const;
	readonly node = FAKE_NODE;
	readonly refreshCalls: Array<string | undefined> = [];
	readonly handedOut: string[] = [];
	private current: string;
	/** Thrown by refresh() instead of a new token, when set. */
	refreshError: Error | undefined;

	constructor(
		readonly email: string,
		first: string,
		private readonly next: string[] = [],
	) {
		this.current = first;
	}

	async getAccessToken(): Promise<string> {
		this.handedOut.push(this.current);
		return this.current;
	}

	async refresh(rejectedToken?: string): Promise<string> {
		this.refreshCalls.push(rejectedToken);
		if (this.refreshError) throw this.refreshError;
		const fresh = this.next.shift();
		if (!fresh) throw new Error('FakeTokens: no further token scripted');
		this.current = fresh;
		this.handedOut.push(fresh);
		return fresh;
	}

	expiresAt(): number | undefined {
		return undefined;
	}

	redact(text: unknown): string {
		return redact(text, [...this.handedOut, this.current, ...this.next]);
	}

	rejectedAfterRefreshError(error: TokenRejectedError): AccessTokenRejectedError {
		return new AccessTokenRejectedError({ type: this.credentialType, name: 'Test credential' }, {
			protocol: error.protocol,
			email: this.email,
			challenge: error.challenge,
			serverText: error.serverText,
		});
	}
}
