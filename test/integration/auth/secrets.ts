/**
 * Every token a test handled, and a search for them in server logs, errors and results. Findings name the secret
 * by label and position, never by value: a failing assertion must not print the token it is complaining about.
 */
import * as fs from 'node:fs';

import type { Stack } from '../../stack';

/** A JWT's signature segment is unique per token and survives truncation of the header and payload. */
function distinctivePart(secret: string): string {
	const parts = secret.split('.');
	return parts.length === 3 && parts[2].length >= 20 ? parts[2] : secret;
}

export class SecretLedger {
	private readonly secrets = new Map<string, string>();

	/** Remembers each string value under `label` (empty and missing values are ignored). */
	add(label: string, ...values: unknown[]): void {
		for (const value of values) {
			if (typeof value === 'string' && value.length >= 12 && !this.secrets.has(value)) {
				this.secrets.set(value, `${label} #${this.secrets.size + 1}`);
			}
		}
	}

	/** Access and refresh token of n8n-style token data. */
	addTokenData(label: string, tokenData: unknown): void {
		if (!tokenData || typeof tokenData !== 'object') return;
		const record = tokenData as Record<string, unknown>;
		this.add(label, record.access_token, record.refresh_token);
	}

	get size(): number {
		return this.secrets.size;
	}

	/**
	 * Labels of the secrets found in `text` (where: a name for the text). Also looks inside base64 runs, where a
	 * logged SASL response (XOAUTH2 / OAUTHBEARER) would carry a token.
	 */
	findIn(where: string, text: string): string[] {
		const decoded = (text.match(/[A-Za-z0-9+/]{60,}={0,2}/g) ?? []).map((run) => Buffer.from(run, 'base64').toString('latin1'));
		const findings: string[] = [];
		for (const [secret, label] of this.secrets) {
			const needle = distinctivePart(secret);
			if (text.includes(needle)) findings.push(`${label} in ${where}`);
			else if (decoded.some((chunk) => chunk.includes(needle))) findings.push(`${label} base64-encoded in ${where}`);
		}
		return findings;
	}

	/** Searches an error completely: message, description, stack, every own property, and its causes. */
	findInError(where: string, error: unknown): string[] {
		return this.findIn(where, describeCompletely(error));
	}

	/** Searches the Dovecot and token server logs of the stack run. */
	findInServerLogs(stack: Stack): string[] {
		const findings: string[] = [];
		for (const [name, file] of [
			['the Dovecot log', stack.info.files.dovecotLog],
			['the token server log', stack.info.files.oauthLog],
		] as const) {
			if (!fs.existsSync(file)) throw new Error(`${name} is missing (${file})`);
			findings.push(...this.findIn(name, fs.readFileSync(file, 'utf8')));
		}
		return findings;
	}
}

/** Everything an error carries, including non-enumerable own properties and the cause chain (cycles cut). */
export function describeCompletely(value: unknown, seen = new Set<unknown>()): string {
	if (value === null || typeof value !== 'object') return String(value);
	if (seen.has(value)) return '';
	seen.add(value);
	const parts: string[] = [];
	for (const key of Object.getOwnPropertyNames(value)) {
		const field = (value as Record<string, unknown>)[key];
		parts.push(`${key}: ${typeof field === 'object' && field !== null ? describeCompletely(field, seen) : String(field)}`);
	}
	return parts.join('\n');
}
