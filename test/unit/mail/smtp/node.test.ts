/**
 * The node's description: what n8n and migrating workflows rely on (type name, tool use, credentials, the
 * parameter names and defaults shared with n8n's Send Email v2.1), and the Gmail port choice.
 */
import type { INodeProperties } from 'n8n-workflow';

import { GmailSmtp } from '../../../../nodes/GmailSmtp/GmailSmtp.node';
import { smtpOverrides } from '../../../../nodes/GmailSmtp/execute';
import { resolveMailConnection } from '../../../../nodes/mail/connection';
import { ParameterRangeError } from '../../../../nodes/mail/parameters';
import { MAX_REPLY_RECIPIENTS } from '../../../../nodes/mail/smtp/reply';

const node = new GmailSmtp();
const properties = node.description.properties;

function property(name: string): INodeProperties {
	const found = properties.find((entry) => entry.name === name);
	if (!found) throw new Error(`no parameter ${name}`);
	return found;
}

function option(name: string): INodeProperties {
	const found = (property('options').options as INodeProperties[]).find((entry) => entry.name === name);
	if (!found) throw new Error(`no option ${name}`);
	return found;
}

describe('Gmail SMTP node description', () => {
	it('is the action node gmailSmtp, usable as an AI tool, with either credential', () => {
		expect(node.description).toMatchObject({ name: 'gmailSmtp', displayName: 'Gmail SMTP', usableAsTool: true, inputs: ['main'], outputs: ['main'] });
		expect(node.description.credentials).toEqual([
			expect.objectContaining({ name: 'googleMailOAuth2Api', required: true }),
			expect.objectContaining({ name: 'mailServerOAuth2Api', required: true }),
		]);
	});

	it('keeps n8n Send Email v2.1’s parameter names, values and defaults', () => {
		for (const name of ['fromEmail', 'toEmail', 'subject', 'text', 'html']) expect(property(name)).toMatchObject({ type: 'string', default: '' });
		expect(property('emailFormat').default).toBe('html');
		expect((property('emailFormat').options ?? []).map((entry) => (entry as { value: string }).value)).toEqual(['text', 'html', 'both']);
		expect(property('text').displayOptions).toEqual({ show: { emailFormat: ['text', 'both'] } });
		expect(property('html').displayOptions).toEqual({ show: { emailFormat: ['html', 'both'] } });
		for (const name of ['ccEmail', 'bccEmail', 'replyTo', 'attachments', 'fileAttachments']) expect(option(name)).toMatchObject({ type: 'string', default: '' });
		expect(option('appendAttribution')).toMatchObject({ type: 'boolean', default: true });
	});

	it('offers threading, reply mode, Message-ID, priority, sender name and custom headers', () => {
		for (const name of ['inReplyTo', 'references', 'messageId', 'senderName']) expect(option(name).type).toBe('string');
		expect(option('replyToInputEmail')).toMatchObject({ type: 'boolean', default: false });
		expect(option('priority')).toMatchObject({ type: 'options', default: 'normal' });
		expect(option('customHeaders').type).toBe('fixedCollection');
	});

	it('replies to one address unless "Reply to All Reply-To Addresses" is on, bounded by "Max Reply Recipients" (1–20, default 10)', () => {
		expect(option('replyToAllAddresses')).toMatchObject({ displayName: 'Reply to All Reply-To Addresses', type: 'boolean', default: false });
		expect(option('maxReplyRecipients')).toMatchObject({
			displayName: 'Max Reply Recipients',
			type: 'number',
			default: 10,
			typeOptions: { minValue: 1, maxValue: 20, numberPrecision: 0 },
		});
		// The description's bounds and the ones the node enforces are the same numbers.
		expect(MAX_REPLY_RECIPIENTS).toMatchObject({ label: 'Max Reply Recipients', min: 1, max: 20, fallback: 10, integer: true });
	});

	it('gives every number parameter bounds in its description', () => {
		const numbers = [...properties, ...(property('options').options as INodeProperties[])].filter((entry) => entry.type === 'number');
		expect(numbers.map((entry) => entry.name)).toEqual(['maxReplyRecipients']);
		for (const entry of numbers) {
			expect(typeof entry.typeOptions?.minValue).toBe('number');
			expect(typeof entry.typeOptions?.maxValue).toBe('number');
		}
	});
});

describe('Gmail connection choice', () => {
	const google = { email: 'me@gmail.com' };

	it('is implicit TLS on 465 by default and STARTTLS (required) on 587', () => {
		expect(resolveMailConnection('googleMailOAuth2Api', google, ['smtp'], smtpOverrides('googleMailOAuth2Api', undefined)).smtp).toMatchObject({
			host: 'smtp.gmail.com',
			port: 465,
			security: 'tls',
			secure: true,
			requireTLS: false,
		});
		expect(resolveMailConnection('googleMailOAuth2Api', google, ['smtp'], smtpOverrides('googleMailOAuth2Api', 587)).smtp).toMatchObject({
			host: 'smtp.gmail.com',
			port: 587,
			security: 'starttls',
			secure: false,
			requireTLS: true,
		});
	});

	it('refuses a Gmail port other than 465 or 587 (an expression can put anything into the field)', () => {
		expect(smtpOverrides('googleMailOAuth2Api', '587')).toEqual({ smtp: { port: 587 } });
		expect(smtpOverrides('googleMailOAuth2Api', '')).toEqual({ smtp: { port: 465 } });
		for (const port of [25, 0, 'abc', 465.5, 2525]) {
			expect(() => smtpOverrides('googleMailOAuth2Api', port)).toThrow(ParameterRangeError);
			expect(() => smtpOverrides('googleMailOAuth2Api', port)).toThrow(`"Gmail Connection" must be port 465 or 587, not "${port}"`);
		}
	});

	it('leaves the generic credential’s own SMTP settings alone', () => {
		expect(smtpOverrides('mailServerOAuth2Api', 587)).toEqual({});
		const data = { email: 'me@example.com', smtpHost: 'smtp.example.com', smtpPort: 2525, smtpSecurity: 'starttls' };
		expect(resolveMailConnection('mailServerOAuth2Api', data, ['smtp'], smtpOverrides('mailServerOAuth2Api', 465)).smtp).toMatchObject({
			host: 'smtp.example.com',
			port: 2525,
			security: 'starttls',
		});
	});
});
