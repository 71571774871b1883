/** How a node turns each message into an item: the format and attachment parameters shared by the POP node and the trigger. */
import type { IDataObject } from 'n8n-workflow';

import { DEFAULT_MAX_MESSAGE_MB, MAX_MESSAGE_MB_LIMIT } from '../mail/descriptions';
import type { MessageFormat } from '../mail/message/toItem';
import { boundedNumber, type NumberRange } from '../mail/parameters';

export const MEGABYTE = 1024 * 1024;

/** Options › Max Attachment Size (MB): 0 = no limit; an attachment is part of a message, so at most a message's limit. */
export const MAX_ATTACHMENT_SIZE_RANGE = {
	label: 'Max Attachment Size (MB)',
	min: 0,
	max: MAX_MESSAGE_MB_LIMIT,
	fallback: 0,
} satisfies NumberRange;

/** Options › Max Message Size (MB): larger messages are not downloaded (the trigger and the POP node alike). */
export const MAX_MESSAGE_SIZE_RANGE = {
	label: 'Max Message Size (MB)',
	min: 1,
	max: MAX_MESSAGE_MB_LIMIT,
	fallback: DEFAULT_MAX_MESSAGE_MB,
} satisfies NumberRange;

export interface ItemSettings {
	format: MessageFormat;
	downloadAttachments: boolean;
	attachmentPrefix: string;
	maxAttachmentBytes?: number;
}

/** Reads one parameter with a fallback: `(name, fallback) => this.getNodeParameter(name, itemIndex, fallback)` or the trigger's. */
export type ParameterReader = (name: string, fallback: unknown) => unknown;

/**
 * format, downloadAttachments, dataPropertyAttachmentsPrefixName and Options › maxAttachmentSizeMb.
 * @throws ParameterRangeError when Max Attachment Size is outside MAX_ATTACHMENT_SIZE_RANGE
 */
export function readItemSettings(parameter: ParameterReader): ItemSettings {
	const format = parameter('format', 'simple') as MessageFormat;
	const downloadAttachments = format === 'resolved' || (format === 'simple' && Boolean(parameter('downloadAttachments', false)));
	const attachmentPrefix = downloadAttachments
		? String(parameter('dataPropertyAttachmentsPrefixName', 'attachment_') || 'attachment_')
		: 'attachment_';
	const options = (parameter('options', {}) ?? {}) as IDataObject;
	const maxMb = boundedNumber(options.maxAttachmentSizeMb, MAX_ATTACHMENT_SIZE_RANGE);
	return {
		format,
		downloadAttachments,
		attachmentPrefix,
		maxAttachmentBytes: maxMb > 0 ? Math.round(maxMb * MEGABYTE) : undefined,
	};
}
