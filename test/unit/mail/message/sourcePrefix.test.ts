/**
 * Reading the start of a stream source to see whether the fast `simple` path can take the message: a small message
 * is read whole, a larger one is left readable from where the reading stopped, and a broken or closed stream is a
 * failure of the source, never of the message.
 */
import { Readable } from 'node:stream';

import { isMessageContentError } from '../../../../nodes/mail/message/errors';
import { readSourcePrefix } from '../../../../nodes/mail/message/sourcePrefix';
import { messageToItem } from '../../../../nodes/mail/message/toItem';
import { normalMessage } from '../../../fixtures/hostileMail';
import { recordingSink } from './helpers';

function pieces(total: number, size: number): Buffer[] {
	return Array.from({ length: Math.ceil(total / size) }, (_, index) => Buffer.alloc(Math.min(size, total - index * size), 0x61 + (index % 26)));
}

describe('readSourcePrefix', () => {
	it('reads a small stream whole', async () => {
		const chunks = pieces(10_000, 1000);
		const prefix = await readSourcePrefix(Readable.from(chunks), 64 * 1024);
		expect(prefix).toEqual({ complete: true, message: Buffer.concat(chunks) });
	});

	it('stops after the chunk that crosses the size and leaves the rest readable', async () => {
		const chunks = pieces(100_000, 7000);
		const source = Readable.from(chunks);
		const prefix = await readSourcePrefix(source, 20_000);
		if (prefix.complete) throw new Error('expected a head');
		expect(prefix.head.length).toBe(21_000);
		const rest: Buffer[] = [];
		for await (const chunk of source) rest.push(chunk as Buffer);
		expect(Buffer.concat([prefix.head, ...rest])).toEqual(Buffer.concat(chunks));
	});

	it('rejects with the stream’s own error, and for a stream closed before its end', async () => {
		const broken = new Readable({ read() {} });
		broken.push(Buffer.from('partial'));
		setTimeout(() => broken.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 5);
		await expect(readSourcePrefix(broken, 1024)).rejects.toMatchObject({ code: 'ECONNRESET' });

		const closed = new Readable({ read() {} });
		closed.push(Buffer.from('partial'));
		setTimeout(() => closed.destroy(), 5);
		await expect(readSourcePrefix(closed, 1024)).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });

		const failedEarlier = new Readable({ read() {} });
		failedEarlier.on('error', () => undefined);
		failedEarlier.destroy(new Error('already failed'));
		await new Promise((resolve) => setImmediate(resolve));
		await expect(readSourcePrefix(failedEarlier, 1024)).rejects.toThrow('already failed');
	});

	it('a stream closed early is not the message’s fault in messageToItem either, and is given up', async () => {
		const closed = new Readable({ read() {} });
		closed.push(normalMessage('Closed early').subarray(0, 50));
		setTimeout(() => closed.destroy(), 5);
		const failure = await messageToItem(closed, {
			format: 'simple',
			downloadAttachments: true,
			attributes: {},
			prepareBinaryData: recordingSink().sink,
		}).catch((error: unknown) => error);
		expect(isMessageContentError(failure)).toBe(false);
		expect(closed.destroyed).toBe(true);
	});
});
