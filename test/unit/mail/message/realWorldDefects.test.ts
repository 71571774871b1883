/**
 * Two defects found with held-out real-world messages, reproduced with fixtures of our own: adjacent ISO-2022-JP
 * encoded words on folded lines, and a multipart/report whose human-readable first part is labelled
 * message/delivery-status. The messages live in test/fixtures/mailCorpus.ts, where the differential test of the fast
 * `simple` path reads them too.
 */
import { messageToItem, type MessageToItemOptions } from '../../../../nodes/mail/message/toItem';
import { decodeEncodedWords } from '../../../../nodes/mail/message/headers';
import { REAL_WORLD_DEFECTS } from '../../../fixtures/mailCorpus';
import { recordingSink } from './helpers';

function options(format: 'simple' | 'resolved'): MessageToItemOptions {
	return { format, downloadAttachments: true, attributes: {}, prepareBinaryData: recordingSink().sink };
}

function defect(name: string): Buffer {
	const message = REAL_WORLD_DEFECTS.find((entry) => entry.name === name);
	if (!message) throw new Error(`no real-world defect ${name}`);
	return message.source;
}

const JAPANESE_SUBJECT = defect('iso-2022-jp-adjacent-words');
const BOUNCE = defect('report-text-labelled-delivery-status');

describe('real-world defects', () => {
	it('adjacent ISO-2022-JP encoded words on folded lines decode without a replacement character', async () => {
		expect(decodeEncodedWords('=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=')).toBe('テストテスト');
		const simple = await messageToItem(JAPANESE_SUBJECT, options('simple'));
		expect(simple.json.subject).toBe('Re: TEST  テストテスト');
		const resolved = await messageToItem(JAPANESE_SUBJECT, options('resolved'));
		expect(resolved.json.subject).toBe('Re: TEST  テストテスト');
	});

	it('a UTF-8 character split across two encoded words still comes out whole', () => {
		// "é" is C3 A9: one byte in each word.
		expect(decodeEncodedWords('=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?=')).toBe('café');
	});

	it('the first part of a multipart/report, labelled delivery-status but human-readable, is the text body', async () => {
		const simple = await messageToItem(BOUNCE, options('simple'));
		expect(simple.json.textPlain).toBe('This is the mail system at host mx.example.\nYour message could not be delivered to one or more recipients.');
		// The machine-readable report stays a part of its own, as before.
		const parts = (simple.json.attachmentInfo as Array<{ mimeType: string }>).map((part) => part.mimeType);
		expect(parts).toEqual(['message/delivery-status', 'text/rfc822-headers']);
		const resolved = await messageToItem(BOUNCE, options('resolved'));
		expect(String(resolved.json.text)).toContain('This is the mail system at host mx.example.');
	});
});
