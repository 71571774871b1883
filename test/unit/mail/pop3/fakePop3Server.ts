/**
 * A scriptable POP3 server for unit tests, on 127.0.0.1 and a random port, plain or TLS, with STLS.
 * Every reply can be cut at chosen byte offsets (each piece written separately, with a pause so the client reads it on
 * its own), which is how the client's chunk handling is exercised over a real socket.
 * It also serves Gmail-only replies Dovecot cannot produce ([SYS/PERM] POP disabled, XOAUTH2 challenge texts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';

export interface KeyAndCertificate {
	key: Buffer;
	cert: Buffer;
}

/** A throwaway self-signed certificate for 127.0.0.1 / localhost, made with openssl in a temporary directory. */
export function makeSelfSignedCertificate(commonName = 'localhost'): KeyAndCertificate {
	const directory = mkdtempSync(join(tmpdir(), 'pop3-cert-'));
	try {
		const keyPath = join(directory, 'key.pem');
		const certPath = join(directory, 'cert.pem');
		execFileSync(
			'openssl',
			[
				'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
				'-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${commonName}`,
				'-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
			],
			{ stdio: 'ignore' },
		);
		return { key: readFileSync(keyPath), cert: readFileSync(certPath) };
	} finally {
		rmSync(directory, { recursive: true, force: true });
	}
}

/** RFC 1939 byte-stuffing done independently of the client: a dot is added to every line (after CRLF) that starts with one. */
export function multiLineWire(content: Buffer | string): Buffer {
	const bytes = typeof content === 'string' ? Buffer.from(content, 'latin1') : content;
	const out: number[] = [];
	let atLineStart = true;
	for (let index = 0; index < bytes.length; index++) {
		const byte = bytes[index];
		if (atLineStart && byte === 0x2e) out.push(0x2e);
		out.push(byte);
		atLineStart = byte === 0x0a && index > 0 && bytes[index - 1] === 0x0d;
	}
	if (bytes.length > 0 && !atLineStart) out.push(0x0d, 0x0a);
	out.push(0x2e, 0x0d, 0x0a);
	return Buffer.from(out);
}

export type SplitPlan = number[] | 'bytewise' | undefined;

export interface SendOptions {
	/** Byte offsets where the reply is cut into separately written pieces, or 'bytewise' for one byte per write. */
	split?: SplitPlan;
}

export class FakeSession {
	readonly received: string[] = [];
	closed = false;
	private pending = '';
	private queue: Promise<void> = Promise.resolve();

	constructor(
		public socket: net.Socket,
		private readonly server: FakePop3Server,
	) {
		this.listen(socket);
		socket.on('close', () => {
			this.closed = true;
		});
		socket.on('error', () => {
			this.closed = true;
		});
	}

	async send(data: Buffer | string, options: SendOptions = {}): Promise<void> {
		const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
		const pieces = cut(bytes, options.split ?? this.server.defaultSplit?.(bytes));
		for (let index = 0; index < pieces.length; index++) {
			if (this.closed) return;
			await new Promise<void>((resolve) => this.socket.write(pieces[index], () => resolve()));
			// Same process as the client: let its event loop turn read this piece before the next one is written.
			if (index < pieces.length - 1) await pause(1);
		}
	}

	/** Server side of STLS: wrap the socket in TLS (call right after sending +OK). */
	startTls(credentials: KeyAndCertificate): void {
		this.socket.removeAllListeners('data');
		const secure = new tls.TLSSocket(this.socket, { isServer: true, ...credentials });
		secure.on('error', () => {
			this.closed = true;
		});
		this.socket = secure;
		this.listen(secure);
	}

	end(): void {
		this.socket.end();
	}

	destroy(): void {
		this.socket.destroy();
	}

	private listen(socket: net.Socket): void {
		socket.on('data', (chunk: Buffer) => {
			this.pending += chunk.toString('latin1');
			for (let lf = this.pending.indexOf('\r\n'); lf >= 0; lf = this.pending.indexOf('\r\n')) {
				const line = this.pending.slice(0, lf);
				this.pending = this.pending.slice(lf + 2);
				this.received.push(line);
				this.server.allCommands.push(line);
				this.queue = this.queue.then(() => this.server.handle(line, this)).catch((error: unknown) => {
					this.server.handlerErrors.push(error);
					this.socket.destroy();
				});
			}
		});
	}
}

