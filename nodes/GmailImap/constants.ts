/** The node's type name as n8n knows it (package name + node name). */
export const NODE_TYPE = 'n8n-nodes-gmail-xoauth2.gmailImap';
