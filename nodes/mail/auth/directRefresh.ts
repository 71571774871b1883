/**
 * The refresh_token grant (RFC 6749 §6) sent straight to the token URL, only where n8n offers no
 * `helpers.refreshOAuth2Token` (older n8n): the result cannot be saved, so the caller keeps it in memory. Client
 * authentication mirrors n8n's OAuth2 client (body, Basic header, or the id alone for a public client).
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface DirectRefreshRequest {
	tokenUrl: string;
	clientId: string;
	clientSecret?: string;
	refreshToken: string;
	authentication: 'body' | 'header';
	/** Accept an invalid certificate from the token endpoint (the generic credential's option). */
	ignoreSSLIssues?: boolean;
	timeoutMs?: number;
}

export type DirectRefreshResult =
	| { kind: 'token'; data: Record<string, unknown> }
	/** The endpoint answered with an OAuth error body (RFC 6749 section 5.2). */
	| { kind: 'oauthError'; httpStatus: number; error: string; description?: string }
	/** Any other non-2xx answer, or a 2xx that is not a token. */
	| { kind: 'httpError'; httpStatus: number; detail: string };

const MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

/** Resolves with the endpoint's answer; rejects only when no answer arrived (network error, timeout: `code` set). */
export async function requestTokenRefresh(request: DirectRefreshRequest): Promise<DirectRefreshResult> {
	const url = new URL(request.tokenUrl);
	if (url.protocol !== 'https:' && url.protocol !== 'http:') {
		throw Object.assign(new Error(`The token URL must use https (or http), not ${url.protocol}`), { code: 'EINVALIDURL' });
	}

	const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: request.refreshToken });
	const headers: Record<string, string> = {
		'Content-Type': 'application/x-www-form-urlencoded',
		Accept: 'application/json, application/x-www-form-urlencoded;q=0.9',
	};
	if (request.clientSecret && request.authentication === 'header') {
		headers.Authorization = `Basic ${Buffer.from(`${request.clientId}:${request.clientSecret}`).toString('base64')}`;
	} else {
		form.set('client_id', request.clientId);
		if (request.clientSecret) form.set('client_secret', request.clientSecret);
	}
	const body = Buffer.from(form.toString(), 'utf8');
	headers['Content-Length'] = String(body.length);

	const response = await post(url, headers, body, request);
	return interpretResponse(response.status, response.contentType, response.body);
}

interface RawResponse {
	status: number;
	contentType: string;
	body: string;
}

function post(url: URL, headers: Record<string, string>, body: Buffer, request: DirectRefreshRequest): Promise<RawResponse> {
	const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
	const transport = url.protocol === 'https:' ? https : http;
	const options: https.RequestOptions = { method: 'POST', headers, timeout: timeoutMs };
	if (url.protocol === 'https:' && request.ignoreSSLIssues) options.rejectUnauthorized = false;

	return new Promise<RawResponse>((resolve, reject) => {
		const req = transport.request(url, options, (res) => {
			const chunks: Buffer[] = [];
			let size = 0;
			res.on('data', (chunk: Buffer) => {
				size += chunk.length;
				if (size > MAX_RESPONSE_BYTES) {
					req.destroy(Object.assign(new Error('The token endpoint sent an oversized response'), { code: 'ERESPONSETOOLARGE' }));
					return;
				}
				chunks.push(chunk);
			});
			res.on('end', () => {
				resolve({
					status: res.statusCode ?? 0,
					contentType: String(res.headers['content-type'] ?? ''),
					body: Buffer.concat(chunks).toString('utf8'),
				});
			});
			res.on('error', reject);
		});
		req.on('timeout', () => {
			req.destroy(Object.assign(new Error(`No answer from the token endpoint within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
		});
		req.on('error', reject);
		req.end(body);
	});
}

function interpretResponse(status: number, contentType: string, text: string): DirectRefreshResult {
	const parsed = parseBody(contentType, text);
	if (status >= 200 && status < 300) {
		if (parsed && typeof parsed.access_token === 'string' && parsed.access_token) {
			return { kind: 'token', data: parsed };
		}
		return { kind: 'httpError', httpStatus: status, detail: 'the token endpoint answered without an access_token' };
	}
	if (parsed && typeof parsed.error === 'string') {
		const description = typeof parsed.error_description === 'string' ? parsed.error_description : undefined;
		return { kind: 'oauthError', httpStatus: status, error: parsed.error, description };
	}
	// The body of an unexpected answer may echo anything; only its first line goes on, and the caller redacts it.
	const firstLine = text.split(/\r?\n/, 1)[0]?.slice(0, 200) ?? '';
	return { kind: 'httpError', httpStatus: status, detail: `HTTP ${status}${firstLine ? `: ${firstLine}` : ''}` };
}

function parseBody(contentType: string, text: string): Record<string, unknown> | undefined {
	const trimmed = text.trim();
	if (!trimmed) return undefined;
	if (contentType.includes('application/x-www-form-urlencoded')) {
		return Object.fromEntries(new URLSearchParams(trimmed));
	}
	// Some servers send JSON with a text/plain or missing content type.
	try {
		const value: unknown = JSON.parse(trimmed);
		return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
	} catch {
		return undefined;
	}
}