export type CommandHandler = (command: string, session: FakeSession) => void | Promise<void>;

export interface FakeServerOptions {
	/** Implicit TLS with this certificate; plain TCP when absent. */
	tls?: KeyAndCertificate;
	/** Sent on connect; `null` sends nothing (greeting timeout tests). */
	greeting?: string | null;
	onCommand: CommandHandler;
	/** How every reply is cut unless send() says otherwise. */
	defaultSplit?: (reply: Buffer) => SplitPlan;
}

export class FakePop3Server {
	readonly sessions: FakeSession[] = [];
	readonly allCommands: string[] = [];
	readonly handlerErrors: unknown[] = [];
	readonly defaultSplit?: (reply: Buffer) => SplitPlan;
	private readonly server: net.Server;

	constructor(private readonly options: FakeServerOptions) {
		this.defaultSplit = options.defaultSplit;
		const onSocket = (socket: net.Socket) => {
			socket.setNoDelay(true);
			const session = new FakeSession(socket, this);
			this.sessions.push(session);
			if (options.greeting !== null) void session.send(options.greeting ?? '+OK fake POP3 ready\r\n');
		};
		this.server = options.tls
			? tls.createServer({ ...options.tls }, onSocket)
			: net.createServer(onSocket);
		// A client that refuses the certificate resets the handshake; that is expected in tests.
		this.server.on('tlsClientError', () => undefined);
	}

	get port(): number {
		const address = this.server.address();
		if (!address || typeof address === 'string') throw new Error('fake POP3 server is not listening');
		return address.port;
	}

	listen(): Promise<this> {
		return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve(this)));
	}

	handle(command: string, session: FakeSession): void | Promise<void> {
		return this.options.onCommand(command, session);
	}

	async close(): Promise<void> {
		for (const session of this.sessions) session.destroy();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}
}

export async function startFakePop3Server(options: FakeServerOptions): Promise<FakePop3Server> {
	return new FakePop3Server(options).listen();
}

export interface MailboxOptions {
	messages: Array<Buffer | string>;
	uids?: string[];
	capabilities?: string[];
	/** The token the server accepts; anything else gets Gmail's challenge then `-ERR [AUTH]`. */
	validToken?: string;
	user?: string;
}

export const GMAIL_LIKE_CAPABILITIES = ['USER', 'RESP-CODES', 'EXPIRE 0', 'LOGIN-DELAY 300', 'TOP', 'UIDL', 'SASL PLAIN XOAUTH2 OAUTHBEARER'];

export const GMAIL_CHALLENGE_JSON = '{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}';

/**
 * A correct POP3 mailbox, used as the default behaviour; tests override single commands around it.
 * DELE marks, RSET unmarks, QUIT applies and closes, as RFC 1939 says.
 */
export class FakeMailbox {
	readonly messages: Buffer[];
	readonly uids: string[];
	readonly deleted = new Set<number>();
	readonly removed: number[] = [];
	private readonly capabilities: string[];
	private readonly validToken: string;
	private readonly user: string;
	private awaitingChallengeAnswer = new WeakSet<FakeSession>();

	constructor(options: MailboxOptions) {
		this.messages = options.messages.map((message) => (typeof message === 'string' ? Buffer.from(message, 'latin1') : message));
		this.uids = options.uids ?? this.messages.map((_message, index) => `uid-${index + 1}`);
		this.capabilities = options.capabilities ?? GMAIL_LIKE_CAPABILITIES;
		this.validToken = options.validToken ?? 'good-token';
		this.user = options.user ?? 'user@example.com';
	}

