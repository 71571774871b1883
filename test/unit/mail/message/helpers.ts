import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IBinaryData, INodeExecutionData } from 'n8n-workflow';

import type { BinarySink } from '../../../../nodes/mail/message/toItem';

export const FIXTURES = join(__dirname, '..', '..', '..', 'fixtures', 'mail');

export function fixture(name: string): Buffer {
	return readFileSync(join(FIXTURES, name));
}

export function sha256(content: Buffer): string {
	return createHash('sha256').update(content).digest('hex');
}

/**
 * The original bytes the fixtures carry as attachments (test/fixtures/mail was generated from these). Tests
 * compare the checksum of what comes out with the checksum of these, so byte-exactness is checked end to end.
 */
export const CONTENT = {
	pdf: Buffer.concat([
		Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n', 'latin1'),
		Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
		Buffer.from('\n%%EOF\n', 'latin1'),
	]),
	png: Buffer.from(
		'89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a0b6c5d80000000049454e44ae426082',
		'hex',
	),
	gif: Buffer.from('47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b', 'hex'),
	blob: Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)),
	ics: Buffer.from(
		'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Handmade//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n' +
			'UID:meeting-1@example.com\r\nDTSTART:20240120T100000Z\r\nDTEND:20240120T110000Z\r\n' +
			'SUMMARY:Planning\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n',
	),
	resumeLatin1: Buffer.from('Résumé', 'latin1'),
	euroLatin9: Buffer.from('Price: 10 \xa4', 'latin1'),
};

/**
 * The bytes of a MIME part's body as they stand in the fixture: from the empty line after `partHeaderEnd`
 * to the line break before `boundaryLine`. Used for message/rfc822 and other un-encoded parts.
 */
export function bodyBetween(source: Buffer, partHeaderEnd: string, boundaryLine: string): Buffer {
	const text = source.toString('latin1');
	const headerAt = text.indexOf(partHeaderEnd);
	if (headerAt < 0) throw new Error(`fixture has no ${partHeaderEnd}`);
	const start = text.indexOf('\r\n\r\n', headerAt) + 4;
	const end = text.indexOf(`\r\n${boundaryLine}`, start);
	if (start < 4 || end < 0) throw new Error('fixture part not found');
	return source.subarray(start, end);
}

export interface StoredBinary {
	content: Buffer;
	fileName: string;
	mimeType: string;
}

/**
 * Stands in for n8n's prepareBinaryData: keeps what it was given and answers with the fields n8n's helper
 * fills in for an in-memory binary (base64 data, mime type, file name, size).
 */
export function recordingSink(): { sink: BinarySink; stored: StoredBinary[] } {
	const stored: StoredBinary[] = [];
	const sink: BinarySink = async (content, fileName, mimeType) => {
		stored.push({ content, fileName, mimeType });
		const binary: IBinaryData = {
			data: content.toString('base64'),
			mimeType,
			fileName,
			fileSize: `${content.length} B`,
		};
		return binary;
	};
	return { sink, stored };
}

export interface BinarySummary {
	fileName?: string;
	mimeType: string;
	sha256: string;
}

/** Every binary of an item as name, MIME type and checksum of its bytes. */
export function binarySummary(item: INodeExecutionData): Record<string, BinarySummary> {
	const summary: Record<string, BinarySummary> = {};
	for (const [key, binary] of Object.entries(item.binary ?? {})) {
		summary[key] = {
			fileName: binary.fileName,
			mimeType: binary.mimeType,
			sha256: sha256(Buffer.from(binary.data, 'base64')),
		};
	}
	return summary;
}

export function expectedBinary(fileName: string, mimeType: string, content: Buffer): BinarySummary {
	return { fileName, mimeType, sha256: sha256(content) };
}

/** mailparser's AddressObject for one bare address (no display name). */
export function bareAddress(address: string) {
	return {
		value: [{ address, name: '' }],
		html: `<span class="mp_address_group"><a href="mailto:${address}" class="mp_address_email">${address}</a></span>`,
		text: address,
	};
}

/** The item as n8n stores it: JSON round trip drops undefined members, as the execution store does. */
export function asStored<T>(value: T): T {
	return JSON.parse(JSON.stringify(value)) as T;
}
