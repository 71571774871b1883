/**
 * Where the end-to-end harness keeps things. Everything it creates lives under `.cache/` (git ignores it), so a fresh
 * clone starts clean and a developer can delete the folder to force a fresh install.
 */
import * as path from 'path';

/** The repository root (this file is test/e2e/harness/paths.ts). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** The committed install manifest: package.json + package-lock.json pinning n8n and Node.js 24. */
export const installManifestDir = path.join(repoRoot, 'test', 'e2e', 'n8n-install');

/** Root of everything the e2e harness caches or creates per run. */
export const e2eCacheRoot = path.join(repoRoot, '.cache', 'e2e');

/**
 * Where the pinned n8n installs go (~3 GB each). Default inside the clone; E2E_N8N_INSTALL_DIR moves it elsewhere so
 * several clones (or CI runs in fresh clones on the same machine) share one install instead of each paying for it.
 */
export const n8nInstallRoot = process.env.E2E_N8N_INSTALL_DIR
	? path.resolve(process.env.E2E_N8N_INSTALL_DIR)
	: e2eCacheRoot;

/** Per-run user folders, logs and packed tarballs; each run makes its own subfolder. */
export const e2eRunsRoot = path.join(e2eCacheRoot, 'runs');

/** The package name n8n will see; node and credential types are prefixed with it. */
export const packageName = 'n8n-nodes-gmail-xoauth2';
