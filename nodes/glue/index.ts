/** The n8n glue shared by the nodes: everything between n8n's node contexts and the n8n-free mail core (nodes/mail). */
export { attributionLinkOf, readComposeInput } from './composeInput';
export {
	type ItemSettings,
	MAX_ATTACHMENT_SIZE_RANGE,
	MAX_MESSAGE_SIZE_RANGE,
	MEGABYTE,
	type ParameterReader,
	readItemSettings,
} from './itemSettings';
export { type MailAccount, type MailNodeContext, openMailAccount, type OpenMailAccountOptions, readSharedMailbox } from './mailAccount';
export { type FailureText, isLastingFailure, type NodeErrorOptions, toNodeError } from './nodeErrors';
export { mailAccountKey } from '../mail/connection';
export { imapTriggerNodes, inQueueMode, recordingPopNodes, refuseSharedStaticData } from './queueMode';
