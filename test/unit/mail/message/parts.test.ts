/** The small pieces: file names, header decoding, charsets, header/body split. */
import { decodeBytes, binaryStringToText } from '../../../../nodes/mail/message/charset';
import { FileNameRegistry, defaultFileName, sanitiseFileName } from '../../../../nodes/mail/message/fileNames';
import { decodeEncodedWords, decodeHeaderBlock, unfoldHeader } from '../../../../nodes/mail/message/headers';
import { splitHeaderAndBody } from '../../../../nodes/mail/message/rawSource';

describe('sanitiseFileName', () => {
	it.each([
		['report.pdf', 'report.pdf'],
		['Résumé.pdf', 'Résumé.pdf'],
		['../../etc/passwd', 'passwd'],
		['..\\..\\boot.ini', 'boot.ini'],
		['C:\\Users\\bob\\a.pdf', 'a.pdf'],
		['dir/', 'dir'],
		['what?.txt', 'what_.txt'],
		['a<b>c:d"e|f*g.txt', 'a_b_c_d_e_f_g.txt'],
		['tab\there\u0000.txt', 'tabhere.txt'],
		['evil\u202Egpj.exe', 'evilgpj.exe'],
		['zero\u200Bwidth.txt', 'zerowidth.txt'],
		['  spaced   name .pdf  ', 'spaced name .pdf'],
		['trailing dots...', 'trailing dots'],
		['CON', '_CON'],
		['nul.txt', '_nul.txt'],
		['.hidden', '.hidden'],
	])('%j → %j', (input, expected) => {
		expect(sanitiseFileName(input)).toBe(expected);
	});

	it.each([[undefined], [''], ['   '], ['.'], ['..'], ['...'], ['/'], ['\u202E']])(
		'%j leaves nothing usable',
		(input) => {
			expect(sanitiseFileName(input)).toBeUndefined();
		},
	);

	it('keeps long names within 200 UTF-8 bytes and keeps the extension', () => {
		const name = sanitiseFileName(`${'ü'.repeat(300)}.pdf`) ?? '';

		expect(Buffer.byteLength(name)).toBeLessThanOrEqual(200);
		expect(name.endsWith('.pdf')).toBe(true);
		expect(name.startsWith('üü')).toBe(true);
	});
});

describe('defaultFileName', () => {
	it.each([
		['message/rfc822', 'message.eml'],
		['message/delivery-status', 'delivery-status.txt'],
		['text/rfc822-headers', 'message-headers.txt'],
		['text/calendar; method=REQUEST', 'calendar.ics'],
		['image/png', 'attachment.png'],
		['image/jpeg', 'attachment.jpg'],
		['text/plain', 'text.txt'],
		['application/x-unknown-thing', 'attachment.bin'],
	])('%s → %s', (mimeType, expected) => {
		expect(defaultFileName(mimeType)).toBe(expected);
	});
});

describe('FileNameRegistry', () => {
	it('numbers repeats before the extension, case-insensitively', () => {
		const names = new FileNameRegistry();

		expect(['a.pdf', 'a.pdf', 'A.PDF', 'b', 'b', 'a (2).pdf'].map((name) => names.claim(name))).toEqual([
			'a.pdf',
			'a (2).pdf',
			'A (3).PDF',
			'b',
			'b (2)',
			'a (2) (2).pdf',
		]);
	});
});

