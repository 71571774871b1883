/** Which message an item names: the UID parameter, or the input item's attributes (the trigger's), with its UIDVALIDITY. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { readMessageTarget } from '../../../../nodes/GmailImap/actions/common';
import type { OperationInput } from '../../../../nodes/GmailImap/actions/types';

function input(parameters: Record<string, unknown>, item: INodeExecutionData): OperationInput {
	const context = {
		getNodeParameter: (name: string, _index: number, fallback: unknown) => (name in parameters ? parameters[name] : fallback),
	} as unknown as IExecuteFunctions;
	return { context, item, itemIndex: 0 } as unknown as OperationInput;
}

const triggerItem = { json: { subject: 'x', attributes: { uid: 42, mailbox: 'Support', uidValidity: '777', flags: [] } } };

describe('readMessageTarget', () => {
	it('takes UID, folder and UIDVALIDITY from a trigger item when UID and Folder are empty', () => {
		expect(readMessageTarget(input({}, triggerItem))).toEqual({ folder: 'Support', uid: 42, uidValidity: '777', source: 'item' });
	});

	it('keeps the item\'s UIDVALIDITY for a UID parameter that is the item\'s own (an expression over attributes.uid)', () => {
		expect(readMessageTarget(input({ uid: '42' }, triggerItem))).toEqual({ folder: 'Support', uid: 42, uidValidity: '777', source: 'parameter' });
		expect(readMessageTarget(input({ uid: '42', mailbox: 'INBOX' }, triggerItem))).toEqual({ folder: 'INBOX', uid: 42, uidValidity: undefined, source: 'parameter' });
		expect(readMessageTarget(input({ uid: '43' }, triggerItem))).toEqual({ folder: 'Support', uid: 43, uidValidity: undefined, source: 'parameter' });
	});

	it('uses INBOX for a typed UID without folder or item', () => {
		expect(readMessageTarget(input({ uid: ' 7 ' }, { json: {} }))).toEqual({ folder: 'INBOX', uid: 7, uidValidity: undefined, source: 'parameter' });
	});

	it('refuses what cannot name one message, saying what to do', () => {
		expect(() => readMessageTarget(input({}, { json: {} }))).toThrow('Enter the UID of the message, or give the node an item with attributes.uid');
		expect(() => readMessageTarget(input({ mailbox: 'INBOX' }, triggerItem))).toThrow('The input item’s message is in "Support", not in "INBOX"');
		expect(() => readMessageTarget(input({ uid: '4.5' }, triggerItem))).toThrow('"UID" must be a positive whole number, got "4.5"');
		expect(() => readMessageTarget(input({ uid: '0' }, triggerItem))).toThrow('"UID" must be a positive whole number');
		expect(() => readMessageTarget(input({ identifyBy: 'messageId' }, triggerItem))).toThrow('Enter the Message-ID');
	});

	it('by Message-ID: in the folder given, else the item\'s, else INBOX', () => {
		expect(readMessageTarget(input({ identifyBy: 'messageId', messageId: '<a@b>' }, triggerItem))).toEqual({ folder: 'Support', messageId: '<a@b>' });
		expect(readMessageTarget(input({ identifyBy: 'messageId', messageId: '<a@b>' }, { json: {} }))).toEqual({ folder: 'INBOX', messageId: '<a@b>' });
	});
});
