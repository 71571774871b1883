/**
 * Attachments come only from the input item's binary data, named by property; anything else is an error, never a
 * file path or URL to open (the node must not read the n8n host's files or fetch URLs; transport.ts also forbids it).
 */
import type { IBinaryData, INodeExecutionData } from 'n8n-workflow';

import type { AttachmentInput } from './message';
import { FIELD_LABELS } from './message';
import { MessageInputError, toMailText } from './validate';

/** Gmail's limit for the attachments of one message. */
export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;

/** What attachments.ts needs from n8n's execute context for one item. */
export interface BinaryAccess {
	item: INodeExecutionData;
	assertBinaryData(property: string): IBinaryData;
	getBinaryDataBuffer(property: string): Promise<Buffer>;
}

export interface AttachmentSpec {
	/** `attachments`: binary properties, each also referable in the HTML as cid:<property>. */
	inline: unknown;
	/** `fileAttachments`: binary properties attached as plain files. */
	files: unknown;
	/** Total size limit (default Gmail's 25 MB). */
	maxTotalBytes?: number;
}

export const FILE_ATTACHMENTS_LABEL = 'File Attachments';

/** "a, b ,c" or ["a", "b"] → ["a", "b", "c"], as n8n's prepareBinariesDataList splits them. */
export function parsePropertyList(value: unknown): string[] {
	if (value === undefined || value === null || value === '') return [];
	const parts = Array.isArray(value) ? value.map((entry) => toMailText(entry)) : toMailText(value).split(',');
	return parts.map((part) => part.trim()).filter((part) => part !== '');
}

/**
 * Reads every named binary property of the item, checking existence and the total size before any content is
 * loaded where n8n knows the size.
 * @throws MessageInputError
 */
export async function collectAttachments(spec: AttachmentSpec, access: BinaryAccess): Promise<AttachmentInput[]> {
	const requested = [
		...parsePropertyList(spec.inline).map((property) => ({ property, inline: true, field: FIELD_LABELS.attachments })),
		...parsePropertyList(spec.files).map((property) => ({ property, inline: false, field: FILE_ATTACHMENTS_LABEL })),
	];
	if (requested.length === 0) return [];
	const limit = spec.maxTotalBytes ?? MAX_ATTACHMENT_BYTES;
	const available = Object.keys(access.item.binary ?? {});

	const described: Array<{ property: string; inline: boolean; field: string; data: IBinaryData }> = [];
	for (const { property, inline, field } of requested) {
		if (!Object.prototype.hasOwnProperty.call(access.item.binary ?? {}, property)) {
			throw new MessageInputError(field, missingPropertyProblem(property, available));
		}
		described.push({ property, inline, field, data: access.assertBinaryData(property) });
	}

	// Refuse before loading anything when n8n already knows the sizes.
	const knownTotal = described.reduce((sum, entry) => sum + (typeof entry.data.bytes === 'number' ? entry.data.bytes : 0), 0);
	if (knownTotal > limit) throw tooLarge(described.map((entry) => [entry.property, entry.data.bytes ?? 0]), limit);

	const attachments: AttachmentInput[] = [];
	let total = 0;
	for (const { property, inline, data } of described) {
		const content = await access.getBinaryDataBuffer(property);
		total += content.length;
		if (total > limit) {
			throw tooLarge(
				[...attachments.map((entry): [string, number] => [entry.property, entry.content.length]), [property, content.length]],
				limit,
			);
		}
		attachments.push({
			property,
			inline,
			content,
			fileName: data.fileName || (data.fileExtension ? `${property}.${data.fileExtension}` : property),
			mimeType: data.mimeType || 'application/octet-stream',
		});
	}
	return attachments;
}

function missingPropertyProblem(property: string, available: string[]): string {
	const looksLikeLocation = /^(?:[a-z][a-z0-9+.-]*:|[/\\~.])/i.test(property) || /[/\\]/.test(property);
	const have = available.length ? `The item has: ${available.join(', ')}.` : 'The item has no binary data.';
	if (looksLikeLocation) {
		return (
			`names "${property}", which is not a binary property of the item. Attachments are read only from the item's ` +
			`binary data, never from files on the n8n server or from URLs: load the file first (e.g. with "Read/Write ` +
			`Files from Disk" or "HTTP Request") and name its binary property here. ${have}`
		);
	}
	return `names the binary property "${property}", which the item does not have. ${have}`;
}

function tooLarge(entries: Array<[string, number]>, limit: number): MessageInputError {
	const total = entries.reduce((sum, [, bytes]) => sum + bytes, 0);
	const list = entries.map(([property, bytes]) => `${property} ${formatBytes(bytes)}`).join(', ');
	return new MessageInputError(
		FIELD_LABELS.attachments,
		`add up to more than ${formatBytes(limit)} (Gmail's limit per message): ${list}${entries.length > 1 ? `, at least ${formatBytes(total)} in total` : ''}. ` +
			'Share large files as links instead.',
	);
}

function formatBytes(bytes: number): string {
	if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
	if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
	return `${bytes} B`;
}
