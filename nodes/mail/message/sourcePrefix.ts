import type { Readable } from 'node:stream';

/** A stream source read up to a size: the whole message, or the bytes read so far when it turned out larger. */
export type SourcePrefix = { complete: true; message: Buffer } | { complete: false; head: Buffer };

/**
 * Reads a message stream until its end or until more than `maxBytes` have arrived, whichever comes first. A larger
 * message is left open and readable from where this stopped (nothing is read past the chunk that crossed the size),
 * so its head and the rest can still be parsed as a stream. Rejects with the stream's own error if it fails, or
 * with an error of its own if it closes before its end.
 */
export async function readSourcePrefix(source: Readable, maxBytes: number): Promise<SourcePrefix> {
	if (source.errored) throw source.errored;
	if (source.destroyed && !source.readableEnded) throw prematureClose();
	return await new Promise<SourcePrefix>((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		const finish = (settle: () => void) => {
			source.off('readable', onReadable);
			source.off('end', onEnd);
			source.off('error', onError);
			source.off('close', onClose);
			settle();
		};
		const onReadable = () => {
			let chunk: Buffer | string | null;
			while ((chunk = source.read() as Buffer | string | null) !== null) {
				const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
				chunks.push(bytes);
				size += bytes.length;
				if (size > maxBytes) {
					finish(() => resolve({ complete: false, head: Buffer.concat(chunks, size) }));
					return;
				}
			}
		};
		const onEnd = () => finish(() => resolve({ complete: true, message: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) }));
		const onError = (error: unknown) => finish(() => reject(error));
		const onClose = () => finish(() => reject(source.errored ?? prematureClose()));
		source.on('readable', onReadable);
		source.once('end', onEnd);
		source.once('error', onError);
		source.once('close', onClose);
	});
}

function prematureClose(): Error {
	return Object.assign(new Error('The message stream closed before the whole message arrived'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}
