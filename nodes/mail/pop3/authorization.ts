/**
 * The exchanges of POP3's AUTHORIZATION state over one wire: CAPA (RFC 2449), STLS (RFC 2595) and AUTH XOAUTH2
 * (RFC 5034). Pop3Client runs them at their turn in its queue and keeps the session's state; these only talk.
 */
import { decodeXOAuth2Challenge } from '../auth/xoauth2';
import { Pop3MechanismUnsupportedError, Pop3ProtocolError, Pop3StlsUnavailableError } from './errors';
import { authRefused } from './replies';
import { type Pop3ResponseLimits, type Pop3Wire, REDACTED } from './wire';

export type Pop3Capabilities = Map<string, string[]>;

/** CAPA: upper-case capability names and their arguments; empty when the server has no CAPA (plain RFC 1939). */
export async function readCapabilities(wire: Pop3Wire, limits: Pop3ResponseLimits, timeoutMs: number): Promise<Pop3Capabilities> {
	wire.send('CAPA');
	const status = await wire.readStatus('CAPA', timeoutMs);
	// A plain RFC 1939 server without CAPA: nothing is known, AUTH is still tried.
	if (status.kind === 'err') return new Map();
	if (status.kind !== 'ok') throw wire.fail(wire.protocolError('CAPA', status.text));
	const capabilities: Pop3Capabilities = new Map();
	for (const line of await wire.readListing('CAPA', limits.capa, timeoutMs)) {
		const words = line.toString('latin1').trim().split(/\s+/);
		if (words[0]) capabilities.set(words[0].toUpperCase(), words.slice(1));
	}
	return capabilities;
}

/**
 * STLS and the TLS handshake. The capabilities read before must be read again afterwards (RFC 2595 §4: they may have
 * been tampered with); nothing is sent in plain text when the server cannot upgrade.
 */
export async function startTls(wire: Pop3Wire, capabilities: Pop3Capabilities, server: string, timeoutMs: number): Promise<void> {
	if (!capabilities.has('STLS')) {
		throw new Pop3StlsUnavailableError(
			`The POP3 server ${server} does not offer STLS (STARTTLS), so the connection cannot be ` +
				'encrypted; nothing was sent in plain text. Use TLS (usually port 995) instead.',
			{ step: 'STLS' },
		);
	}
	wire.send('STLS');
	const status = await wire.readStatus('STLS', timeoutMs);
	if (status.kind !== 'ok') {
		throw new Pop3StlsUnavailableError(`The POP3 server refused STLS: ${wire.clean(status.text)}`, {
			step: 'STLS',
			serverText: wire.clean(status.text),
		});
	}
	if (wire.bufferedByteCount > 0) {
		// Bytes after the +OK but before the handshake were not protected by TLS: an attacker may have injected them.
		throw new Pop3ProtocolError('The POP3 server sent unencrypted data after accepting STLS; refusing to continue', {
			step: 'STLS',
		});
	}
	await wire.upgradeToTls();
}

/**
 * AUTH XOAUTH2 with the initial response (the token inside it is already registered as a secret of the wire, so no
 * transcript shows it). Resolves when the server accepts; a refusal becomes authRefused's error (TokenRejectedError,
 * Pop3AccessDisabledError, Pop3ServerBusyError, ...), with the server's base64 JSON explanation when it sent one.
 */
export async function authenticateXOAuth2(
	wire: Pop3Wire,
	capabilities: Pop3Capabilities,
	server: string,
	initialResponse: string,
	timeoutMs: number,
): Promise<void> {
	const step = 'AUTH XOAUTH2';
	const mechanisms = capabilities.get('SASL');
	if (mechanisms && !mechanisms.some((mechanism) => mechanism.toUpperCase() === 'XOAUTH2')) {
		throw wire.withTranscript(
			new Pop3MechanismUnsupportedError(
				`The POP3 server ${server} does not offer XOAUTH2 login (it offers: ${mechanisms.join(', ') || 'none'})`,
				{ step },
			),
		);
	}
	wire.send(`AUTH XOAUTH2 ${initialResponse}`, `AUTH XOAUTH2 ${REDACTED}`);
	const first = await wire.readStatus(step, timeoutMs);
	if (first.kind === 'ok') return;
	if (first.kind === 'err') throw authRefused(wire, first);
	if (first.kind !== 'continue') throw wire.fail(wire.protocolError(step, first.text));
	// The server refused the token and explains why in base64 JSON; SASL wants an empty line before the final -ERR.
	const challenge = decodeXOAuth2Challenge(first.text);
	wire.send('', '(empty line: acknowledges the XOAUTH2 error challenge)');
	const final = await wire.readStatus(step, timeoutMs);
	if (final.kind === 'ok') return;
	if (final.kind !== 'err') throw wire.fail(wire.protocolError(step, final.text));
	throw authRefused(wire, final, challenge);
}
