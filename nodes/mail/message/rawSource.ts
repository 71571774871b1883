import type { MessageSource } from './types';

export async function readWholeSource(source: MessageSource): Promise<Buffer> {
	if (Buffer.isBuffer(source)) return source;
	const chunks: Buffer[] = [];
	for await (const chunk of source as AsyncIterable<Buffer | string>) {
		chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
	}
	return Buffer.concat(chunks);
}

/**
 * Splits a message at the empty line that ends its header section (CRLF or bare LF), the way an IMAP server
 * separates BODY[HEADER] from BODY[TEXT]. Without an empty line the whole message is header.
 */
export function splitHeaderAndBody(message: Buffer): { header: Buffer; body: Buffer } {
	let lineStart = 0;
	while (lineStart < message.length) {
		const newline = message.indexOf(0x0a, lineStart);
		const lineEnd = newline < 0 ? message.length : newline;
		const isEmptyLine = lineEnd === lineStart || (lineEnd === lineStart + 1 && message[lineStart] === 0x0d);
		if (isEmptyLine && newline >= 0) {
			return { header: message.subarray(0, lineStart), body: message.subarray(newline + 1) };
		}
		if (newline < 0) break;
		lineStart = newline + 1;
	}
	return { header: message, body: Buffer.alloc(0) };
}
