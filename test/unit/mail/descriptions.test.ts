import { GmailPop } from '../../../nodes/GmailPop/GmailPop.node';
import { messageFormatProperties } from '../../../nodes/mail/descriptions';

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
