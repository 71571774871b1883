/**
 * Small secrets that a reused n8n user folder needs across starts (the encryption key, the public API key), kept in
 * files only their owner can read (mode 0600).
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** Writes `content` to `file` with mode 0600, replacing it atomically (a reader never sees half a file). */
export function writeSecretFile(file: string, content: string): void {
	fs.mkdirSync(path.dirname(file), { recursive: true });
	const temporary = `${file}.${process.pid}.tmp`;
	fs.writeFileSync(temporary, content, { mode: 0o600 });
	// writeFileSync's mode applies only to a new file; a leftover temporary file keeps its own.
	fs.chmodSync(temporary, 0o600);
	fs.renameSync(temporary, file);
}

/** The n8n encryption key stored in `file`; a new random one is created (and stored) when the file is missing. */
export function readOrCreateEncryptionKey(file: string): string {
	if (!fs.existsSync(file)) writeSecretFile(file, randomBytes(24).toString('hex'));
	return fs.readFileSync(file, 'utf8').trim();
}

/** A public API key as the harness keeps it: n8n's id for it (to delete it) and the raw key. */
export interface StoredApiKey {
	id: string;
	apiKey: string;
}

/** The API key stored in `file`, or undefined when there is none (missing or unreadable file). */
export function readStoredApiKey(file: string): StoredApiKey | undefined {
	try {
		const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<StoredApiKey>;
		if (typeof parsed.id === 'string' && typeof parsed.apiKey === 'string' && parsed.apiKey !== '') {
			return { id: parsed.id, apiKey: parsed.apiKey };
		}
	} catch {
		// missing or not ours: a new key is created
	}
	return undefined;
}

export function writeStoredApiKey(file: string, key: StoredApiKey): void {
	writeSecretFile(file, `${JSON.stringify(key)}\n`);
}
