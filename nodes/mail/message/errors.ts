/**
 * The message itself is at fault: its content broke a parse limit or could not be decoded. Trying again cannot help,
 * so callers turn it into an item with `error` and move on. Failures of the download or of storing an attachment are
 * never this class (see parseMessage).
 */

export type MessageContentProblem =
	| 'tooManyParts'
	| 'nestedTooDeep'
	| 'headerTooLarge'
	| 'bodyTextTooLarge'
	| 'tooLarge'
	| 'malformed';

export class MessageContentError extends Error {
	readonly code = 'MESSAGE_CONTENT';
	readonly transient = false;

	constructor(
		readonly problem: MessageContentProblem,
		message: string,
		options?: { cause?: unknown },
	) {
		super(message, options);
		this.name = 'MessageContentError';
	}
}

export function isMessageContentError(error: unknown): error is MessageContentError {
	return error instanceof MessageContentError;
}
