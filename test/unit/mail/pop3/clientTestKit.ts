import type { Readable } from 'node:stream';

import { Pop3Client, type Pop3ClientOptions } from '../../../../nodes/mail/pop3/client';
import { waitUntil } from '../../../support/waitUntil';
import type { FakePop3Server } from './fakePop3Server';

export const USER = 'user@example.com';
export const GOOD_TOKEN = 'ya29.good-token-4c1d';
export const BAD_TOKEN = 'ya29.expired-token-SECRET-9f3e';

/** A message source's bytes: a Buffer as it is (fetchNew reads small messages ahead), a stream read to its end. */
export async function readAll(stream: Readable | Buffer): Promise<Buffer> {
	if (Buffer.isBuffer(stream)) return stream;
	const chunks: Buffer[] = [];
	for await (const chunk of stream) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks);
}

/** A client for a plain-TCP fake server, short timeouts so failures show quickly. */
export function clientFor(server: FakePop3Server, options: Partial<Pop3ClientOptions> = {}): Pop3Client {
	return new Pop3Client({
		host: '127.0.0.1',
		port: server.port,
		security: 'none',
		timeouts: { connect: 5000, greeting: 5000, command: 5000, idle: 5000 },
		...options,
	});
}

/** Everything a thrown error exposes: message, stack, own properties (serverText, transcript, challenge), causes. */
export function everythingIn(error: unknown, depth = 0): string {
	if (depth > 4 || error === undefined || error === null) return '';
	if (!(error instanceof Error)) return String(error);
	const own: Record<string, unknown> = {};
	for (const key of Object.getOwnPropertyNames(error)) own[key] = (error as unknown as Record<string, unknown>)[key];
	let serialized: string;
	try {
		serialized = JSON.stringify(own, (key, value: unknown) => (key === 'cause' ? undefined : value));
	} catch {
		serialized = '';
	}
	return [error.message, error.stack ?? '', serialized, String(error), everythingIn(error.cause, depth + 1)].join('\n');
}

/** The forms a token could leak in: itself, the XOAUTH2 initial response, and the decoded SASL string. */
export function secretForms(user: string, token: string): string[] {
	const sasl = `user=${user}\x01auth=Bearer ${token}\x01\x01`;
	return [token, Buffer.from(sasl).toString('base64'), `auth=Bearer ${token}`];
}

/** Resolves once the server side of the first session has been closed (the client destroyed its socket). */
export async function serverSawClose(fake: FakePop3Server): Promise<void> {
	await waitUntil(() => fake.sessions[0]?.closed === true, 'the server to see the connection closed', 2000);
	expect(fake.sessions[0]?.closed).toBe(true);
}
