/** What every operation file exports, and what the router hands it for one item. */
import type { IExecuteFunctions, INode, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { ImapActionSession } from '../../mail/imap/actions/session';

export interface OperationInput {
	context: IExecuteFunctions;
	node: INode;
	itemIndex: number;
	item: INodeExecutionData;
	/** The execution's one IMAP session (opened on first use). */
	session: ImapActionSession;
	/** The mailbox the credential opens (the XOAUTH2 user): the default sender of a draft. */
	accountEmail: string;
}

export interface Operation {
	/** The operation's own parameters, each shown only for it. */
	description: INodeProperties[];
	/** The output items of one input item (the router pairs them with it). */
	execute(input: OperationInput): Promise<INodeExecutionData[]>;
}
