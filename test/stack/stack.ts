/**
 * The helper API over a running stack. A `Stack` is built from plain `StackInfo` (JSON), so jest's global setup can
 * start the servers once and every test file, in any worker, gets the same API from the connection file.
 *
 * Tokens: through the token server's admin endpoints (issuing, lifetimes, revocation, injected failures) or its real
 * OAuth endpoints (what the nodes use). Mailboxes: read and steered with `doveadm`, which sees the server's truth
 * without going through the IMAP code under test.
 */
import { execFile, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { renderDovecotVariantConfig } from './configs';
import { decodeJwtPayload } from './oauth/jwt';
import { randomFreePorts, type StackPorts } from './ports';
import { processAlive, stopProcessTree, waitForGreeting } from './processes';
import type { TokenRequestRecord, TokenServerSettings, TokenSet } from './oauth/tokenServer';

export interface OAuthEndpoints {
	/** Base URL, also the `iss` of every access token. */
	url: string;
	authorizeUrl: string;
	tokenUrl: string;
	revokeUrl: string;
	jwksUrl: string;
	clientId: string;
	clientSecret: string;
	/** Scope to request (Google's mail scope: the nodes send it, the stack accepts any). */
	scope: string;
}

export interface StackInfo {
	dir: string;
	host: string;
	/** Name in the certificate's SAN; connect to `host` and verify against this name (or the IP, also in the SAN). */
	servername: string;
	domain: string;
	ports: StackPorts;
	caCertPem: string;
	/** PLAIN/LOGIN password that every mailbox accepts (for comparisons with password-only clients). */
	plainPassword: string;
	oauth: OAuthEndpoints;
	adminKey: string;
	files: {
		dovecotConfig: string;
		postfixConfigDir: string;
		dovecotLog: string;
		postfixLog: string;
		oauthLog: string;
	};
	pids: { dovecot: number; postfix: number; oauth: number };
	startedAt: string;
}

export interface MessageState {
	uid: number;
	/** Stored flags (\Seen, \Flagged, keywords); \Recent is left out: it belongs to an IMAP session, not the message. */
	flags: string[];
	/** Size in bytes with CRLF line ends: what IMAP RFC822.SIZE and POP3 LIST/STAT report. */
	size: number;
	/** The whole message, when asked for with `includeRaw`. */
	raw?: string;
}

export interface MailboxState {
	folder: string;
	uidValidity: number;
	uidNext: number;
	messages: MessageState[];
}

export interface Session {
	user: string;
	protocol: string;
	pid: number;
	ip: string;
}

export interface OutgoingMessage {
	from?: string;
	to: string | string[];
	cc?: string | string[];
	subject?: string;
	text?: string;
	html?: string;
	messageId?: string;
	date?: Date;
	headers?: Record<string, string>;
	attachments?: Array<{ filename: string; content: string | Buffer; contentType?: string; cid?: string }>;
}

export type DeliveryRoute = 'smtp' | 'submission' | 'smtps' | 'lmtp';

export interface DeliverOptions {
	/** Envelope recipients; default: the message's To/Cc/Bcc. */
	to?: string[];
	/** Envelope sender; default: the message's From or `sender@<domain>`. */
	from?: string;
	/**
	 * `smtp` (default): the unauthenticated listener, like mail arriving from the internet. `submission` / `smtps`:
	 * authenticated with XOAUTH2 as the sender. `lmtp`: straight into Dovecot, bypassing Postfix.
	 */
	via?: DeliveryRoute;
	/** Wait until Dovecot has stored the message (default true). */
	wait?: boolean;
	timeoutMs?: number;
}

export interface Delivery {
	recipients: string[];
	/** Postfix queue id (not for LMTP). */
	queueId?: string;
	messageId?: string;
	response: string;
}

export interface TokenRequestFilter {
	grantType?: string;
	user?: string;
	/** Only successful (2xx) or only refused requests. */
	outcome?: 'ok' | 'refused';
	/** Epoch ms: only requests at or after this moment. */
	since?: number;
}

export interface TokenEndpointResponse {
	status: number;
	body: Record<string, unknown>;
}

export interface DovecotVariantOptions {
	/**
	 * Dovecot's `imap_capability`: the CAPABILITY list the variant announces instead of its own (Dovecot still
	 * executes every command it knows). E.g. the usual list without UIDPLUS, to stand for a server without it.
	 */
	imapCapability?: string;
	timeoutMs?: number;
}

/** A second Dovecot over the stack's mail (see Stack.startDovecotVariant). */
export interface DovecotVariant {
	/** Its implicit-TLS IMAP port on the stack's host; same certificate, accounts, tokens and mail as the stack. */
	imapsPort: number;
	pid: number;
	logFile: string;
	/** Stops it by PID (and everything it started); throws if it crashed meanwhile or something survived. */
	stop(): Promise<void>;
}

let variantCounter = 0;

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves once the access token is past its `exp` for Dovecot too (whole seconds: the first second after `exp`).
 * For tests of refused expired tokens: issue with `lifetimeSeconds: 1`, do other work, then await this.
 */
export async function waitForTokenExpiry(accessToken: string): Promise<void> {
	const expiry = decodeJwtPayload(accessToken).exp;
	if (typeof expiry !== 'number') throw new Error('the access token has no exp claim');
	const expiredAt = (expiry + 1) * 1000;
	if (Date.now() < expiredAt) await sleep(expiredAt - Date.now());
}

function runDoveadm(configFile: string, args: string[], input?: string): Promise<string> {
	return new Promise((resolve, reject) => {
		const child = execFile('doveadm', ['-c', configFile, ...args], { maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
			if (error) reject(new Error(`doveadm ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
			else resolve(stdout);
		});
		if (input !== undefined) child.stdin?.end(input);
	});
}

/** Addresses from the To/Cc/Bcc headers of a raw message (for the envelope when none is given). */
function headerRecipients(raw: string): string[] {
	const headerEnd = raw.search(/\r?\n\r?\n/);
	const headerBlock = (headerEnd >= 0 ? raw.slice(0, headerEnd) : raw).replace(/\r?\n[ \t]+/g, ' ');
	const addresses: string[] = [];
	for (const line of headerBlock.split(/\r?\n/)) {
		const match = /^(to|cc|bcc):(.*)$/i.exec(line);
		if (!match) continue;
		for (const address of match[2].match(/[^\s<>,;:"()]+@[^\s<>,;:"()]+/g) ?? []) addresses.push(address);
	}
	return addresses;
}

function headerValue(raw: string, name: string): string | undefined {
	const headerEnd = raw.search(/\r?\n\r?\n/);
	const headerBlock = (headerEnd >= 0 ? raw.slice(0, headerEnd) : raw).replace(/\r?\n[ \t]+/g, ' ');
	const match = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(headerBlock);
	return match?.[1].trim();
}

function asList(value: string | string[] | undefined): string[] {
	if (value === undefined) return [];
	return Array.isArray(value) ? value : [value];
}

export class Stack {
	constructor(readonly info: StackInfo) {}

	get host(): string {
		return this.info.host;
	}

	get ports(): StackPorts {
		return this.info.ports;
	}

	get caCertPem(): string {
		return this.info.caCertPem;
	}

	get oauth(): OAuthEndpoints {
		return this.info.oauth;
	}

	get domain(): string {
		return this.info.domain;
	}

	get dir(): string {
		return this.info.dir;
	}

	/** TLS options for any client of the stack: its own CA, and the name in its certificate. */
	tlsOptions(): { ca: string; servername: string } {
		return { ca: this.info.caCertPem, servername: this.info.servername };
	}

	/** A fresh address nobody else uses: every address @domain exists, its maildir appears on first use. */
	newMailbox(prefix = 'user'): string {
		return `${prefix}-${crypto.randomBytes(5).toString('hex')}@${this.info.domain}`;
	}

	// ---- tokens -------------------------------------------------------------------------------------------------

	private async admin<T>(pathname: string, body: Record<string, unknown> = {}): Promise<T> {
		const response = await fetch(`${this.info.oauth.url}/admin/${pathname}`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'x-stack-admin-key': this.info.adminKey },
			body: JSON.stringify(body),
		});
		const payload = (await response.json()) as T & { error_description?: string };
		if (!response.ok) throw new Error(`token server admin ${pathname}: HTTP ${response.status} ${payload.error_description ?? ''}`);
		return payload;
	}

	/**
	 * Tokens for `user` without going through the OAuth flow (not counted as a token request). `lifetimeSeconds`
	 * sticks to the refresh token: access tokens refreshed from it get the same lifetime.
	 */
	issueTokens(user: string, options: { lifetimeSeconds?: number; scope?: string } = {}): Promise<Required<TokenSet>> {
		return this.admin<Required<TokenSet>>('issue', { user, ...options });
	}

	/** Just an access token for `user` (default lifetime one hour, like Google's). */
	async accessToken(user: string, lifetimeSeconds?: number): Promise<string> {
		return (await this.issueTokens(user, { lifetimeSeconds })).access_token;
	}

	/**
	 * Lifetime of access tokens issued from now on: for one refresh token, or (without one) the default for every
	 * refresh token that has no lifetime of its own.
	 */
	async setAccessTokenLifetime(seconds: number, options: { refreshToken?: string } = {}): Promise<void> {
		if (options.refreshToken) await this.admin('refresh-token-lifetime', { refreshToken: options.refreshToken, lifetimeSeconds: seconds });
		else await this.admin('settings', { accessTokenLifetimeSeconds: seconds });
	}

	/** Other token server behaviour: default user of /authorize, refresh token rotation, deny, slow responses. */
	async configureTokenServer(settings: Partial<TokenServerSettings>): Promise<TokenServerSettings> {
		return (await this.admin<{ settings: TokenServerSettings }>('settings', settings)).settings;
	}

	/** From now on the token endpoint answers `400 invalid_grant` for this refresh token (as after a user revoked access). */
	async revokeRefreshToken(refreshToken: string): Promise<void> {
		await this.admin('revoke', { refreshToken });
	}

	/** The next `count` token requests fail with this status and body (default 503 temporarily_unavailable). */
	async failNextTokenRequests(count: number, status = 503, body: Record<string, string> = { error: 'temporarily_unavailable' }): Promise<void> {
		await this.admin('fail', { count, status, body: JSON.stringify(body) });
	}

	/** The token server stops listening for `milliseconds` (connection refused), then comes back with its state. */
	async tokenServerOutage(milliseconds: number): Promise<void> {
		await this.admin('outage', { milliseconds });
		// The server closes its listener right after answering; make sure it is down before the caller goes on.
		const deadline = Date.now() + 1000;
		while (Date.now() < deadline) {
			try {
				await fetch(`${this.info.oauth.url}/health`);
				await sleep(5);
			} catch {
				return;
			}
		}
	}

	/** Every request the token endpoint served (no tokens in it), optionally filtered. */
	async tokenRequests(filter: TokenRequestFilter = {}): Promise<TokenRequestRecord[]> {
		const state = await this.admin<{ requests: TokenRequestRecord[] }>('state');
		return state.requests.filter(
			(request) =>
				(filter.grantType === undefined || request.grantType === filter.grantType) &&
				(filter.user === undefined || request.user === filter.user) &&
				(filter.since === undefined || request.at >= filter.since) &&
				(filter.outcome === undefined || (filter.outcome === 'ok') === (request.status >= 200 && request.status < 300)),
		);
	}

	async tokenRequestCount(filter: TokenRequestFilter = {}): Promise<number> {
		return (await this.tokenRequests(filter)).length;
	}

	/** A real request to the token endpoint, as an OAuth client sends it (counted). */
	async requestToken(params: Record<string, string>, options: { clientAuth?: 'body' | 'basic' } = {}): Promise<TokenEndpointResponse> {
		const form = new URLSearchParams(params);
		const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
		if (options.clientAuth === 'basic') {
			headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(this.oauth.clientId)}:${encodeURIComponent(this.oauth.clientSecret)}`).toString('base64')}`;
		} else {
			form.set('client_id', this.oauth.clientId);
			form.set('client_secret', this.oauth.clientSecret);
		}
		const response = await fetch(this.oauth.tokenUrl, { method: 'POST', headers, body: form.toString() });
		return { status: response.status, body: (await response.json()) as Record<string, unknown> };
	}

	/** The refresh_token grant through the real endpoint. */
	refreshAccessToken(refreshToken: string): Promise<TokenEndpointResponse> {
		return this.requestToken({ grant_type: 'refresh_token', refresh_token: refreshToken });
	}

	// ---- delivery -----------------------------------------------------------------------------------------------

	/**
	 * Sends a message into the stack. With `wait` (default) it returns once Dovecot has stored it for every
	 * recipient, judged from Postfix's own log (`status=sent` for the queue id), and fails on a bounce.
	 */
	async deliver(message: string | Buffer | OutgoingMessage, options: DeliverOptions = {}): Promise<Delivery> {
		const via = options.via ?? 'smtp';
		const raw = typeof message === 'string' || Buffer.isBuffer(message) ? message : undefined;
		const structured = raw === undefined ? (message as OutgoingMessage) : undefined;
		const rawText = raw === undefined ? undefined : raw.toString('utf8');
		const recipients =
			options.to ??
			(structured ? [...asList(structured.to), ...asList(structured.cc)] : headerRecipients(rawText ?? ''));
		if (recipients.length === 0) throw new Error('deliver: no recipients (give options.to or To/Cc headers)');
		const fromHeader = structured?.from ?? (rawText ? headerValue(rawText, 'from') : undefined);
		const sender = options.from ?? (fromHeader?.match(/[^\s<>,;:"()]+@[^\s<>,;:"()]+/)?.[0] ?? `sender@${this.info.domain}`);

		const transportOptions: SMTPTransport.Options = {
			host: this.info.host,
			tls: this.tlsOptions(),
			connectionTimeout: 10_000,
			greetingTimeout: 10_000,
		};
		if (via === 'lmtp') Object.assign(transportOptions, { port: this.ports.lmtp, lmtp: true, ignoreTLS: true });
		if (via === 'smtp') Object.assign(transportOptions, { port: this.ports.smtp, secure: false });
		if (via === 'submission' || via === 'smtps') {
			const token = await this.accessToken(sender);
			Object.assign(transportOptions, {
				port: via === 'smtps' ? this.ports.smtps : this.ports.submission,
				secure: via === 'smtps',
				requireTLS: via === 'submission',
				auth: { type: 'OAuth2', user: sender, accessToken: token },
			});
		}
		const transport = nodemailer.createTransport(transportOptions);
		try {
			const mail = structured
				? { ...structured, from: structured.from ?? sender, envelope: { from: sender, to: recipients } }
				: { raw: raw as string | Buffer, envelope: { from: sender, to: recipients } };
			const info = await transport.sendMail(mail);
			const response = String(info.response ?? '');
			const queueId = /queued as ([0-9A-Za-z]+)/.exec(response)?.[1];
			const messageId = info.messageId || (rawText ? headerValue(rawText, 'message-id') : undefined);
			if (via !== 'lmtp' && (options.wait ?? true)) {
				if (!queueId) throw new Error(`deliver: Postfix did not report a queue id (${response})`);
				await this.waitForPostfixDelivery(queueId, recipients, options.timeoutMs ?? 10_000);
			}
			return { recipients, queueId, messageId, response };
		} finally {
			transport.close();
		}
	}

	/** Waits until Postfix's log says the queue id reached Dovecot for every recipient; throws on bounce/deferral. */
	private async waitForPostfixDelivery(queueId: string, recipients: string[], timeoutMs: number): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		const pending = new Set(recipients.map((address) => address.toLowerCase()));
		const pattern = new RegExp(`\\b${queueId}: to=<([^>]+)>.*\\bstatus=(\\w+)(.*)$`, 'gm');
		while (Date.now() < deadline) {
			const log = fs.existsSync(this.info.files.postfixLog) ? fs.readFileSync(this.info.files.postfixLog, 'utf8') : '';
			for (const match of log.matchAll(pattern)) {
				const [line, address, status] = match;
				if (status !== 'sent') throw new Error(`deliver: Postfix could not deliver to ${address}: ${line}`);
				pending.delete(address.toLowerCase());
			}
			if (pending.size === 0) return;
			await sleep(15);
		}
		throw new Error(`deliver: queue id ${queueId} not delivered to ${[...pending].join(', ')} within ${timeoutMs} ms (see ${this.info.files.postfixLog})`);
	}

	// ---- mailboxes and sessions ---------------------------------------------------------------------------------

	private doveadm(args: string[], input?: string): Promise<string> {
		return runDoveadm(this.info.files.dovecotConfig, args, input);
	}

	/**
	 * The folder as the server stores it (via doveadm, not IMAP). Sizes are what IMAP (RFC822.SIZE) and POP3 (LIST,
	 * STAT) report; `raw` is the message with CRLF line ends, as those clients receive it, so its length is `size`.
	 */
	async mailboxState(user: string, folder = 'INBOX', options: { includeRaw?: boolean } = {}): Promise<MailboxState> {
		const status = JSON.parse(await this.doveadm(['-f', 'json', 'mailbox', 'status', '-u', user, 'uidvalidity uidnext', folder])) as Array<Record<string, string>>;
		const fields = ['uid', 'flags', 'size.virtual', ...(options.includeRaw ? ['text'] : [])].join(' ');
		const fetched = JSON.parse(await this.doveadm(['-f', 'json', 'fetch', '-u', user, fields, 'mailbox', folder, 'all'])) as Array<Record<string, string>>;
		return {
			folder,
			uidValidity: Number(status[0]?.uidvalidity),
			uidNext: Number(status[0]?.uidnext),
			messages: fetched
				.map((entry) => ({
					uid: Number(entry.uid),
					// \Recent belongs to IMAP sessions, not to the message; the first session to look clears it.
					flags: (entry.flags ?? '').split(' ').filter((flag) => flag !== '' && flag !== '\\Recent'),
					size: Number(entry['size.virtual']),
					// Maildir stores LF line ends; IMAP and POP3 serve CRLF.
					...(options.includeRaw ? { raw: entry.text.replace(/\r?\n/g, '\r\n') } : {}),
				}))
				.sort((a, b) => a.uid - b.uid),
		};
	}

	/** Waits until the folder holds at least `count` messages (mail sent by the code under test, not by deliver()). */
	async waitForMessages(user: string, count: number, options: { folder?: string; timeoutMs?: number; includeRaw?: boolean } = {}): Promise<MailboxState> {
		const deadline = Date.now() + (options.timeoutMs ?? 10_000);
		for (;;) {
			const state = await this.mailboxState(user, options.folder ?? 'INBOX', { includeRaw: options.includeRaw });
			if (state.messages.length >= count) return state;
			if (Date.now() > deadline) {
				throw new Error(`${user} ${state.folder}: ${state.messages.length} message(s) after ${options.timeoutMs ?? 10_000} ms, expected ${count}`);
			}
			await sleep(50);
		}
	}

	/** Every folder of the mailbox. */
	async folders(user: string): Promise<string[]> {
		const listed = JSON.parse(await this.doveadm(['-f', 'json', 'mailbox', 'list', '-u', user])) as Array<Record<string, string>>;
		return listed.map((entry) => entry.mailbox);
	}

	async createFolder(user: string, folder: string): Promise<void> {
		await this.doveadm(['mailbox', 'create', '-u', user, folder]);
	}

	/** Stores a message straight into a folder (no SMTP, no Postfix), as another client or Gmail's web UI would. */
	async saveMessage(user: string, raw: string, folder = 'INBOX'): Promise<void> {
		await this.doveadm(['save', '-u', user, '-m', folder], raw);
	}

	/**
	 * Closes every session of `user` from the server side, as Gmail does when an OAuth session expires: IMAP clients
	 * get `* BYE` and see the connection close.
	 */
	async kick(user: string): Promise<void> {
		await this.doveadm(['kick', user]);
	}

	/** The user's live IMAP/POP3 sessions as Dovecot's anvil counts them (to assert that nothing was left open). */
	async connectedSessions(user: string): Promise<Session[]> {
		const output = await this.doveadm(['-f', 'tab', 'who', '-1', user]);
		const [header, ...rows] = output.split('\n').filter((line) => line.trim() !== '');
		if (!header) return [];
		const columns = header.split('\t');
		return rows.map((row) => {
			const cells = Object.fromEntries(row.split('\t').map((value, index) => [columns[index], value]));
			return { user: cells.username, protocol: cells.proto ?? cells.service, pid: Number(cells.pid ?? cells.pids), ip: cells.ip };
		});
	}

	/** Waits until the user has no session left on the server (logouts are asynchronous on the server side). */
	async waitForNoSessions(user: string, timeoutMs = 5000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		let sessions = await this.connectedSessions(user);
		while (sessions.length > 0 && Date.now() < deadline) {
			await sleep(50);
			sessions = await this.connectedSessions(user);
		}
		if (sessions.length > 0) throw new Error(`${user} still has ${sessions.length} session(s): ${sessions.map((s) => s.protocol).join(', ')}`);
	}

	// ---- a variant Dovecot ----------------------------------------------------------------------------------------

	/**
	 * Starts a second Dovecot that serves the same mailboxes over implicit-TLS IMAP on a port of its own, configured
	 * like the stack's except for `options` (the stack itself is not touched). Needs root, like the stack. The caller
	 * stops it; a worker that exits first takes it down too.
	 */
	async startDovecotVariant(options: DovecotVariantOptions = {}): Promise<DovecotVariant> {
		if (options.imapCapability !== undefined && !/^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(options.imapCapability)) {
			throw new Error(`startDovecotVariant: imapCapability must be capability names separated by single spaces, got ${JSON.stringify(options.imapCapability)}`);
		}
		const name = `variant-${process.pid}-${++variantCounter}`;
		const dir = path.join(this.info.dir, 'dovecot-variants', name);
		const baseDir = path.join(dir, 'run');
		const stateDir = path.join(dir, 'state');
		for (const sub of [baseDir, stateDir]) fs.mkdirSync(sub, { recursive: true, mode: 0o755 });
		// Dovecot's own users traverse these paths (see the stack's runtime directory).
		for (const sub of [path.dirname(dir), dir]) fs.chmodSync(sub, 0o755);
		const logFile = path.join(this.info.dir, 'logs', `dovecot-${name}.log`);
		const configFile = path.join(dir, 'dovecot.conf');
		const imapsPort = (await randomFreePorts()).imaps;
		const stackInstance = path.basename(this.info.dir);
		fs.writeFileSync(
			configFile,
			renderDovecotVariantConfig({
				baseConfigFile: this.info.files.dovecotConfig,
				instanceName: `${stackInstance}-${name}`,
				baseDir,
				stateDir,
				log: logFile,
				imapsPort,
				imapCapability: options.imapCapability,
			}),
		);
		const output = fs.openSync(path.join(this.info.dir, 'logs', `dovecot-${name}.stderr.log`), 'a');
		let child;
		try {
			child = spawn('dovecot', ['-F', '-c', configFile], { stdio: ['ignore', output, output], detached: true });
		} finally {
			fs.closeSync(output);
		}
		const pid = child.pid ?? 0;
		// A worker that ends without stop() (a crashed test file) must not leave a Dovecot behind: SIGTERM its group.
		const killOnExit = () => {
			try {
				process.kill(-pid, 'SIGTERM');
			} catch {
				// already gone
			}
		};
		process.once('exit', killOnExit);
		let stopped = false;
		const stop = async (): Promise<void> => {
			if (stopped) return;
			stopped = true;
			process.removeListener('exit', killOnExit);
			child.removeAllListeners();
			if (pid > 0 && processAlive(pid)) await stopProcessTree(`dovecot ${name}`, pid);
			const crashes = fs.existsSync(logFile)
				? fs.readFileSync(logFile, 'utf8').split('\n').filter((line) => /signal 11|Panic:|Fatal:|core dumped/.test(line))
				: [];
			if (crashes.length > 0) throw new Error(`The variant Dovecot ${name} crashed (log ${logFile}):\n${crashes.join('\n')}`);
		};
		const exited = new Promise<never>((_resolve, reject) => {
			child.once('exit', (code) => reject(new Error(`the variant Dovecot exited with code ${String(code)} (see ${logFile})`)));
		});
		exited.catch(() => undefined);
		try {
			await Promise.race([
				waitForGreeting({ name: `IMAPS (${name})`, port: imapsPort, tls: true, expect: /^\* OK/ }, this.info.caCertPem, Date.now() + (options.timeoutMs ?? 10_000)),
				exited,
			]);
		} catch (error) {
			await stop().catch(() => undefined);
			throw error;
		}
		return { imapsPort, pid, logFile, stop };
	}

	// ---- health -------------------------------------------------------------------------------------------------

	/** Crash lines in the server logs. Dovecot 2.3.19's auth process is known to SIGSEGV on some JWT shapes. */
	crashes(): string[] {
		const problems: string[] = [];
		const scan = (file: string, pattern: RegExp): void => {
			if (!fs.existsSync(file)) return;
			for (const line of fs.readFileSync(file, 'utf8').split('\n')) if (pattern.test(line)) problems.push(line);
		};
		scan(this.info.files.dovecotLog, /signal 11|Panic:|Fatal:|core dumped/);
		scan(this.info.files.postfixLog, /\b(fatal|panic):/);
		return problems;
	}

	/** Throws, loudly, when a server crashed: a crashing auth process would otherwise look like flaky logins. */
	assertHealthy(): void {
		const crashes = this.crashes();
		if (crashes.length > 0) {
			throw new Error(`The mail stack crashed (logs in ${this.info.dir}/logs):\n${crashes.join('\n')}`);
		}
	}
}
