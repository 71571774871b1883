/**
 * The one place where the mail core's plain errors become n8n errors, and the one policy for failures that would
 * repeat for every further item of a run (reported per item without another attempt).
 */
import type { INode } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { TokenSourceError } from '../mail/auth/tokenErrors';
import { MailCredentialFieldError } from '../mail/connection';
import { ParameterRangeError } from '../mail/parameters';
import { Pop3Error } from '../mail/pop3/errors';
import { SmtpSendError } from '../mail/smtp/transport';
import { MessageInputError } from '../mail/smtp/validate';

/** A node's wording for one of the core's errors. */
export interface FailureText {
	message: string;
	description?: string;
}

export interface NodeErrorOptions {
	itemIndex?: number;
	/** The node's texts for core errors (describeSmtpFailure, describePop3Failure, ...); undefined = not its error. */
	describe?: (error: unknown) => FailureText | undefined;
	/** Applied to every text taken from the error, e.g. the token source's redact(). */
	redact?: (text: string) => string;
}

/**
 * An n8n error for anything a node caught: n8n errors pass through (gaining the item index), token-source errors
 * keep their description, level and failure cause, `describe` words the rest, and anything else keeps its message.
 */
export function toNodeError(node: INode, error: unknown, options: NodeErrorOptions = {}): NodeOperationError {
	const { itemIndex, redact } = options;
	if (error instanceof NodeOperationError) {
		if (error.context.itemIndex === undefined) error.context.itemIndex = itemIndex;
		return error;
	}
	if (error instanceof TokenSourceError) {
		return new NodeOperationError(node, error.message, {
			description: error.description,
			level: error.level,
			failure: { cause: error.failureCause },
			itemIndex,
		});
	}
	const clean = redact ?? ((text: string) => text);
	const described = options.describe?.(error);
	if (described) {
		return new NodeOperationError(node, clean(described.message), {
			itemIndex,
			...(described.description !== undefined ? { description: clean(described.description) } : {}),
		});
	}
	if (redact) return new NodeOperationError(node, redact(error instanceof Error ? error.message : String(error)), { itemIndex });
	return new NodeOperationError(node, error instanceof Error ? error : new Error(String(error)), { itemIndex });
}

/**
 * Whether a failure would repeat for every further item of the run, so the node reports it for them without trying
 * again: a value the user typed is the item's own (never lasting); a lost session is (the node does not reconnect,
 * `sessionLost`); otherwise credential and certificate problems are, which no retry within a run can fix.
 */
export function isLastingFailure(error: unknown, options: { sessionLost?: boolean } = {}): boolean {
	if (error instanceof ParameterRangeError || error instanceof MessageInputError) return false;
	if (options.sessionLost) return true;
	if (error instanceof TokenSourceError) return !error.transient;
	if (error instanceof SmtpSendError) return error.certificateRejected;
	if (error instanceof Pop3Error) return error.code === 'POP3_CERTIFICATE';
	return error instanceof MailCredentialFieldError;
}