describe('decodeEncodedWords', () => {
	it.each([
		['plain text', 'plain text'],
		['=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=', 'Grüße aus Köln'],
		['=?iso-8859-1?q?caf=E9?= au lait', 'café au lait'],
		['Re: =?UTF-8?B?w6l0w6k=?= report', 'Re: été report'],
		// whitespace between two encoded words is not part of the text (RFC 2047 section 6.2)
		['=?UTF-8?Q?a?= =?UTF-8?Q?b?=', 'ab'],
		['=?UTF-8?Q?a?=\r\n =?ISO-8859-1?Q?=E9?=', 'aé'],
		// a UTF-8 character split across two words decodes whole
		['=?UTF-8?Q?=C3?= =?utf-8?Q?=A9?=', 'é'],
		['=?utf-8*en?Q?hello?=', 'hello'],
		['=?KOI8-R?Q?=F0=D2=C9=D7=C5=D4?=', 'Привет'],
		// Node's own TextDecoder loses these bytes; they must survive
		['=?windows-1252?Q?=80_=93quoted=94_=96_=85?=', '€ “quoted” – …'],
		['=?iso-8859-1?Q?=80?=', '€'],
		// unknown charset: valid UTF-8 is read as UTF-8, anything else byte-for-byte
		['=?x-unknown?Q?=C3=A9?=', 'é'],
		['=?x-unknown?Q?=E9?=', 'é'],
		// UTF-7 is never decoded (it can hide markup); the bytes come out as ASCII
		['=?UTF-7?Q?+ADw-script+AD4-?=', '+ADw-script+AD4-'],
		['broken =?UTF-8?Q?no end', 'broken =?UTF-8?Q?no end'],
	])('%j → %j', (input, expected) => {
		expect(decodeEncodedWords(input)).toBe(expected);
	});
});

describe('unfoldHeader and decodeHeaderBlock', () => {
	it('unfolds, lower-cases the name, trims, and reads raw UTF-8 bytes', () => {
		expect(unfoldHeader('Subject: a\r\n  folded\r\n\tline ')).toEqual({ name: 'subject', value: 'a folded line' });
		expect(unfoldHeader(Buffer.from('X-Note: Grüße', 'utf8').toString('latin1'))).toEqual({
			name: 'x-note',
			value: 'Grüße',
		});
		expect(unfoldHeader('no colon here')).toEqual({ name: '', value: '' });
	});

	it('keeps every value of a repeated header in order, and a "__proto__" header as a plain key', () => {
		const headers = decodeHeaderBlock([
			{ key: 'received', line: 'Received: first' },
			{ key: 'received', line: 'Received: second' },
			{ key: '__proto__', line: '__proto__: x' },
			{ key: 'subject', line: 'Subject: =?UTF-8?Q?=C3=A9?=' },
		]);

		expect([...headers.entries()]).toEqual([
			['received', ['first', 'second']],
			['__proto__', ['x']],
			['subject', ['é']],
		]);
	});
});

describe('charset helpers', () => {
	it('decodeBytes uses the declared charset and never throws', () => {
		expect(decodeBytes(Buffer.from([0xcf, 0xf0, 0xe8]), 'windows-1251')).toBe('При');
		expect(decodeBytes(Buffer.from([0xa4]), 'ISO-8859-15')).toBe('€');
		expect(decodeBytes(Buffer.from('é'), undefined)).toBe('é');
		expect(decodeBytes(Buffer.from([0xe9]), 'no-such-charset')).toBe('é');
		expect(decodeBytes(Buffer.from([0x93, 0x41, 0x94, 0x81]), 'no-such-charset')).toBe('“A”\u0081');
		expect(decodeBytes(Buffer.from([0x80, 0x9f]), 'latin1')).toBe('€Ÿ');
	});

	it('binaryStringToText reads valid UTF-8 and keeps anything else byte-per-char', () => {
		expect(binaryStringToText('plain')).toBe('plain');
		expect(binaryStringToText(Buffer.from('Köln', 'utf8').toString('latin1'))).toBe('Köln');
		expect(binaryStringToText('K\xf6ln')).toBe('K\xf6ln');
	});
});

describe('splitHeaderAndBody', () => {
	it.each([
		['CRLF', 'A: 1\r\nB: 2\r\n\r\nbody\r\n', 'A: 1\r\nB: 2\r\n', 'body\r\n'],
		['bare LF', 'A: 1\nB: 2\n\nbody\n', 'A: 1\nB: 2\n', 'body\n'],
		['empty body', 'A: 1\r\n\r\n', 'A: 1\r\n', ''],
		['no empty line', 'A: 1\r\nB: 2\r\n', 'A: 1\r\nB: 2\r\n', ''],
		['body with more empty lines', 'A: 1\r\n\r\nx\r\n\r\ny', 'A: 1\r\n', 'x\r\n\r\ny'],
		['no headers', '\r\nbody', '', 'body'],
	])('%s', (_case, message, header, body) => {
		const split = splitHeaderAndBody(Buffer.from(message));

		expect(split.header.toString()).toBe(header);
		expect(split.body.toString()).toBe(body);
	});
});
