/**
 * The Debian packages and system users the mail stack needs, installed on demand.
 *
 * Installation is idempotent and cheap when everything is present (one dpkg-query call), so `npm test` can run it
 * every time. The packages' own system services are never left running: the stack runs private instances with
 * private configs, and a system Dovecot on ports 143/110 of every interface is not something a test run should leave.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Everything the stack executes: Dovecot (IMAP, POP3, LMTP, doveadm), Postfix, and openssl for the certificate. */
export const REQUIRED_PACKAGES = [
	'dovecot-core',
	'dovecot-imapd',
	'dovecot-pop3d',
	'dovecot-lmtpd',
	'postfix',
	'openssl',
] as const;

/** Mail files belong to this user: Dovecot refuses to run mail processes as root. */
export const MAIL_USER = 'vmail';

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

export class StackSetupError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'StackSetupError';
	}
}

export function isRoot(): boolean {
	return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Packages from REQUIRED_PACKAGES that dpkg does not report as installed. */
export function missingPackages(): string[] {
	const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...REQUIRED_PACKAGES], {
		encoding: 'utf8',
	});
	if (result.error) {
		throw new StackSetupError(
			`dpkg-query could not run (${result.error.message}): the mail stack needs a Debian or Ubuntu machine`,
		);
	}
	const installed = new Set(
		result.stdout
			.split('\n')
			.map((line) => line.trim().split(' '))
			.filter(([, status]) => status === 'installed')
			.map(([name]) => name),
	);
	return REQUIRED_PACKAGES.filter((name) => !installed.has(name));
}

export function installCommandFor(packages: readonly string[]): string {
	return (
		"echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections && " +
		`apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`
	);
}

function run(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): void {
	const result = spawnSync(command, args, {
		input: options.input,
		env: options.env ?? process.env,
		stdio: [options.input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'],
	});
	if (result.error) throw new StackSetupError(`${command} could not run: ${result.error.message}`);
	if (result.status !== 0) {
		throw new StackSetupError(`${command} ${args.join(' ')} failed with exit code ${String(result.status)}`);
	}
}

/**
 * Installs whatever is missing. Without root it throws a StackSetupError that names the exact command to run,
 * because a half-working stack whose failures only show in Dovecot's log is worse than a clear stop.
 * Returns the packages it installed (empty when nothing was missing).
 */
export function ensurePackages(log: (line: string) => void = () => undefined): string[] {
	const missing = missingPackages();
	if (missing.length === 0) return [];
	if (!isRoot()) {
		throw new StackSetupError(
			`The mail stack needs these Debian packages: ${missing.join(' ')}\n` +
				`Install them as root with:\n  ${installCommandFor(missing)}`,
		);
	}
	log(`installing ${missing.join(' ')} (apt-get, noninteractive)`);
	// "No configuration" leaves /etc/postfix/main.cf absent, so no system Postfix gets configured or started.
	run('debconf-set-selections', [], { input: 'postfix postfix/main_mailer_type select No configuration\n' });
	// A policy-rc.d that answers 101 stops the maintainer scripts from starting the system services (Debian's
	// documented mechanism). Container images often ship one already; only add and remove our own.
	const addedPolicy = !fs.existsSync(POLICY_RC_D);
	if (addedPolicy) fs.writeFileSync(POLICY_RC_D, '#!/bin/sh\n# temporary, written by the test mail stack installer\nexit 101\n', { mode: 0o755 });
	try {
		run('apt-get', ['update', '-q']);
		run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
			env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
		});
	} finally {
		if (addedPolicy) fs.rmSync(POLICY_RC_D, { force: true });
	}
	stopSystemServices(log);
	const stillMissing = missingPackages();
	if (stillMissing.length > 0) {
		throw new StackSetupError(`apt-get finished but these packages are still missing: ${stillMissing.join(' ')}`);
	}
	return missing;
}

function processAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

/**
 * Stops and disables the system Dovecot and Postfix if the packages started them anyway (a host with systemd, or
 * without a policy-rc.d). Our instances never use the system pid files, so this cannot hit another test run's stack.
 */
export function stopSystemServices(log: (line: string) => void = () => undefined): void {
	if (fs.existsSync('/run/systemd/system')) {
		spawnSync('systemctl', ['disable', '--now', 'dovecot.service', 'dovecot.socket', 'postfix.service'], { stdio: 'ignore' });
	}
	for (const [name, pidFile] of [
		['dovecot', '/run/dovecot/master.pid'],
		['postfix', '/var/spool/postfix/pid/master.pid'],
	] as const) {
		if (!fs.existsSync(pidFile)) continue;
		const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
		if (!Number.isInteger(pid) || pid <= 1 || !processAlive(pid)) continue;
		log(`stopping the system ${name} (pid ${pid}) that the package started`);
		process.kill(pid, 'SIGTERM');
	}
}

function userExists(name: string): boolean {
	return spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0;
}

/** Creates the vmail system user when missing (root only). Dovecot's and Postfix's own users come with the packages. */
export function ensureMailUser(): void {
	if (userExists(MAIL_USER)) return;
	if (!isRoot()) throw new StackSetupError(`The system user ${MAIL_USER} is missing; create it as root: useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${MAIL_USER}`);
	run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', MAIL_USER]);
}

/** Numeric uid/gid of a system user, for chown of the runtime directory. */
export function userIds(name: string): { uid: number; gid: number } {
	const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
	const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
	if (uid.status !== 0 || gid.status !== 0) throw new StackSetupError(`The system user ${name} does not exist`);
	return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

export function groupId(name: string): number {
	const result = spawnSync('getent', ['group', name], { encoding: 'utf8' });
	const gid = Number.parseInt(result.stdout.split(':')[2] ?? '', 10);
	if (result.status !== 0 || !Number.isInteger(gid)) throw new StackSetupError(`The system group ${name} does not exist`);
	return gid;
}
