/**
 * A scriptable ESMTP server on 127.0.0.1 (plain TCP) for unit tests of the SMTP transport. It speaks enough of RFC
 * 5321 for nodemailer (EHLO, AUTH XOAUTH2, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and can answer
 * a refused token the two ways servers do: Gmail/Postfix style (334 + base64 JSON challenge, then 535 after the
 * client's empty line) or a bare 535. It records connections, logins and every accepted message, so tests assert
 * what the server really saw.
 */
import * as net from 'node:net';

export interface ReceivedMessage {
	connection: number;
	from: string;
	to: string[];
	/** The message as received, dot-unstuffed, CRLF line ends. */
	data: string;
}

export interface FakeSmtpOptions {
	/** Tokens the server accepts (XOAUTH2 `auth=Bearer <token>`). */
	acceptTokens: Set<string>;
	/** How a refused token is answered (default: challenge, like Gmail and Postfix+Dovecot). */
	refusal?: 'challenge' | 'bare535';
	/** Recipients refused with 550 at RCPT TO. */
	refuseRecipients?: Set<string>;
	/** Close the connection right after the message content arrived, without answering (an ambiguous failure). */
	dropAfterDataOnce?: boolean;
}

export class FakeSmtpServer {
	connections = 0;
	readonly logins: Array<{ connection: number; user: string; token: string; ok: boolean }> = [];
	readonly messages: ReceivedMessage[] = [];
	/** DATA sections whose content arrived completely, answered or not. */
	dataReceived = 0;
	readonly quits: number[] = [];
	private readonly sockets = new Set<net.Socket>();

	private constructor(
		private readonly server: net.Server,
		readonly port: number,
		readonly options: FakeSmtpOptions,
	) {}

	static async start(options: FakeSmtpOptions): Promise<FakeSmtpServer> {
		const holder: { instance?: FakeSmtpServer } = {};
		const server = net.createServer((socket) => holder.instance?.handle(socket));
		await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
		const address = server.address() as net.AddressInfo;
		holder.instance = new FakeSmtpServer(server, address.port, options);
		return holder.instance;
	}

	async stop(): Promise<void> {
		for (const socket of this.sockets) socket.destroy();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}

	get openConnections(): number {
		return this.sockets.size;
	}

	private handle(socket: net.Socket): void {
		const connection = ++this.connections;
		this.sockets.add(socket);
		socket.on('close', () => this.sockets.delete(socket));
		socket.on('error', () => undefined);
		const reply = (line: string) => {
			if (!socket.destroyed) socket.write(`${line}\r\n`);
		};

		let buffer = '';
		let mode: 'command' | 'data' | 'authFailure' = 'command';
		let dataLines: string[] = [];
		let envelope: { from: string; to: string[] } = { from: '', to: [] };

		const onLine = (line: string): void => {
			if (mode === 'data') {
				if (line === '.') {
					mode = 'command';
					this.dataReceived++;
					if (this.options.dropAfterDataOnce) {
						this.options.dropAfterDataOnce = false;
						socket.destroy();
						return;
					}
					this.messages.push({ connection, from: envelope.from, to: envelope.to, data: dataLines.join('\r\n') + '\r\n' });
					envelope = { from: '', to: [] };
					reply(`250 2.0.0 Ok: queued as FAKE${this.messages.length}`);
					return;
				}
				dataLines.push(line.startsWith('..') ? line.slice(1) : line);
				return;
			}
			if (mode === 'authFailure') {
				mode = 'command';
				reply('535 5.7.8 Username and Password not accepted');
				return;
			}
			const [verb, ...rest] = line.split(' ');
			const argument = rest.join(' ');
			switch (verb.toUpperCase()) {
				case 'EHLO':
					reply('250-fake.example.test');
					reply('250-AUTH XOAUTH2');
					reply('250-8BITMIME');
					reply('250 SMTPUTF8');
					return;
				case 'HELO':
					reply('250 fake.example.test');
					return;
				case 'AUTH': {
					const [mechanism, initial] = argument.split(' ');
					if (mechanism.toUpperCase() !== 'XOAUTH2' || !initial) {
						reply('504 5.5.4 Unsupported');
						return;
					}
					const decoded = Buffer.from(initial, 'base64').toString('utf8');
					const user = /user=([^\x01]*)/.exec(decoded)?.[1] ?? '';
					const token = /auth=Bearer ([^\x01]*)/.exec(decoded)?.[1] ?? '';
					const ok = this.options.acceptTokens.has(token);
					this.logins.push({ connection, user, token, ok });
					if (ok) {
						reply('235 2.7.0 Accepted');
					} else if ((this.options.refusal ?? 'challenge') === 'challenge') {
						mode = 'authFailure';
						const challenge = Buffer.from(JSON.stringify({ status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' })).toString('base64');
						reply(`334 ${challenge}`);
					} else {
						reply('535 5.7.8 Username and Password not accepted');
					}
					return;
				}
				case 'MAIL':
					envelope = { from: /<([^>]*)>/.exec(argument)?.[1] ?? '', to: [] };
					reply('250 2.1.0 Ok');
					return;
				case 'RCPT': {
					const address = /<([^>]*)>/.exec(argument)?.[1] ?? '';
					if (this.options.refuseRecipients?.has(address)) {
						reply(`550 5.1.1 <${address}>: Recipient address rejected: User unknown`);
						return;
					}
					envelope.to.push(address);
					reply('250 2.1.5 Ok');
					return;
				}
				case 'DATA':
					if (envelope.to.length === 0) {
						reply('554 5.5.1 Error: no valid recipients');
						return;
					}
					mode = 'data';
					dataLines = [];
					reply('354 End data with <CR><LF>.<CR><LF>');
					return;
				case 'RSET':
					envelope = { from: '', to: [] };
					reply('250 2.0.0 Ok');
					return;
				case 'NOOP':
					reply('250 2.0.0 Ok');
					return;
				case 'QUIT':
					this.quits.push(connection);
					reply('221 2.0.0 Bye');
					socket.end();
					return;
				default:
					reply('502 5.5.2 Error: command not recognized');
			}
		};

		socket.on('data', (chunk: Buffer) => {
			buffer += chunk.toString('latin1');
			let index: number;
			while ((index = buffer.indexOf('\r\n')) >= 0) {
				const line = buffer.slice(0, index);
				buffer = buffer.slice(index + 2);
				onLine(line);
			}
		});
		reply('220 fake.example.test ESMTP');
	}
}
