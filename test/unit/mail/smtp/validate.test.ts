/**
 * Values bound for headers and the envelope: addresses in every shape a workflow holds them, refused injection
 * attempts, message IDs.
 */
import {
	MessageInputError,
	assertSingleLine,
	normaliseMessageId,
	parseAddressList,
	parseMessageIdList,
	readHeaderText,
	sanitizeDisplayName,
	toMailText,
} from '../../../../nodes/mail/smtp/validate';

function failure(run: () => unknown): MessageInputError {
	try {
		run();
	} catch (error) {
		if (error instanceof MessageInputError) return error;
		throw error;
	}
	throw new Error('expected a MessageInputError');
}

describe('parseAddressList', () => {
	it.each([
		['a@example.com', [{ name: '', address: 'a@example.com' }]],
		['Nathan Doe <nate@example.com>', [{ name: 'Nathan Doe', address: 'nate@example.com' }]],
		['a@example.com, "Doe, Jane" <jane@example.com>', [{ name: '', address: 'a@example.com' }, { name: 'Doe, Jane', address: 'jane@example.com' }]],
		['a@example.com; b@example.org', [{ name: '', address: 'a@example.com' }, { name: '', address: 'b@example.org' }]],
		['first+tag@sub.example.co.uk', [{ name: '', address: 'first+tag@sub.example.co.uk' }]],
		['Jürgen <jürgen@bücher.example>', [{ name: 'Jürgen', address: 'jürgen@bücher.example' }]],
		['postmaster@[192.0.2.1]', [{ name: '', address: 'postmaster@[192.0.2.1]' }]],
		['Team: a@example.com, b@example.com;', [{ name: '', address: 'a@example.com' }, { name: '', address: 'b@example.com' }]],
		// A name written before a bare address without brackets is read as the name (nodemailer's parser).
		['John Smith john@example.com', [{ name: 'John Smith', address: 'john@example.com' }]],
		['  ', []],
	])('reads %j', (text, expected) => {
		expect(parseAddressList('To Email', text)).toEqual(expected);
	});

	it('reads arrays, {address, name} entries and mailparser address objects (an email trigger’s "from")', () => {
		const mailparserFrom = { value: [{ address: 'alice@example.com', name: 'Alice Müller' }], text: 'Alice Müller <alice@example.com>' };
		expect(parseAddressList('To Email', ['a@example.com', { address: 'b@example.com', name: 'Bee' }, mailparserFrom])).toEqual([
			{ name: '', address: 'a@example.com' },
			{ name: 'Bee', address: 'b@example.com' },
			{ name: 'Alice Müller', address: 'alice@example.com' },
		]);
		expect(parseAddressList('To Email', undefined)).toEqual([]);
		expect(parseAddressList('To Email', null)).toEqual([]);
	});

	it.each([
		['plainname', /"plainname", which is not an email address/],
		['a@', /invalid address "a@": it has no domain/],
		['@example.com', /"@example.com": it has nothing before the @/],
		['a@localhost', /invalid domain "localhost"/],
		['a@exa_mple.com', /invalid domain/],
		['a..b@example.com', /characters that are not allowed/],
		['a@example.com b@example.com', /"b@example.com" next to <a@example.com> without a comma/],
	])('refuses %j, naming the field and the entry', (text, message) => {
		const error = failure(() => parseAddressList('To Email', text));
		expect(error.field).toBe('To Email');
		expect(error.message).toMatch(/^To Email /);
		expect(error.message).toMatch(message);
	});

	it('refuses a line break instead of letting it add a recipient (header injection)', () => {
		// Without the check, nodemailer's parser reads this as ONE recipient: x@evil.example.
		const error = failure(() => parseAddressList('To Email', 'a@example.com\r\nBcc: x@evil.example'));
		expect(error.message).toMatch(/line break/);
		expect(error.message).toMatch(/header injection/);
		expect(failure(() => parseAddressList('CC Email', { address: 'a@example.com\n', name: 'x' })).message).toMatch(/line break/);
		expect(failure(() => parseAddressList('CC Email', { address: 'a@example.com', name: 'Eve\rBcc: x@y.example' })).message).toMatch(/line break/);
	});

	it('refuses values that are not addresses at all', () => {
		expect(failure(() => parseAddressList('To Email', 42)).message).toMatch(/got a number/);
		expect(failure(() => parseAddressList('To Email', { foo: 1 })).message).toMatch(/object without an "address" field/);
	});
});

