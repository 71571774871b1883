/**
 * Runs checkImapLogin in its own Node process, so the process's trust store can hold the stack's CA through
 * NODE_EXTRA_CA_CERTS, the way a self-hosted n8n is told to trust a private CA. The credential code takes no CA
 * option (and must not: it verifies against the system store unless the user allows unauthorized certificates).
 *
 * stdin: JSON array of { credentialType, data }; stdout: JSON array of INodeCredentialTestResult, same order.
 * Started by credentialCheck.test.ts; never prints its input (it holds access tokens).
 */
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

import { checkImapLogin } from '../../../nodes/mail/auth/credentialTest';
import { describeErrorSafely } from '../../../nodes/mail/auth/redact';

interface CheckRequest {
	credentialType: string;
	data: ICredentialDataDecryptedObject;
}

async function readStdin(): Promise<string> {
	const chunks: Buffer[] = [];
	for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
	const requests = JSON.parse(await readStdin()) as CheckRequest[];
	const results = [];
	for (const request of requests) results.push(await checkImapLogin(request.credentialType, request.data, { timeoutMs: 10_000 }));
	process.stdout.write(JSON.stringify(results));
}

main().catch((error: unknown) => {
	// Redacted: a parse error could echo part of the input.
	process.stderr.write(`credential check process failed: ${describeErrorSafely(error)}\n`);
	process.exitCode = 1;
});
