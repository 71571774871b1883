/**
 * Errors of the action node's IMAP operations, each with a text that says what to do, and the wording of imapflow's
 * and the network's failures for a person. No n8n here: the node glue turns these into n8n errors.
 */
import { imapErrorFields } from '../client';

/** A problem the user can act on: `message` says what happened, `description` what to do. */
export class ImapActionError extends Error {
	constructor(
		message: string,
		readonly description?: string,
		/** The same for every further item (a missing capability): reported for them without another attempt. */
		readonly lasting = false,
	) {
		super(message);
		this.name = 'ImapActionError';
	}
}

/** The message the item names is not where it says (expunged, moved, or the folder was recreated). */
export class MessageNotFoundError extends ImapActionError {
	constructor(what: string, folder: string) {
		super(
			`No message ${what} in "${folder}"`,
			'It may have been moved or deleted since the item was made. Search for it again (Message → Search) and use the new UID.',
		);
		this.name = 'MessageNotFoundError';
	}
}

/** The server does not have this folder. */
export function missingFolderError(path: string): ImapActionError {
	return new ImapActionError(
		`The folder "${path}" does not exist on the server`,
		'Check the folder name (it is case-sensitive except INBOX); Folder → Get Many lists every folder. On Gmail a label is a folder, e.g. "[Gmail]/All Mail".',
	);
}

export interface FailureWording {
	message: string;
	description?: string;
}

const CERTIFICATE_CODES = new Set([
	'DEPTH_ZERO_SELF_SIGNED_CERT',
	'SELF_SIGNED_CERT_IN_CHAIN',
	'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
	'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
	'CERT_HAS_EXPIRED',
	'CERT_NOT_YET_VALID',
	'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether the server's certificate was refused (the same for every item: no retry within a run can fix it). */
export function isCertificateFailure(error: unknown): boolean {
	const code = imapErrorFields(error).code;
	return typeof code === 'string' && CERTIFICATE_CODES.has(code);
}

/**
 * How the node words a failure of the IMAP session: its own errors as they are, network and certificate failures
 * naming the server, a server's NO with its text. undefined: not an IMAP failure (the caller keeps the message).
 */
export function describeImapFailure(error: unknown, server: { host: string; port: number }): FailureWording | undefined {
	if (error instanceof ImapActionError) return { message: error.message, description: error.description };
	const fields = imapErrorFields(error);
	const where = `${server.host}:${server.port}`;
	if (isCertificateFailure(error)) {
		return {
			message: `The certificate of the IMAP server ${where} was refused (${fields.code})`,
			description:
				'For a server with a certificate from a private (company) authority, paste that authority in the credential’s "CA Certificate (PEM)".',
		};
	}
	switch (fields.code) {
		case 'ECONNREFUSED':
			return { message: `The IMAP server ${where} refused the connection`, description: 'Check the IMAP host and port of the credential.' };
		case 'ENOTFOUND':
		case 'EAI_AGAIN':
			return { message: `The IMAP host "${server.host}" was not found`, description: 'Check the IMAP host of the credential.' };
		case 'ETIMEDOUT':
		case 'CONNECT_TIMEOUT':
		case 'GREETING_TIMEOUT':
			return { message: `The IMAP server ${where} did not answer in time`, description: 'Check the host, port and security of the credential, then try again.' };
		case 'NoConnection':
		case 'EConnectionClosed':
			return { message: 'The IMAP connection closed before the command finished', description: 'Run the node again; the server may have ended the session.' };
	}
	const text = error instanceof Error ? error.message : String(error);
	if (typeof fields.responseText === 'string' && fields.responseText && !text.includes(fields.responseText)) {
		return { message: `${text}: ${fields.responseText}` };
	}
	return undefined;
}
