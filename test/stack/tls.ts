/**
 * The stack's self-signed certificate, made with openssl. Clients trust it by being handed its PEM as their CA:
 * nothing in the project ever turns certificate verification off to reach the stack.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CertificateFiles {
	certFile: string;
	keyFile: string;
}

/** Creates `cert.pem` / `key.pem` in `dir` unless both exist (a restarted stack keeps its certificate). */
export function ensureCertificate(dir: string): CertificateFiles {
	const certFile = path.join(dir, 'cert.pem');
	const keyFile = path.join(dir, 'key.pem');
	if (fs.existsSync(certFile) && fs.existsSync(keyFile)) return { certFile, keyFile };
	fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
	// P-256 keys are generated in milliseconds (RSA takes noticeably longer); the SAN names both ways of reaching it.
	const result = spawnSync(
		'openssl',
		[
			'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
			'-keyout', keyFile, '-out', certFile, '-days', '3650', '-subj', '/CN=localhost',
			'-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
		],
		{ encoding: 'utf8' },
	);
	if (result.status !== 0) {
		throw new Error(`openssl could not create the stack certificate: ${result.stderr || result.error?.message || 'unknown error'}`);
	}
	fs.chmodSync(keyFile, 0o600);
	fs.chmodSync(certFile, 0o644);
	return { certFile, keyFile };
}
