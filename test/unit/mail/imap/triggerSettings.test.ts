import type { IDataObject, ITriggerFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { readTriggerSettings } from '../../../../nodes/GmailImapTrigger/config';
import { GmailImapTrigger } from '../../../../nodes/GmailImapTrigger/GmailImapTrigger.node';
import { authenticationProperty, mailCredentials, messageFormatProperties } from '../../../../nodes/mail/descriptions';
import { TEST_NODE } from './watcherHarness';

function context(parameters: IDataObject, typeVersion = 1): ITriggerFunctions {
	return {
		getNode: () => ({ ...TEST_NODE, typeVersion }),
		getNodeParameter: (name: string, fallback?: unknown) => (parameters[name] === undefined ? fallback : parameters[name]),
	} as unknown as ITriggerFunctions;
}

describe('Gmail IMAP Trigger parameters', () => {
	it('reads n8n Email Trigger parameters with their defaults', () => {
		const settings = readTriggerSettings(context({ mailbox: 'INBOX' }), false);
		expect(settings.credentialType).toBe('googleMailOAuth2Api');
		expect(settings.watcher).toMatchObject({
			folders: ['INBOX'],
			start: { mode: 'new' },
			filter: undefined,
			output: { mode: 'perMessage' },
			pollIntervalMs: 60_000,
			postActions: { markRead: true, addLabels: [], removeLabels: [], moveTo: undefined, delete: false },
		});
		expect(settings.items).toEqual({ format: 'simple', downloadAttachments: false, attachmentPrefix: 'attachment_', maxAttachmentBytes: undefined });
	});

	it('defaults Output to Automatic from node version 2; version 1 (existing workflows) keeps one run per message', () => {
		expect(readTriggerSettings(context({ mailbox: 'INBOX' }, 2), false).watcher.output).toEqual({ mode: 'adaptive', size: 50 });
		expect(readTriggerSettings(context({ mailbox: 'INBOX' }, 1), false).watcher.output).toEqual({ mode: 'perMessage' });
		expect(readTriggerSettings(context({ mailbox: 'INBOX', options: { outputMode: 'perMessage' } }, 2), false).watcher.output).toEqual({ mode: 'perMessage' });
		expect(readTriggerSettings(context({ mailbox: 'INBOX', options: { outputMode: 'adaptive', batchSize: 20 } }, 1), false).watcher.output).toEqual({ mode: 'adaptive', size: 20 });
		// Test step: always one message.
		expect(readTriggerSettings(context({ mailbox: 'INBOX' }, 2), true).watcher.output).toEqual({ mode: 'perMessage' });
		const description = new GmailImapTrigger().description;
		expect(description.version).toEqual([1, 2]);
		expect(description.defaultVersion).toBe(2);
	});

	it('combines custom rules and the Gmail search, extra folders, post-actions, batching and the start position', () => {
		const settings = readTriggerSettings(
			context({
				authentication: 'mailServerOAuth2Api',
				mailbox: 'INBOX',
				postProcessAction: 'nothing',
				format: 'resolved',
				dataPropertyAttachmentsPrefixName: 'file_',
				options: {
					additionalFolders: ['Support', ' ', 'Sales'],
					customEmailConfig: '["UNSEEN", ["FROM", "billing@example.com"]]',
					gmailSearch: 'has:attachment',
					addLabels: 'Done, Invoices/2024',
					removeLabels: '\\Inbox',
					moveToFolder: ' Archive ',
					outputMode: 'batch',
					batchSize: 25,
					startFrom: 'since',
					since: '2024-03-01T00:00:00Z',
					maxAttachmentSizeMb: 2,
					pollIntervalSeconds: 30,
				},
			}),
			false,
		);
		expect(settings.watcher).toMatchObject({
			folders: ['INBOX', 'Support', 'Sales'],
			filter: { seen: false, from: 'billing@example.com', gmraw: 'has:attachment' },
			output: { mode: 'batch', size: 25 },
			start: { mode: 'since', since: Date.parse('2024-03-01T00:00:00Z') },
			pollIntervalMs: 30_000,
			postActions: { markRead: false, addLabels: ['Done', 'Invoices/2024'], removeLabels: ['\\Inbox'], moveTo: 'Archive', delete: false },
		});
		expect(settings.items).toEqual({ format: 'resolved', downloadAttachments: true, attachmentPrefix: 'file_', maxAttachmentBytes: 2 * 1024 * 1024 });
	});

	it('makes "Test step" read-only: no post-actions, one message, the newest match first', () => {
		const settings = readTriggerSettings(context({ mailbox: 'INBOX', postProcessAction: 'read', options: { outputMode: 'batch' } }), true);
		expect(settings.watcher.postActions).toBeUndefined();
		expect(settings.watcher).toMatchObject({ maxEmits: 1, startAtNewestMatch: true, output: { mode: 'perMessage' } });
	});

	it('reports bad parameters as NodeOperationErrors naming the option', () => {
		expect(() => readTriggerSettings(context({ mailbox: 'INBOX', options: { customEmailConfig: 'UNSEEN' } }), false)).toThrow(NodeOperationError);
		expect(() => readTriggerSettings(context({ mailbox: ' ' }), false)).toThrow(/mailbox/);
		expect(() => readTriggerSettings(context({ mailbox: 'INBOX', options: { startFrom: 'since', since: '' } }), false)).toThrow(/Since/);
	});
});

describe('Gmail IMAP Trigger description', () => {
	const { description } = new GmailImapTrigger();

	it('keeps n8n Email Trigger (IMAP) v2.2 parameter names and values', () => {
		const names = description.properties.map((property) => property.name);
		for (const name of ['mailbox', 'postProcessAction', 'format', 'downloadAttachments', 'dataPropertyAttachmentsPrefixName', 'options']) {
			expect(names).toContain(name);
		}
		const options = description.properties.find((property) => property.name === 'options')?.options as unknown as IDataObject[];
		expect(options.find((option) => option.name === 'customEmailConfig')).toMatchObject({ default: '["UNSEEN"]' });
		expect(description.properties.find((property) => property.name === 'postProcessAction')?.default).toBe('read');
	});

	it('uses the shared Authentication choice, credentials and message format properties (same as POP and SMTP)', () => {
		expect(description.properties[0]).toEqual(authenticationProperty());
		expect(description.credentials).toEqual(mailCredentials());
		const formatProperties = description.properties.filter((property) =>
			['format', 'downloadAttachments', 'dataPropertyAttachmentsPrefixName'].includes(property.name),
		);
		expect(formatProperties).toEqual(messageFormatProperties());
	});

	it('is a trigger with both credentials', () => {
		expect(description).toMatchObject({ name: 'gmailImapTrigger', group: ['trigger'], inputs: [] });
		expect(description.credentials?.map((credential) => credential.name)).toEqual(['googleMailOAuth2Api', 'mailServerOAuth2Api']);
		expect(description.usableAsTool).toBeUndefined();
	});

	it('reads Max Message Size (default 50 MB) and refuses numbers outside their ranges, naming the option', () => {
		expect(readTriggerSettings(context({ mailbox: 'INBOX' }), false).watcher.maxMessageBytes).toBe(50 * 1024 * 1024);
		expect(readTriggerSettings(context({ mailbox: 'INBOX', options: { maxMessageSizeMb: 2 } }), false).watcher.maxMessageBytes).toBe(
			2 * 1024 * 1024,
		);
		const refused: Array<[Record<string, unknown>, string]> = [
			[{ maxMessageSizeMb: 0 }, '"Max Message Size (MB)" must be from 1 to 1024; 0 is outside that range'],
			[{ maxMessageSizeMb: 5000 }, '"Max Message Size (MB)" must be from 1 to 1024; 5000 is outside that range'],
			[{ maxAttachmentSizeMb: -1 }, '"Max Attachment Size (MB)" must be from 0 to 1024; -1 is outside that range'],
			[{ outputMode: 'batch', batchSize: 'ten' }, '"Batch Size" must be a whole number from 1 to 1000, not "ten"'],
			[{ outputMode: 'batch', batchSize: 2.5 }, '"Batch Size" must be a whole number from 1 to 1000, not "2.5"'],
			[{ outputMode: 'batch', batchSize: 5000 }, '"Batch Size" must be from 1 to 1000; 5000 is outside that range'],
			[{ pollIntervalSeconds: 1 }, '"Poll Interval (Seconds)" must be from 5 to 86400; 1 is outside that range'],
		];
		for (const [options, message] of refused) {
			const attempt = () => readTriggerSettings(context({ mailbox: 'INBOX', options }), false);
			expect(attempt).toThrow(NodeOperationError);
			expect(attempt).toThrow(message);
		}
	});
});
