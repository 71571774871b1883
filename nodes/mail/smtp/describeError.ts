/** What the user reads when sending one email fails: a one-line cause and what to do (SMTP node texts, no n8n). */
import { UNTRUSTED_CERTIFICATE_HINT } from '../connection';
import { ParameterRangeError } from '../parameters';
import { SmtpSendError } from './transport';
import { MessageInputError } from './validate';

export interface SmtpFailureText {
	message: string;
	description: string;
}

/** Describes a failure of one item's email; undefined for anything else (token errors describe themselves). */
export function describeSmtpFailure(error: unknown): SmtpFailureText | undefined {
	if (error instanceof MessageInputError) return { message: error.message, description: 'The email was not sent.' };
	if (error instanceof ParameterRangeError) {
		return { message: error.message, description: 'The email was not sent. Change the value in the node’s parameters.' };
	}
	if (error instanceof SmtpSendError) return { message: smtpSummary(error), description: smtpDescription(error) };
	return undefined;
}

function smtpSummary(error: SmtpSendError): string {
	if (error.certificateRejected) return error.message;
	if (error.delivery === 'unknown') {
		return `The connection to the SMTP server broke while the email was being sent: it may or may not have been delivered (${error.message})`;
	}
	if (error.code === 'EENVELOPE') return `The SMTP server refused the sender or recipients: ${error.response ?? error.message}`;
	if (error.code === 'EMESSAGE') return `The SMTP server refused the email: ${error.response ?? error.message}`;
	return `Sending failed: ${error.message}`;
}

function smtpDescription(error: SmtpSendError): string {
	if (error.certificateRejected) {
		return `The server’s TLS certificate could not be verified, so the access token was not sent. ${UNTRUSTED_CERTIFICATE_HINT}`;
	}
	if (error.delivery === 'unknown') {
		return 'Check the Sent folder or ask the recipient before sending this email again, or it may arrive twice.';
	}
	return 'The email was not sent.';
}