	/** The reply this mailbox gives to `command`, as wire bytes (undefined: close the connection). */
	reply(command: string, session: FakeSession): Buffer | undefined {
		const [verb, ...args] = command.split(' ');
		const ok = (text: string) => Buffer.from(`+OK ${text}\r\n`, 'latin1');
		const err = (text: string) => Buffer.from(`-ERR ${text}\r\n`, 'latin1');
		if (this.awaitingChallengeAnswer.has(session)) {
			this.awaitingChallengeAnswer.delete(session);
			return command === '' ? err('[AUTH] Invalid credentials.') : err('expected an empty line');
		}
		const message = (arg: string | undefined): number | undefined => {
			const number = Number(arg);
			return Number.isInteger(number) && number >= 1 && number <= this.messages.length && !this.deleted.has(number)
				? number
				: undefined;
		};
		switch (verb.toUpperCase()) {
			case 'CAPA':
				return Buffer.concat([ok('Capability list follows'), multiLineWire(this.capabilities.map((line) => `${line}\r\n`).join(''))]);
			case 'AUTH': {
				const expected = Buffer.from(`user=${this.user}\x01auth=Bearer ${this.validToken}\x01\x01`).toString('base64');
				if (args[0] === 'XOAUTH2' && args[1] === expected) return ok('Welcome.');
				this.awaitingChallengeAnswer.add(session);
				return Buffer.from(`+ ${Buffer.from(GMAIL_CHALLENGE_JSON).toString('base64')}\r\n`, 'latin1');
			}
			case 'STAT': {
				const live = this.live();
				return ok(`${live.length} ${live.reduce((sum, number) => sum + this.messages[number - 1].length, 0)}`);
			}
			case 'LIST': {
				if (args[0] !== undefined) {
					const number = message(args[0]);
					return number ? ok(`${number} ${this.messages[number - 1].length}`) : err('no such message');
				}
				const lines = this.live().map((number) => `${number} ${this.messages[number - 1].length}\r\n`).join('');
				return Buffer.concat([ok(`${this.live().length} messages`), multiLineWire(lines)]);
			}
			case 'UIDL': {
				if (args[0] !== undefined) {
					const number = message(args[0]);
					return number ? ok(`${number} ${this.uids[number - 1]}`) : err('no such message');
				}
				const lines = this.live().map((number) => `${number} ${this.uids[number - 1]}\r\n`).join('');
				return Buffer.concat([ok(''), multiLineWire(lines)]);
			}
			case 'RETR': {
				const number = message(args[0]);
				if (!number) return err('no such message');
				return Buffer.concat([ok('message follows'), multiLineWire(this.messages[number - 1])]);
			}
			case 'TOP': {
				const number = message(args[0]);
				if (!number) return err('no such message');
				return Buffer.concat([ok('top of message follows'), multiLineWire(topOf(this.messages[number - 1], Number(args[1])))]);
			}
			case 'DELE': {
				const number = message(args[0]);
				if (!number) return err('no such message');
				this.deleted.add(number);
				return ok(`message ${number} deleted`);
			}
			case 'RSET':
				this.deleted.clear();
				return ok('');
			case 'NOOP':
				return ok('');
			case 'QUIT':
				this.removed.push(...this.deleted);
				return ok('Farewell.');
			default:
				return err('unknown command');
		}
	}

	/** A handler that answers every command from this mailbox and closes after QUIT. */
	handler(options: { split?: (command: string, reply: Buffer) => SplitPlan } = {}): CommandHandler {
		return async (command, session) => {
			const reply = this.reply(command, session);
			if (reply) await session.send(reply, { split: options.split?.(command, reply) });
			if (command.toUpperCase() === 'QUIT') session.end();
		};
	}

	private live(): number[] {
		return this.messages.map((_message, index) => index + 1).filter((number) => !this.deleted.has(number));
	}
}

function topOf(message: Buffer, lineCount: number): Buffer {
	const text = message.toString('latin1');
	const headerEnd = text.indexOf('\r\n\r\n');
	if (headerEnd < 0) return message;
	const bodyLines = text.slice(headerEnd + 4).split('\r\n').slice(0, lineCount);
	const body = bodyLines.length > 0 && lineCount > 0 ? `${bodyLines.join('\r\n')}\r\n` : '';
	return Buffer.from(text.slice(0, headerEnd + 4) + body, 'latin1');
}

function cut(bytes: Buffer, plan: SplitPlan): Buffer[] {
	if (plan === 'bytewise') return [...bytes].map((byte) => Buffer.from([byte]));
	const offsets = [...new Set(plan ?? [])].filter((offset) => offset > 0 && offset < bytes.length).sort((a, b) => a - b);
	const pieces: Buffer[] = [];
	let start = 0;
	for (const offset of offsets) {
		pieces.push(bytes.subarray(start, offset));
		start = offset;
	}
	pieces.push(bytes.subarray(start));
	return pieces;
}

export function pause(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

