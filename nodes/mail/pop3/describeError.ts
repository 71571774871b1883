import { UNTRUSTED_CERTIFICATE_HINT } from '../connection';
import { GMAIL_ENABLE_POP, Pop3Error } from './errors';
import { Pop3DeletionNotConfirmedError, Pop3MessageNotFoundError } from './mailbox';
import { meaningOf } from './replies';

/**
 * What the user reads when a POP3 operation fails: a one-line cause and a description saying what to do.
 * Built from the error classes' codes, never from server wording (Gmail's and other servers' texts differ).
 * The texts come from the client's already redacted messages; the caller still passes them through the token
 * source's redact() before showing them.
 */
export interface Pop3FailureText {
	message: string;
	description: string;
	/** Trying again later may help without changing anything. */
	transient: boolean;
}

export interface Pop3FailureContext {
	host: string;
	port: number;
	/** The account (XOAUTH2 user) the session was for. */
	account: string;
	/** The credential is the Google Mail one (Gmail-specific hints apply). */
	gmail: boolean;
}

/** Describes a failure of the POP3 layer; undefined for anything else (token errors already are n8n errors). */
export function describePop3Failure(error: unknown, context: Pop3FailureContext): Pop3FailureText | undefined {
	if (error instanceof Pop3MessageNotFoundError) {
		return {
			message: error.message,
			description:
				'The message may have been deleted, or (Gmail) already downloaded over POP and so no longer listed in normal ' +
				'mode. UIDLs belong to one mailbox on one server: take them from this node\'s "Get Many" output (attributes.uidl).',
			transient: false,
		};
	}
	if (error instanceof Pop3DeletionNotConfirmedError) {
		return {
			message: error.message,
			description:
				'POP3 servers delete messages only when the session ends cleanly (QUIT), and this session ended without it. ' +
				`The message is most likely still on the server (${context.host}); run the node again.`,
			transient: true,
		};
	}
	if (!(error instanceof Pop3Error)) return undefined;
	const where = `${context.host}:${context.port}`;
	const transcript = error.transcript.length ? ` Last protocol lines (token removed): ${error.transcript.slice(-6).join(' | ')}` : '';
	switch (error.code) {
		case 'POP3_ACCESS_DISABLED':
			return {
				message: `POP3 access is disabled for the account "${context.account}"`,
				description: error.message,
				transient: false,
			};
		case 'POP3_SERVER_BUSY':
			return {
				message: `The POP3 server ${where} is busy for this mailbox and refused the session`,
				description: `${error.message} Nothing was downloaded or deleted.`,
				transient: true,
			};
		case 'POP3_PROTOCOL':
			return {
				message: `The POP3 server ${where} sent a malformed reply${error.step ? ` to ${error.step}` : ''}`,
				description:
					`${error.message}. The session was closed without applying any deletion, so nothing was lost. A proxy, ` +
					'antivirus or firewall that inspects mail traffic can cause this; otherwise report it to the server\'s ' +
					`operator.${transcript}`,
				transient: false,
			};
		case 'POP3_RESPONSE_TOO_LARGE':
			return {
				message: `The POP3 server ${where} sent a reply larger than this node accepts${error.step ? ` (to ${error.step})` : ''}`,
				description:
					`${error.message}. The session was closed without applying any deletion, so nothing was lost. A mailbox ` +
					'this large cannot be listed over POP3 by this node; empty it with another client first. Otherwise the ' +
					'server, or something between it and n8n, is misbehaving.',
				transient: false,
			};
		case 'POP3_TIMEOUT':
			return {
				message: `The POP3 server ${where} stopped answering${error.step ? ` (step: ${error.step})` : ''}`,
				description:
					`${error.message}. The session was closed without applying any deletion; the next run picks up the same ` +
					'messages. Check the network path to the server, or lower "Limit" if large messages take long.',
				transient: true,
			};
		case 'POP3_CONNECTION':
			return {
				message: `The POP3 connection to ${where} failed${error.step ? ` (step: ${error.step})` : ''}`,
				description:
					`${error.message}. Check the host and port${context.gmail ? ' (Gmail: pop.gmail.com, port 995)' : ' in the credential'} ` +
					'and that outgoing connections to it are allowed. No deletion was applied.',
				transient: true,
			};
		case 'POP3_CERTIFICATE':
			return {
				message: `The TLS certificate of the POP3 server ${where} is not trusted`,
				description:
					`${error.message} The access token was not sent. ${UNTRUSTED_CERTIFICATE_HINT}`,
				transient: false,
			};
		case 'POP3_STLS_UNAVAILABLE':
			return {
				message: `The POP3 server ${where} cannot encrypt the connection with STARTTLS`,
				description: `${error.message} Set "POP3 Security" in the credential to SSL/TLS (usually port 995).`,
				transient: false,
			};
		case 'POP3_XOAUTH2_UNSUPPORTED':
			return {
				message: `The POP3 server ${where} does not accept OAuth2 (XOAUTH2) logins`,
				description:
					`${error.message}. This node logs in only with OAuth2. Ask the provider whether POP3 with OAuth2 is ` +
					'available (Gmail and Microsoft 365 offer it) or use a server that supports it.',
				transient: false,
			};
		case 'POP3_COMMAND_FAILED': {
			const message = `The POP3 server ${where} refused ${error.step ?? 'a command'}${error.serverText ? `: ${error.serverText}` : ''}`;
			// RFC 3206: SYS/* is a problem of the server or account, not of the message (Gmail: POP switched off).
			const meaning = meaningOf(error.responseCode);
			if (meaning === 'permanent') {
				return {
					message,
					description:
						'The server reports a permanent problem with the account, not with the message; no deletion was applied.' +
						`${context.gmail ? ` Gmail answers this way when POP was switched off for the account: ${GMAIL_ENABLE_POP}` : " Ask the server's operator."}${transcript}`,
					transient: false,
				};
			}
			if (meaning === 'temporary') {
				return { message, description: `The server reports a temporary problem; no deletion was applied. Try again later.${transcript}`, transient: true };
			}
			return {
				message,
				description:
					'The session was closed without applying any deletion. If the message was removed by another client in ' +
					`the meantime, run the node again.${transcript}`,
				transient: false,
			};
		}
	}
}
