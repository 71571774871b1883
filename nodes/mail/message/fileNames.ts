/**
 * File names for attachments. The name in a message is sender-controlled text: it may carry a path
 * ("../../x"), control or bidi characters ("gpj.exe" shown reversed), characters that n8n's
 * prepareBinaryData would cut at ('?' starts a "query string" there), or nothing at all.
 */

/** Extensions for parts that arrive without a name, so a downloaded file opens with the right program. */
const EXTENSION_BY_TYPE: Record<string, string> = {
	'application/gzip': 'gz',
	'application/ics': 'ics',
	'application/json': 'json',
	'application/msword': 'doc',
	'application/octet-stream': 'bin',
	'application/pdf': 'pdf',
	'application/pgp-encrypted': 'pgp',
	'application/pgp-keys': 'asc',
	'application/pgp-signature': 'asc',
	'application/pkcs7-mime': 'p7m',
	'application/pkcs7-signature': 'p7s',
	'application/rtf': 'rtf',
	'application/vnd.ms-excel': 'xls',
	'application/vnd.ms-powerpoint': 'ppt',
	'application/vnd.ms-tnef': 'dat',
	'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
	'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
	'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
	'application/x-pkcs7-signature': 'p7s',
	'application/xml': 'xml',
	'application/zip': 'zip',
	'audio/mpeg': 'mp3',
	'audio/ogg': 'ogg',
	'audio/wav': 'wav',
	'image/bmp': 'bmp',
	'image/gif': 'gif',
	'image/heic': 'heic',
	'image/jpeg': 'jpg',
	'image/jpg': 'jpg',
	'image/png': 'png',
	'image/svg+xml': 'svg',
	'image/tiff': 'tif',
	'image/webp': 'webp',
	'message/delivery-status': 'txt',
	'message/disposition-notification': 'txt',
	'message/feedback-report': 'txt',
	'message/global': 'eml',
	'message/global-delivery-status': 'txt',
	'message/global-headers': 'txt',
	'message/rfc822': 'eml',
	'text/calendar': 'ics',
	'text/csv': 'csv',
	'text/html': 'html',
	'text/markdown': 'md',
	'text/plain': 'txt',
	'text/rfc822-headers': 'txt',
	'text/vcard': 'vcf',
	'text/x-vcard': 'vcf',
	'text/xml': 'xml',
	'video/mp4': 'mp4',
	'video/quicktime': 'mov',
};

/** Base names that tell a user what an unnamed part is (a bounce's pieces especially). */
const BASE_NAME_BY_TYPE: Record<string, string> = {
	'message/rfc822': 'message',
	'message/global': 'message',
	'message/delivery-status': 'delivery-status',
	'message/global-delivery-status': 'delivery-status',
	'message/disposition-notification': 'disposition-notification',
	'message/feedback-report': 'feedback-report',
	'text/rfc822-headers': 'message-headers',
	'message/global-headers': 'message-headers',
	'text/calendar': 'calendar',
	'application/ics': 'calendar',
	'text/plain': 'text',
	'text/html': 'text',
};

export function defaultFileName(mimeType: string): string {
	const type = mimeType.split(';')[0].trim().toLowerCase();
	const base = BASE_NAME_BY_TYPE[type] ?? 'attachment';
	return `${base}.${EXTENSION_BY_TYPE[type] ?? 'bin'}`;
}

// C0/C1 controls, DEL, zero-width and bidi formatting characters, BOM.
const INVISIBLE_OR_CONTROL = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
// Characters Windows forbids in names, plus '?' which n8n's prepareBinaryData treats as a query-string start.
const RESERVED = /[<>:"|?*]/g;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
const MAX_NAME_BYTES = 200;

/**
 * Turns a sender-supplied name into one that is safe to write anywhere, or undefined when nothing usable
 * is left (then the caller uses a default name). Keeps non-ASCII letters: "Résumé.pdf" stays as it is.
 */
export function sanitiseFileName(name: string | undefined): string | undefined {
	if (!name) return undefined;
	const segments = name.normalize('NFC').replace(INVISIBLE_OR_CONTROL, '').split(/[/\\]+/);
	let cleaned = (segments.filter((segment) => segment.trim() !== '').pop() ?? '')
		.replace(RESERVED, '_')
		.replace(/\s+/g, ' ')
		.trim()
		// Windows drops trailing dots and spaces; "a.pdf." would silently become "a.pdf" there
		.replace(/[. ]+$/, '');
	if (!cleaned || /^\.+$/.test(cleaned)) return undefined;
	if (WINDOWS_DEVICE.test(cleaned)) cleaned = `_${cleaned}`;
	return truncateKeepingExtension(cleaned, MAX_NAME_BYTES);
}

function truncateKeepingExtension(name: string, maxBytes: number): string {
	if (Buffer.byteLength(name) <= maxBytes) return name;
	const dot = name.lastIndexOf('.');
	const extension = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
	const chars = Array.from(name.slice(0, name.length - extension.length));
	while (chars.length && Buffer.byteLength(chars.join('') + extension) > maxBytes) chars.pop();
	return chars.join('').trimEnd() + extension;
}

/** Hands out names unique within one message (case-insensitively): "a.pdf", "a (2).pdf", "a (3).pdf". */
export class FileNameRegistry {
	private readonly taken = new Set<string>();

	claim(preferred: string): string {
		let candidate = preferred;
		const dot = preferred.lastIndexOf('.');
		const [stem, extension] = dot > 0 ? [preferred.slice(0, dot), preferred.slice(dot)] : [preferred, ''];
		for (let counter = 2; this.taken.has(candidate.toLowerCase()); counter++) {
			candidate = `${stem} (${counter})${extension}`;
		}
		this.taken.add(candidate.toLowerCase());
		return candidate;
	}
}
