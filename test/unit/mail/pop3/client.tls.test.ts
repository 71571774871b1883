import * as tls from 'node:tls';

import { Pop3Client } from '../../../../nodes/mail/pop3/client';
import {
	Pop3CertificateError,
	Pop3ProtocolError,
	Pop3StlsUnavailableError,
} from '../../../../nodes/mail/pop3/errors';
import { GOOD_TOKEN, readAll, USER } from './clientTestKit';
import {
	FakeMailbox,
	type FakePop3Server,
	type FakeSession,
	GMAIL_LIKE_CAPABILITIES,
	type KeyAndCertificate,
	makeSelfSignedCertificate,
	startFakePop3Server,
} from './fakePop3Server';

const MESSAGE = Buffer.concat([Buffer.from('Subject: over TLS\r\n\r\n..dot\r\n', 'latin1'), Buffer.from([0, 0xff, 0x0d, 0x0a])]);

let certificate: KeyAndCertificate;
let servers: FakePop3Server[] = [];
const clients: Pop3Client[] = [];

beforeAll(() => {
	certificate = makeSelfSignedCertificate();
});

afterEach(async () => {
	for (const client of clients.splice(0)) client.destroy();
	await Promise.all(servers.map((server) => server.close()));
	servers = [];
});

async function implicitTlsServer(split?: number[]): Promise<{ server: FakePop3Server; mailbox: FakeMailbox }> {
	const mailbox = new FakeMailbox({ messages: [MESSAGE], validToken: GOOD_TOKEN });
	const server = await startFakePop3Server({ tls: certificate, onCommand: mailbox.handler(), defaultSplit: split ? () => split : undefined });
	servers.push(server);
	return { server, mailbox };
}

function client(port: number, options: ConstructorParameters<typeof Pop3Client>[0]['tls'] = {}, security: 'tls' | 'starttls' = 'tls') {
	const created = new Pop3Client({
		host: '127.0.0.1',
		port,
		security,
		tls: options,
		timeouts: { connect: 5000, greeting: 5000, command: 5000, idle: 5000 },
	});
	clients.push(created);
	return created;
}

describe('Pop3Client implicit TLS', () => {
	it('verifies certificates by default and refuses a self-signed one before sending anything', async () => {
		const { server } = await implicitTlsServer();
		const error = await client(server.port).connect().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3CertificateError);
		expect(error).toMatchObject({ code: 'POP3_CERTIFICATE', tlsCode: 'DEPTH_ZERO_SELF_SIGNED_CERT', transient: false });
		expect(server.allCommands).toEqual([]);
	});

	it('accepts the self-signed certificate when its CA is given, and runs a session', async () => {
		const { server, mailbox } = await implicitTlsServer();
		const pop = client(server.port, { ca: certificate.cert });
		await pop.connect();
		await pop.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect((await readAll(await pop.retr(1))).equals(MESSAGE)).toBe(true);
		await pop.dele(1);
		await pop.quit();
		expect(mailbox.removed).toEqual([1]);
	});

	it('checks the host name against the certificate', async () => {
		const { server } = await implicitTlsServer();
		const error = await client(server.port, { ca: certificate.cert, servername: 'pop.example.net' })
			.connect()
			.catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3CertificateError);
		expect(error).toMatchObject({ tlsCode: 'ERR_TLS_CERT_ALTNAME_INVALID' });
	});

	it('connects to a self-signed server only when verification is explicitly turned off', async () => {
		const { server } = await implicitTlsServer();
		const pop = client(server.port, { rejectUnauthorized: false });
		await pop.connect();
		await pop.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect(await pop.stat()).toEqual({ count: 1, size: MESSAGE.length });
		await pop.quit();
	});

	it.each([[1], [2], [5], [17]])('reads replies split at byte %i through TLS records', async (offset) => {
		const { server } = await implicitTlsServer([offset]);
		const pop = client(server.port, { ca: certificate.cert });
		await pop.connect();
		await pop.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect(await pop.uidl()).toEqual([{ messageNumber: 1, uid: 'uid-1' }]);
		expect((await readAll(await pop.retr(1))).equals(MESSAGE)).toBe(true);
		await pop.quit();
	});
});

describe('Pop3Client STLS', () => {
	/** A plain server that offers STLS (unless told not to) and upgrades on request; it records whether AUTH came over TLS. */
	async function stlsServer(options: { offer?: boolean; injectAfterOk?: string } = {}) {
		const capabilities = options.offer === false ? GMAIL_LIKE_CAPABILITIES : [...GMAIL_LIKE_CAPABILITIES, 'STLS'];
		const mailbox = new FakeMailbox({ messages: [MESSAGE], validToken: GOOD_TOKEN, capabilities });
		const standard = mailbox.handler();
		const encryptedWhen: Record<string, boolean> = {};
		const server = await startFakePop3Server({
			onCommand: async (command, session: FakeSession) => {
				encryptedWhen[command.split(' ')[0]] = session.socket instanceof tls.TLSSocket;
				if (command === 'STLS') {
					await session.send(`+OK Begin TLS negotiation\r\n${options.injectAfterOk ?? ''}`);
					session.startTls(certificate);
					return;
				}
				return standard(command, session);
			},
		});
		servers.push(server);
		return { server, encryptedWhen };
	}

	it('upgrades with STLS, asks CAPA again over TLS, and authenticates only after the upgrade', async () => {
		const { server, encryptedWhen } = await stlsServer();
		const pop = client(server.port, { ca: certificate.cert }, 'starttls');
		await pop.connect();
		await pop.authenticateXOAuth2(USER, GOOD_TOKEN);
		expect((await readAll(await pop.retr(1))).equals(MESSAGE)).toBe(true);
		await pop.quit();
		expect(server.allCommands.slice(0, 4)).toEqual(['CAPA', 'STLS', 'CAPA', expect.stringMatching(/^AUTH XOAUTH2 /)]);
		expect(encryptedWhen).toMatchObject({ STLS: false, AUTH: true, RETR: true, QUIT: true });
	});

	it('verifies the certificate after STLS too', async () => {
		const { server } = await stlsServer();
		const error = await client(server.port, {}, 'starttls').connect().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3CertificateError);
		expect(server.allCommands).toEqual(['CAPA', 'STLS']);
	});

	it('refuses to go on in plain text when the server does not offer STLS', async () => {
		const { server } = await stlsServer({ offer: false });
		const pop = client(server.port, { ca: certificate.cert }, 'starttls');
		const error = await pop.connect().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3StlsUnavailableError);
		expect(error).toMatchObject({ code: 'POP3_STLS_UNAVAILABLE' });
		expect(server.allCommands).toEqual(['CAPA']);
		await expect(pop.authenticateXOAuth2(USER, GOOD_TOKEN)).rejects.toThrow('no longer usable');
		expect(server.allCommands).toEqual(['CAPA']);
	});

	it('refuses plain-text bytes injected after the STLS +OK', async () => {
		const { server } = await stlsServer({ injectAfterOk: '+OK injected before the handshake\r\n' });
		const error = await client(server.port, { ca: certificate.cert }, 'starttls').connect().catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(Pop3ProtocolError);
		expect((error as Error).message).toContain('unencrypted data after accepting STLS');
	});
});
