/**
 * A minimal line-oriented client for talking to the stack's servers by hand (POP3, raw IMAP, SMTP): tests use it to
 * see exactly what a server answers, without any protocol library in between.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface LineClientOptions {
	host: string;
	port: number;
	/** Implicit TLS with these options (pass the stack's CA; verification stays on). Omit for plain TCP. */
	tls?: tls.ConnectionOptions;
	timeoutMs?: number;
}

export class LineClient {
	private buffer = '';
	private readonly lines: string[] = [];
	private waiter?: { resolve: (line: string) => void; reject: (error: Error) => void };
	private closedError?: Error;
	readonly closed: Promise<void>;

	private constructor(
		private readonly socket: net.Socket,
		private readonly timeoutMs: number,
	) {
		socket.setEncoding('utf8');
		socket.on('data', (chunk: string) => {
			this.buffer += chunk;
			let end: number;
			while ((end = this.buffer.indexOf('\n')) >= 0) {
				this.lines.push(this.buffer.slice(0, end).replace(/\r$/, ''));
				this.buffer = this.buffer.slice(end + 1);
			}
			this.deliver();
		});
		this.closed = new Promise((resolve) => {
			socket.on('close', () => {
				this.closedError = new Error('connection closed');
				this.deliver();
				resolve();
			});
		});
		socket.on('error', (error) => {
			this.closedError = error;
			this.deliver();
		});
	}

	static connect(options: LineClientOptions): Promise<LineClient> {
		return new Promise((resolve, reject) => {
			const socket = options.tls
				? tls.connect({ host: options.host, port: options.port, ...options.tls })
				: net.connect({ host: options.host, port: options.port });
			const ready = options.tls ? 'secureConnect' : 'connect';
			socket.once(ready, () => {
				socket.off('error', reject);
				resolve(new LineClient(socket, options.timeoutMs ?? 5000));
			});
			socket.once('error', reject);
		});
	}

	private deliver(): void {
		if (!this.waiter) return;
		const next = this.lines.shift();
		if (next !== undefined) {
			const { resolve } = this.waiter;
			this.waiter = undefined;
			resolve(next);
		} else if (this.closedError) {
			const { reject } = this.waiter;
			this.waiter = undefined;
			reject(this.closedError);
		}
	}

	/** The next line the server sends (without CRLF). */
	readLine(): Promise<string> {
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				this.waiter = undefined;
				reject(new Error(`no line from the server within ${this.timeoutMs} ms`));
			}, this.timeoutMs);
			this.waiter = {
				resolve: (line) => {
					clearTimeout(timer);
					resolve(line);
				},
				reject: (error) => {
					clearTimeout(timer);
					reject(error);
				},
			};
			this.deliver();
		});
	}

	/** Lines until one matches `last` (inclusive), e.g. an IMAP tagged response or SMTP's final `250 ` line. */
	async readUntil(last: RegExp): Promise<string[]> {
		const collected: string[] = [];
		for (;;) {
			const line = await this.readLine();
			collected.push(line);
			if (last.test(line)) return collected;
		}
	}

	send(line: string): void {
		this.socket.write(`${line}\r\n`);
	}

	/** Sends a line and returns the next line of the answer. */
	async command(line: string): Promise<string> {
		this.send(line);
		return this.readLine();
	}

	close(): void {
		this.socket.destroy();
	}
}
