/**
 * Headless Chromium for the end-to-end tests: Debian's own `chromium` package driven by playwright-core.
 *
 * Playwright's bundled browsers are downloaded from a CDN this machine cannot (and must not) reach, so the browser is
 * Debian's, installed through apt when missing (root only). It is started with the flags that keep it from calling any
 * outside host (component updates, safe-browsing lists, sync, field trials) and with a fresh profile per launch, so one
 * run's cookies or n8n session never leak into the next.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian's chromium package puts its launcher. */
export const chromiumExecutable = '/usr/bin/chromium';

/**
 * No background traffic: without these Chromium fetches component updates, variations and sync data from Google at
 * start-up. QUIC off so every request is plain TCP on 127.0.0.1. No sandbox: the tests run as root in a container.
 */
const chromiumFlags = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--disable-dev-shm-usage',
];

export class BrowserSetupError extends Error {}

let aptUpdated = false;

function runApt(args: string[]): void {
	const result = spawnSync('apt-get', args, {
		env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
		encoding: 'utf8',
		timeout: 15 * 60 * 1000,
	});
	if (result.status !== 0) {
		const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
		throw new BrowserSetupError(`apt-get ${args.join(' ')} failed (${result.status ?? result.signal}):\n${output}`);
	}
}

/**
 * Makes sure Debian's chromium is installed: as root with `apt-get install --no-install-recommends chromium` (after one
 * `apt-get update` per process); otherwise it explains which package an administrator must install. Returns the
 * executable path and whether this call installed it.
 */
export function ensureChromium(log: (line: string) => void = () => undefined): { executable: string; installed: boolean } {
	if (fs.existsSync(chromiumExecutable)) return { executable: chromiumExecutable, installed: false };
	if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
		throw new BrowserSetupError(
			`${chromiumExecutable} is missing. Install Debian's browser as root: apt-get install --no-install-recommends chromium`,
		);
	}
	const started = Date.now();
	if (!aptUpdated) {
		log('apt-get update (for chromium)');
		runApt(['update']);
		aptUpdated = true;
	}
	log('apt-get install chromium');
	runApt(['install', '-y', '--no-install-recommends', 'chromium']);
	if (!fs.existsSync(chromiumExecutable)) {
		throw new BrowserSetupError(`apt-get installed chromium but ${chromiumExecutable} does not exist`);
	}
	log(`chromium installed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
	return { executable: chromiumExecutable, installed: true };
}

/** http(s) and ws(s) URLs on this machine; data:, blob: and about: never touch the network. */
export function isLoopbackUrl(url: URL): boolean {
	if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) return true;
	return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** A launched browser with its own profile folder; `close()` ends the browser and removes the profile. */
export interface LaunchedBrowser {
	context: BrowserContext;
	/** The profile folder (Chromium's --user-data-dir), fresh for this launch. */
	profile: string;
	/** Requests the pages tried to send beyond 127.0.0.1 / localhost; each was aborted, none left the machine. */
	blockedRequests: string[];
	close(): Promise<void>;
}

/**
 * Launches Debian's Chromium headless (installing it first when missing) with a fresh profile folder and the given
 * viewport. Playwright owns the browser process and kills it on close; popups open in the same context.
 */
export async function launchChromium(
	options: { viewport?: { width: number; height: number }; log?: (line: string) => void } = {},
): Promise<LaunchedBrowser> {
	const { executable } = ensureChromium(options.log);
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gx-chromium-profile-'));
	let context: BrowserContext;
	try {
		// A persistent context is Playwright's way to name the --user-data-dir (it refuses the flag in `args`).
		context = await chromium.launchPersistentContext(profile, {
			executablePath: executable,
			headless: true,
			args: chromiumFlags,
			viewport: options.viewport ?? { width: 1280, height: 800 },
			deviceScaleFactor: 1,
			locale: 'en-US',
			timezoneId: 'UTC',
			timeout: 60_000,
		});
	} catch (error) {
		fs.rmSync(profile, { recursive: true, force: true });
		throw error;
	}
	// The editor links fonts, templates and telemetry from outside hosts in places the server settings do not reach;
	// the tests must never contact them, so the page gets a network error instead (and the test can list them).
	const blockedRequests: string[] = [];
	await context.route(
		(url) => !isLoopbackUrl(url),
		async (route) => {
			blockedRequests.push(route.request().url());
			await route.abort('blockedbyclient');
		},
	);
	return {
		context,
		profile,
		blockedRequests,
		async close(): Promise<void> {
			await context.close().catch(() => undefined);
			fs.rmSync(profile, { recursive: true, force: true });
		},
	};
}
