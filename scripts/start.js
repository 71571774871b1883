#!/usr/bin/env node
/**
 * `npm start` on a fresh clone: installs the project's dependencies when they are missing or older than the lockfile
 * (`npm ci`; plain JavaScript because TypeScript tooling is itself a dependency), then runs scripts/start.ts in this
 * same Node process tree. That script owns every server it starts and stops them on Ctrl-C; this wrapper only waits
 * for it, so a Ctrl-C reaches the script once and the wrapper exits with the script's own exit code.
 */
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..');
const lockFile = path.join(repoRoot, 'package-lock.json');
const installedLock = path.join(repoRoot, 'node_modules', '.package-lock.json');

function dependenciesCurrent() {
	if (!fs.existsSync(installedLock) || !fs.existsSync(path.join(repoRoot, 'node_modules', 'tsx', 'package.json'))) return false;
	// npm rewrites node_modules/.package-lock.json on every install; a lockfile changed since (git pull) is newer.
	return fs.statSync(installedLock).mtimeMs >= fs.statSync(lockFile).mtimeMs;
}

if (!dependenciesCurrent()) {
	process.stdout.write('[start] installing dependencies: npm ci\n');
	const install = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: repoRoot, stdio: 'inherit' });
	if (install.status !== 0) {
		process.stderr.write(`[start] npm ci failed (${install.status ?? install.signal})\n`);
		process.exit(1);
	}
}

// `--import tsx` (not the tsx CLI, which runs the script in a second process and relays signals): one process, which
// receives Ctrl-C itself and can stop the servers in order.
const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'start.ts'), ...process.argv.slice(2)], {
	cwd: repoRoot,
	stdio: 'inherit',
});
// The terminal sends Ctrl-C to the whole foreground group, the script included; the wrapper just outlives it.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
process.on('SIGHUP', () => child.kill('SIGHUP'));
child.on('exit', (code, signal) => {
	process.exit(code ?? (signal ? 128 + (require('os').constants.signals[signal] ?? 1) : 1));
});
