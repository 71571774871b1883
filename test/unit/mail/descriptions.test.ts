import { GmailPop } from '../../../nodes/GmailPop/GmailPop.node';
import { GmailSmtp } from '../../../nodes/GmailSmtp/GmailSmtp.node';
import { authenticationProperty, mailCredentials, messageFormatProperties } from '../../../nodes/mail/descriptions';

describe('authenticationProperty and mailCredentials', () => {
	it('offer both credential types, Google first and default, each credential shown only when chosen', () => {
		expect(authenticationProperty()).toEqual({
			displayName: 'Authentication',
			name: 'authentication',
			type: 'options',
			options: [
				{ name: 'Google Mail OAuth2', value: 'googleMailOAuth2Api' },
				{ name: 'Other Mail Server (XOAUTH2)', value: 'mailServerOAuth2Api' },
			],
			default: 'googleMailOAuth2Api',
		});
		expect(mailCredentials()).toEqual([
			{ name: 'googleMailOAuth2Api', required: true, displayOptions: { show: { authentication: ['googleMailOAuth2Api'] } } },
			{ name: 'mailServerOAuth2Api', required: true, displayOptions: { show: { authentication: ['mailServerOAuth2Api'] } } },
		]);
	});

	it('are what the POP and SMTP nodes start with', () => {
		for (const { description } of [new GmailPop(), new GmailSmtp()]) {
			expect(description.properties[0]).toEqual(authenticationProperty());
			expect(description.credentials).toEqual(mailCredentials());
		}
	});
});

describe('messageFormatProperties', () => {
	it("keeps n8n Email Trigger (IMAP) v2.2's names, values, defaults and display conditions", () => {
		const properties = messageFormatProperties();
		expect(properties.map(({ name, type, default: value, displayOptions }) => ({ name, type, value, displayOptions }))).toEqual([
			{ name: 'format', type: 'options', value: 'simple', displayOptions: undefined },
			{ name: 'downloadAttachments', type: 'boolean', value: false, displayOptions: { show: { format: ['simple'] } } },
			{ name: 'dataPropertyAttachmentsPrefixName', type: 'string', value: 'attachment_', displayOptions: { show: { format: ['resolved'] } } },
			{
				name: 'dataPropertyAttachmentsPrefixName',
				type: 'string',
				value: 'attachment_',
				displayOptions: { show: { format: ['simple'], downloadAttachments: [true] } },
			},
		]);
		expect(Object.keys(properties[0])).not.toContain('displayOptions');
		expect(properties[0].options?.map((option) => ('value' in option ? option.value : undefined))).toEqual(['raw', 'resolved', 'simple']);
	});

	it("adds a node's own conditions to every property, format included", () => {
		const properties = messageFormatProperties({ operation: ['getAll', 'get'] });
		expect(properties.map((property) => property.displayOptions?.show)).toEqual([
			{ operation: ['getAll', 'get'] },
			{ operation: ['getAll', 'get'], format: ['simple'] },
			{ operation: ['getAll', 'get'], format: ['resolved'] },
			{ operation: ['getAll', 'get'], format: ['simple'], downloadAttachments: [true] },
		]);
	});

	it('is what the Gmail POP node shows for its message operations', () => {
		const { properties } = new GmailPop().description;
		const formatProperties = properties.filter((property) =>
			['format', 'downloadAttachments', 'dataPropertyAttachmentsPrefixName'].includes(property.name),
		);
		expect(formatProperties).toEqual(messageFormatProperties({ operation: ['getAll', 'get'] }));
	});
});
