#!/usr/bin/env node
/**
 * `npm test`: everything a fresh clone needs, then every suite, then one plain totals line for CI.
 *
 * Steps: install dependencies when missing, build, type-check, install the mail stack's Debian packages when
 * missing (root only; the stack explains what to install otherwise), run jest over all projects.
 * The last line is `N passed, N failed` over every suite that ran; a run that executed no test fails.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const resultsDir = path.join(root, '.test-results');

function run(command, args, options = {}) {
	const started = Date.now();
	const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
	const seconds = ((Date.now() - started) / 1000).toFixed(1);
	process.stdout.write(`[test-all] ${command} ${args.join(' ')}: exit ${result.status} in ${seconds}s\n`);
	return result.status ?? 1;
}

function fail(message) {
	process.stdout.write(`[test-all] ${message}\n0 passed, 1 failed\n`);
	process.exit(1);
}

function dependenciesInstalled() {
	const marker = path.join(root, 'node_modules', '.package-lock.json');
	if (!fs.existsSync(marker)) return false;
	return fs.statSync(marker).mtimeMs >= fs.statSync(path.join(root, 'package-lock.json')).mtimeMs;
}

const totalStarted = Date.now();

if (!dependenciesInstalled()) {
	if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) fail('npm ci failed');
}
if (run('npm', ['run', 'build']) !== 0) fail('build failed');
// jest only transpiles (see jest.config.js); the type check over sources and tests happens here, once.
if (run('npm', ['run', 'typecheck']) !== 0) fail('type check failed');

const stackCli = path.join(root, 'test', 'stack', 'cli.ts');
if (fs.existsSync(stackCli)) {
	if (run(path.join(root, 'node_modules', '.bin', 'tsx'), [stackCli, 'install']) !== 0) {
		fail('the mail stack could not be installed (see above)');
	}
}

fs.mkdirSync(resultsDir, { recursive: true });
const jsonFile = path.join(resultsDir, 'jest.json');
fs.rmSync(jsonFile, { force: true });
const extraArgs = process.argv.slice(2);
const jestStatus = run(path.join(root, 'node_modules', '.bin', 'jest'), [
	'--runInBand',
	'--json',
	`--outputFile=${jsonFile}`,
	...extraArgs,
]);

let passed = 0;
let failed = 0;
let suitesFailedToRun = 0;
if (fs.existsSync(jsonFile)) {
	const report = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
	passed = report.numPassedTests;
	failed = report.numFailedTests;
	// A suite that crashed before running its tests (syntax error, failed setup) counts as a failure.
	suitesFailedToRun = report.testResults.filter((suite) => suite.status === 'failed' && suite.assertionResults.length === 0).length;
	failed += suitesFailedToRun;
}
if (jestStatus !== 0 && failed === 0) failed = 1;
if (passed + failed === 0) failed = 1;

const minutes = ((Date.now() - totalStarted) / 60000).toFixed(1);
process.stdout.write(`[test-all] total wall time ${minutes} min\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