describe('single-line header text', () => {
	it.each(['\r', '\n', '\r\n', 'a\nb'])('refuses %j as a line break', (value) => {
		expect(() => assertSingleLine('Subject', `Hello${value}X-Injected: yes`)).toThrow(/Subject contains a line break/);
	});

	it('refuses other control characters but keeps tabs and any Unicode', () => {
		expect(() => assertSingleLine('Subject', 'a\x00b')).toThrow(/U\+0000/);
		expect(() => assertSingleLine('Subject', 'a\x1bb')).toThrow(/U\+001B/);
		expect(() => assertSingleLine('Subject', 'tab\there — ünïcödé 😀')).not.toThrow();
	});

	it('turns values into text like n8n’s Send Email (numbers, booleans, JSON) and trims them', () => {
		expect(toMailText(12)).toBe('12');
		expect(toMailText(false)).toBe('false');
		expect(toMailText({ a: 1 })).toBe('{"a":1}');
		expect(toMailText(undefined)).toBe('');
		expect(readHeaderText('Subject', '  Hi  ')).toBe('Hi');
	});
});

describe('message IDs', () => {
	it('adds missing angle brackets and refuses what is not a message ID', () => {
		expect(normaliseMessageId('Message-ID', 'abc@example.com')).toBe('<abc@example.com>');
		expect(normaliseMessageId('Message-ID', ' <abc@example.com> ')).toBe('<abc@example.com>');
		expect(() => normaliseMessageId('Message-ID', 'no-at-sign')).toThrow(/Message-ID must be a message ID like <id@example.com>/);
		expect(() => normaliseMessageId('Message-ID', '<a b@example.com>')).toThrow(/must be a message ID/);
		expect(() => normaliseMessageId('In-Reply-To', '<a@example.com>\r\nBcc: x@y.z')).toThrow(/line break/);
	});

	it('reads References lists separated by spaces, commas or nothing, keeping order and dropping repeats', () => {
		expect(parseMessageIdList('References', '<a@x.example> <b@x.example>,<c@x.example><a@x.example> d@x.example')).toEqual([
			'<a@x.example>',
			'<b@x.example>',
			'<c@x.example>',
			'<d@x.example>',
		]);
		expect(parseMessageIdList('References', ['<a@x.example>', 'b@x.example'])).toEqual(['<a@x.example>', '<b@x.example>']);
		expect(parseMessageIdList('References', '')).toEqual([]);
		expect(() => parseMessageIdList('References', '<a@x.example> nonsense')).toThrow(/References must be a message ID/);
	});
});

describe('sanitizeDisplayName (names the user did not type)', () => {
	it.each([
		['Eve\r\nBcc: victim@x.example', 'Eve Bcc: victim@x.example'],
		['Eve\rBcc: a@x.example\nTo: b@x.example', 'Eve Bcc: a@x.example To: b@x.example'],
		['A\u0000B\u0007C\u001bD\u007fE', 'A B C D E'],
		['Line\u0085next\u2028sep\u2029para', 'Line next sep para'],
		['\u202eevil.exe\u202c \u2066x\u2069', 'evil.exe x'],
		['  tab\tand   spaces  ', 'tab and spaces'],
		['Jürgen Müller — 山田', 'Jürgen Müller — 山田'],
		['"Doe, Jane"', '"Doe, Jane"'],
		[undefined, ''],
		[42, '42'],
	])('%j → %j', (name, expected) => {
		const result = sanitizeDisplayName(name);
		expect(result).toBe(expected);
		expect(result).not.toMatch(/[\r\n]/);
	});
});
