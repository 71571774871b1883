/**
 * The Message-ID field read from the start of a message's source stands in for the server's
 * BODY[HEADER.FIELDS (MESSAGE-ID)] (the trigger's fingerprint comes from it), so it must find exactly that field, in
 * the header only, and say when the header goes on past the bytes it was given.
 */
import { messageIdOf } from '../../../../nodes/mail/imap/watch/admission';
import { messageIdFieldIn } from '../../../../nodes/mail/message/messageIdField';

const idOf = (source: string, whole = true) => {
	const field = messageIdFieldIn(Buffer.from(source, 'latin1'), whole);
	return field === undefined ? 'header goes on' : messageIdOf({ headers: field });
};

describe('messageIdFieldIn', () => {
	it('finds the field wherever it is in the header, in any case, folded or padded', () => {
		expect(idOf('Message-ID: <a@x>\r\nSubject: s\r\n\r\nbody\r\n')).toBe('<a@x>');
		expect(idOf('Subject: s\r\nmessage-id:   <b@x>  \r\n\r\nbody\r\n')).toBe('<b@x>');
		expect(idOf('Subject: s\r\nMessage-Id:\r\n <c@x>\r\nTo: t\r\n\r\nbody\r\n')).toBe('<c@x>');
		expect(idOf('Subject: s\nMessage-ID: <lf@x>\n\nbody\n')).toBe('<lf@x>');
	});

	it('starts a line after LF only, as servers do: a lone CR does not start a field', () => {
		expect(idOf('Subject: hi\rMessage-ID: <spoof@x>\r\nMessage-ID: <real@x>\r\n\r\nbody')).toBe('<real@x>');
		expect(idOf('Subject: hi\rMessage-ID: <spoof@x>\r\n\r\nbody')).toBeUndefined();
		expect(idOf('From: a@x\r\n\rMessage-ID: <lonecr@x>\r\n\r\nbody')).toBeUndefined();
		expect(idOf('Message-ID : <space-before-colon@x>\r\n\r\n')).toBe('<space-before-colon@x>');
	});

	it('takes the first of two fields, as the server\'s answer lists them in order', () => {
		expect(idOf('Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n')).toBe('<first@x>');
	});

	it('never takes a field of the body, a continuation line or a longer field name', () => {
		expect(idOf('Subject: s\r\n\r\nMessage-ID: <in-body@x>\r\n')).toBeUndefined();
		expect(idOf('Subject: s\r\n message-id: <folded@x>\r\n\r\nbody')).toBeUndefined();
		expect(idOf('X-Message-ID: <x@x>\r\nIn-Reply-To: <r@x>\r\n\r\nbody')).toBeUndefined();
		expect(idOf('\r\nMessage-ID: <after-empty-header@x>\r\n')).toBeUndefined();
	});

	it('gives an empty field (no Message-ID) for a header without one, also for a message that is only a header', () => {
		expect(messageIdFieldIn(Buffer.from('Subject: s\r\n\r\nbody'), false)).toEqual(Buffer.alloc(0));
		expect(idOf('Subject: s\r\nMessage-ID: <only-header@x>\r\n')).toBe('<only-header@x>');
	});

	it('says the header goes on when it does not end within a prefix of a longer message', () => {
		expect(idOf('Subject: s\r\nX-Long: aaaa', false)).toBe('header goes on');
		expect(idOf('Message-ID: <early@x>\r\nX-Long: aaaa', false)).toBe('header goes on');
		expect(idOf('Subject: s\r\n\r\nbody', false)).toBeUndefined();
	});

	it('keeps 8-bit bytes of the field as they are', () => {
		const field = messageIdFieldIn(Buffer.from('Message-ID: <caf\xe9@x>\r\n\r\n', 'latin1'), true);
		expect(field).toEqual(Buffer.from('Message-ID: <caf\xe9@x>\r\n', 'latin1'));
	});
});
