/**
 * How Search and Get output messages: headers only (no download), or the trigger's formats (`simple`, `resolved`,
 * `raw`) with attachments as binary data; the parameters keep the trigger's names.
 */
import type { IDataObject, INodeProperties } from 'n8n-workflow';

import { MAX_MESSAGE_SIZE_RANGE, MEGABYTE, readItemSettings } from '../../../glue';
import type { ItemSettingsForRead } from '../../../mail/imap/actions/read';
import { MAX_MESSAGE_MB_LIMIT, maxMessageSizeOption, messageFormatProperties } from '../../../mail/descriptions';
import { boundedNumber } from '../../../mail/parameters';
import { showFor } from '../common';
import type { OperationInput } from '../types';

const HEADERS_ONLY = {
	name: 'Headers Only',
	value: 'headers',
	description: 'Subject, addresses, date and Message-ID from the server’s summary, and the attributes; nothing is downloaded',
};

/** `format` (with Headers Only), `downloadAttachments`, `dataPropertyAttachmentsPrefixName` for these operations. */
export function outputProperties(operations: string[]): INodeProperties[] {
	const show = showFor('message', operations)?.show;
	return messageFormatProperties(show).map((property) =>
		property.name === 'format' ? { ...property, options: [HEADERS_ONLY, ...(property.options ?? [])] } : property,
	);
}

/** The size options of an operation that downloads messages. */
export function sizeOptions(): INodeProperties[] {
	return [
		{
			displayName: 'Max Attachment Size (MB)',
			name: 'maxAttachmentSizeMb',
			type: 'number',
			typeOptions: { minValue: 0, maxValue: MAX_MESSAGE_MB_LIMIT },
			default: 0,
			description: 'Attachments larger than this are not output as binary data (they stay listed in attachmentInfo). 0 means no limit.',
		},
		maxMessageSizeOption(),
	];
}

export interface OutputChoice {
	headersOnly: boolean;
	settings: ItemSettingsForRead;
	maxMessageBytes: number;
}

export function readOutputChoice({ context, itemIndex }: OperationInput): OutputChoice {
	const parameter = (name: string, fallback: unknown) => context.getNodeParameter(name, itemIndex, fallback);
	const format = parameter('format', 'simple');
	const options = (parameter('options', {}) ?? {}) as IDataObject;
	const maxMessageBytes = boundedNumber(options.maxMessageSizeMb, MAX_MESSAGE_SIZE_RANGE) * MEGABYTE;
	if (format === 'headers') {
		return { headersOnly: true, maxMessageBytes, settings: { format: 'simple', downloadAttachments: false, prepareBinaryData: unused } };
	}
	const item = readItemSettings(parameter);
	return {
		headersOnly: false,
		maxMessageBytes,
		settings: {
			...item,
			prepareBinaryData: async (content: Buffer, fileName: string, mimeType: string) =>
				await context.helpers.prepareBinaryData(content, fileName, mimeType),
		},
	};
}

async function unused(): Promise<never> {
	throw new Error('headers only: nothing is stored');
}
