/** The node's description: usable as a tool, both credentials, every operation routed, the trigger's parameter names. */
import type { INodeProperties } from 'n8n-workflow';

import { GmailImap } from '../../../../nodes/GmailImap/GmailImap.node';
import { OPERATIONS } from '../../../../nodes/GmailImap/actions';
import { triggerProperties } from '../../../../nodes/GmailImapTrigger/description';

const { description } = new GmailImap();

function operationOptions(resource: string): Array<{ value: string; action?: string }> {
	const property = description.properties.find((candidate) => candidate.name === 'operation' && candidate.displayOptions?.show?.resource?.[0] === resource);
	return (property?.options ?? []) as Array<{ value: string; action?: string }>;
}

describe('Gmail IMAP node description', () => {
	it('is the node gmailImap, usable as an AI tool, with both credential types', () => {
		expect(description).toMatchObject({ name: 'gmailImap', displayName: 'Gmail IMAP', usableAsTool: true, version: 1 });
		expect(description.credentials?.map((credential) => credential.name)).toEqual(['googleMailOAuth2Api', 'mailServerOAuth2Api']);
	});

	it.each(['folder', 'message'])('every %s operation in the list has a file in the router and an action text for tools', (resource) => {
		const listed = operationOptions(resource);
		expect(listed.map((option) => option.value).sort()).toEqual(Object.keys(OPERATIONS[resource as 'folder' | 'message']).sort());
		for (const option of listed) expect(option.action).toEqual(expect.any(String));
	});

	it('shows every operation parameter only for its own resource and operation', () => {
		const shared = new Set(['authentication', 'resource', 'operation']);
		for (const property of description.properties.filter((candidate) => !shared.has(candidate.name))) {
			expect(property.displayOptions?.show?.resource).toHaveLength(1);
			expect(property.displayOptions?.show?.operation?.length).toBeGreaterThan(0);
		}
	});

	it('keeps the trigger\'s parameter names, values and format choices', () => {
		const named = (name: string): INodeProperties[] => description.properties.filter((property) => property.name === name);
		const triggerFormat = triggerProperties.find((property) => property.name === 'format');
		const searchFormat = named('format').find((property) => property.displayOptions?.show?.operation?.includes('search'));
		expect((searchFormat?.options ?? []).map((option) => (option as { value: string }).value)).toEqual(['headers', ...(triggerFormat?.options ?? []).map((option) => (option as { value: string }).value)]);
		const filters = named('filters')[0];
		const filterNames = (filters.options ?? []).map((option) => (option as INodeProperties).name);
		expect(filterNames).toEqual(expect.arrayContaining(['customEmailConfig', 'gmailSearch']));
		for (const name of ['mailbox', 'downloadAttachments', 'dataPropertyAttachmentsPrefixName', 'returnAll', 'limit']) expect(named(name).length).toBeGreaterThan(0);
	});

	it('Create Draft offers the SMTP node\'s fields', () => {
		const forDraft = description.properties.filter((property) => property.displayOptions?.show?.operation?.includes('createDraft')).map((property) => property.name);
		expect(forDraft).toEqual(expect.arrayContaining(['fromEmail', 'toEmail', 'subject', 'emailFormat', 'text', 'html', 'options']));
		expect(forDraft).not.toContain('gmailPort');
	});
});
