/**
 * Starting and stopping one instance of the mail stack: Dovecot, Postfix and the token server, each on its own
 * ports on 127.0.0.1, with everything (configs, certificate, keys, mail, queue, logs) in one runtime directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
	MAIL_DOMAIN,
	renderDovecotConfig,
	renderDovecotOAuthConfig,
	renderPostfixMainCf,
	renderPostfixMasterCf,
	type StackLayout,
} from './configs';
import { keyIdFor } from './oauth/jwt';
import { tokenServerPaths, type TokenServerConfig } from './oauth/tokenServer';
import { ensureMailUser, ensurePackages, groupId, isRoot, MAIL_USER, StackSetupError, userIds } from './packages';
import { portsFromBase, randomFreePorts, type StackPorts } from './ports';
import { portClosed, processAlive, stopProcessTree, waitForGreeting, type GreetingProbe } from './processes';
import { Stack, type StackInfo } from './stack';
import { ensureCertificate } from './tls';

export interface StartStackOptions {
	/**
	 * Runtime directory to (re)use. Reusing one keeps the signing key, certificate, client secret, refresh tokens
	 * and mail across restarts (the demo wants that). Default: a fresh `gx-stack-XXXXXX` under the system temp dir.
	 */
	dir?: string;
	/** Fixed ports base..base+8 (see PORT_NAMES for the order); default: random free ports. */
	portBase?: number;
	/** Account that /authorize approves when the request carries no login_hint. */
	defaultUser?: string;
	/** Install missing Debian packages first (default true; only possible as root). */
	install?: boolean;
	log?: (line: string) => void;
	timeoutMs?: number;
}

/** Google's scope for IMAP/SMTP/POP; the stack's tokens carry whatever was asked for. */
export const MAIL_SCOPE = 'https://mail.google.com/';
const CLIENT_ID = 'gx-stack-client.apps.example.test';
const PLAIN_PASSWORD = 'stack-password';

interface Secrets {
	clientSecret: string;
	adminKey: string;
}

function layoutFor(dir: string): StackLayout {
	return {
		dir,
		certFile: path.join(dir, 'tls', 'cert.pem'),
		keyFile: path.join(dir, 'tls', 'key.pem'),
		dovecotConfigFile: path.join(dir, 'dovecot', 'dovecot.conf'),
		dovecotOAuthFile: path.join(dir, 'dovecot', 'oauth2.conf.ext'),
		dovecotBaseDir: path.join(dir, 'dovecot', 'run'),
		dovecotStateDir: path.join(dir, 'dovecot', 'state'),
		dovecotLog: path.join(dir, 'logs', 'dovecot.log'),
		// The queue must live outside the config directory (Postfix refuses otherwise).
		postfixConfigDir: path.join(dir, 'postfix'),
		postfixQueueDir: path.join(dir, 'postfix-queue'),
		postfixDataDir: path.join(dir, 'postfix-data'),
		postfixLog: path.join(dir, 'logs', 'postfix.log'),
		oauthLog: path.join(dir, 'logs', 'oauth.log'),
		mailDir: path.join(dir, 'mail'),
		oauthKeysDir: tokenServerPaths(dir).keysDir,
	};
}

function readOrCreateSecrets(dir: string): Secrets {
	const file = path.join(dir, 'secrets.json');
	if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as Secrets;
	const secrets: Secrets = {
		clientSecret: `gx-secret-${crypto.randomBytes(12).toString('base64url')}`,
		adminKey: crypto.randomBytes(24).toString('base64url'),
	};
	fs.writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
	return secrets;
}

/**
 * The RS256 signing key, kept in the directory: Dovecot caches public keys per key id for the life of its auth
 * process, so a key must never change under a running Dovecot. Publishes the public key where Dovecot looks.
 */
async function ensureSigningKey(dir: string): Promise<void> {
	const paths = tokenServerPaths(dir);
	if (!fs.existsSync(paths.privateKeyFile)) {
		// Generated on libuv's thread pool, so it overlaps with the certificate's openssl run.
		const privateKeyPem = await new Promise<string>((resolve, reject) => {
			crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (error, _publicKey, privateKey) => {
				if (error) reject(error);
				else resolve(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
			});
		});
		fs.writeFileSync(paths.privateKeyFile, privateKeyPem, { mode: 0o600 });
	}
	const publicKeyPem = crypto.createPublicKey(fs.readFileSync(paths.privateKeyFile, 'utf8')).export({ type: 'spki', format: 'pem' }).toString();
	const keyDir = path.join(paths.keysDir, 'default', 'RS256');
	fs.mkdirSync(keyDir, { recursive: true, mode: 0o755 });
	// Dovecot's auth process runs as user dovecot: the key and every directory above it must be readable.
	fs.writeFileSync(path.join(keyDir, keyIdFor(publicKeyPem)), publicKeyPem, { mode: 0o644 });
}

/**
 * The queue and data directories with the owners and modes of Debian's /etc/postfix/postfix-files, made directly
 * (what `postfix start` would do through post-install, in a fraction of the time).
 */
function createPostfixDirectories(layout: StackLayout): void {
	const postfixUser = userIds('postfix');
	const postdropGroup = groupId('postdrop');
	fs.mkdirSync(layout.postfixQueueDir, { recursive: true, mode: 0o755 });
	fs.mkdirSync(layout.postfixDataDir, { recursive: true, mode: 0o700 });
	fs.chownSync(layout.postfixDataDir, postfixUser.uid, postfixUser.gid);
	const queueDirs: Array<[name: string, group: number, mode: number]> = [
		...['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'private', 'saved', 'trace'].map(
			(name): [string, number, number] => [name, 0, 0o700],
		),
		['maildrop', postdropGroup, 0o730],
		['public', postdropGroup, 0o710],
	];
	for (const [name, group, mode] of queueDirs) {
		const queueDir = path.join(layout.postfixQueueDir, name);
		fs.mkdirSync(queueDir, { recursive: true });
		fs.chownSync(queueDir, postfixUser.uid, group);
		fs.chmodSync(queueDir, mode);
	}
	fs.mkdirSync(path.join(layout.postfixQueueDir, 'pid'), { recursive: true, mode: 0o755 });
}

/**
 * Absolute path of tsx's CommonJS require hook. Resolved through tsx's package.json because `require.resolve` is
 * rewritten (with a query string) when this module is itself loaded through tsx's API, as jest's global setup does.
 */
function tsxCommonJsHook(): string {
	const packageFile = require.resolve('tsx/package.json').replace(/\?.*$/, '');
	const manifest = JSON.parse(fs.readFileSync(packageFile, 'utf8')) as { exports: Record<string, unknown> };
	const target = manifest.exports['./cjs'];
	if (typeof target !== 'string') throw new Error(`tsx ${packageFile} does not export ./cjs as a file`);
	return path.resolve(path.dirname(packageFile), target);
}

function tail(file: string, lines = 15): string {
	if (!fs.existsSync(file)) return '(no log)';
	return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForHttp(url: string, child: ChildProcess, deadline: number): Promise<void> {
	while (Date.now() < deadline) {
		if (child.exitCode !== null) throw new Error(`the token server exited with code ${child.exitCode}`);
		try {
			const response = await fetch(url);
			if (response.ok) return;
		} catch {
			// not listening yet
		}
		await sleep(20);
	}
	throw new Error(`the token server did not answer ${url} in time`);
}

/** A started stack: the helper API plus stop(). Only the process that started it can stop it. */
export class RunningStack extends Stack {
	private stopped = false;

	constructor(
		info: StackInfo,
		private readonly children: ChildProcess[],
		private readonly log: (line: string) => void,
	) {
		super(info);
	}

	/** Writes the connection file that test files read (see getStack()). */
	writeInfo(file: string): void {
		fs.writeFileSync(file, JSON.stringify(this.info, null, 2), { mode: 0o600 });
	}

	/**
	 * Stops everything this stack started, by PID, and verifies it: every process of each tree has exited and no
	 * port of the stack still accepts connections. Throws if something survived.
	 */
	async stop(): Promise<void> {
		if (this.stopped) return;
		this.stopped = true;
		const { pids, ports } = this.info;
		const problems: string[] = [];

		// SIGTERM to each master (in parallel): Postfix's and Dovecot's masters stop their own children, and
		// stopProcessTree verifies that every process of each tree is gone.
		await Promise.all(
			(
				[
					['postfix', pids.postfix],
					['dovecot', pids.dovecot],
					['token server', pids.oauth],
				] as const
			).map(async ([name, pid]) => {
				try {
					const killedHard = await stopProcessTree(name, pid);
					if (killedHard.length > 0) this.log(`${name}: had to SIGKILL ${killedHard.join(', ')}`);
				} catch (error) {
					problems.push(error instanceof Error ? error.message : String(error));
				}
			}),
		);
		for (const child of this.children) child.removeAllListeners();

		const stillOpen: string[] = [];
		for (const [name, port] of Object.entries(ports)) {
			if (!(await portClosed(port))) stillOpen.push(`${name}:${port}`);
		}
		if (stillOpen.length > 0) problems.push(`ports still accepting connections: ${stillOpen.join(', ')}`);
		fs.rmSync(path.join(this.info.dir, 'pids.json'), { force: true });
		if (problems.length > 0) throw new Error(`The mail stack did not stop cleanly: ${problems.join('; ')}`);
		this.log(`stopped (logs kept in ${this.info.dir}/logs)`);
	}
}

async function startOnce(dir: string, ports: StackPorts, options: StartStackOptions, log: (line: string) => void): Promise<RunningStack> {
	const layout = layoutFor(dir);
	for (const sub of ['tls', 'dovecot', 'postfix', 'logs', 'oauth']) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 });
	const mailUser = userIds(MAIL_USER);
	fs.mkdirSync(layout.mailDir, { recursive: true, mode: 0o755 });
	fs.chownSync(layout.mailDir, mailUser.uid, mailUser.gid);
	createPostfixDirectories(layout);

	const signingKey = ensureSigningKey(dir);
	ensureCertificate(path.join(dir, 'tls'));
	await signingKey;
	const secrets = readOrCreateSecrets(dir);
	const caCertPem = fs.readFileSync(layout.certFile, 'utf8');
	const issuer = `http://127.0.0.1:${ports.oauth}`;
	// Dovecot shows it in every process title (`dovecot-<instance>/imap`), which tells stacks apart in `ps`.
	const instanceName = path.basename(dir).startsWith('gx-stack-') ? path.basename(dir) : `gx-stack-${path.basename(dir)}`;

	fs.writeFileSync(
		layout.dovecotConfigFile,
		renderDovecotConfig({ layout, ports, instanceName, issuer, mailUser: MAIL_USER, mailUid: mailUser.uid, plainPassword: PLAIN_PASSWORD }),
	);
	fs.writeFileSync(layout.dovecotOAuthFile, renderDovecotOAuthConfig(layout, issuer));
	const mainCf = path.join(layout.postfixConfigDir, 'main.cf');
	const masterCf = path.join(layout.postfixConfigDir, 'master.cf');
	fs.writeFileSync(mainCf, renderPostfixMainCf(layout, ports));
	fs.writeFileSync(masterCf, renderPostfixMasterCf(ports));
	// Postfix re-reads a config file every 300 ms until its mtime is older than the current second (it guards
	// against half-written files), which cost ~2 s per start. Back-date the files we just wrote completely.
	const settled = new Date(Date.now() - 5000);
	for (const file of [mainCf, masterCf]) fs.utimesSync(file, settled, settled);

	const oauthPaths = tokenServerPaths(dir);
	const pidsFile = path.join(dir, 'pids.json');
	const tokenServerConfig: TokenServerConfig & { pidsFile: string } = {
		port: ports.oauth,
		issuer,
		clientId: CLIENT_ID,
		clientSecret: secrets.clientSecret,
		adminKey: secrets.adminKey,
		privateKeyFile: oauthPaths.privateKeyFile,
		stateFile: oauthPaths.stateFile,
		defaultScope: MAIL_SCOPE,
		pidsFile,
	};
	fs.writeFileSync(oauthPaths.configFile, JSON.stringify(tokenServerConfig), { mode: 0o600 });

	const children: ChildProcess[] = [];
	const startedAt = Date.now();
	// Each server gets its own session (detached): Postfix's master signals its whole process group on shutdown, and
	// a Ctrl-C in the terminal must reach our handler (which stops everything in order), not the servers directly.
	const deadline = startedAt + (options.timeoutMs ?? 15_000);
	const dovecotOut = fs.openSync(path.join(dir, 'logs', 'dovecot.stderr.log'), 'a');
	const postfixOut = fs.openSync(path.join(dir, 'logs', 'postfix.stderr.log'), 'a');
	const oauthOut = fs.openSync(layout.oauthLog, 'a');
	let dovecot: ChildProcess | undefined;
	let postfix: ChildProcess | undefined;
	let tokenServer: ChildProcess | undefined;
	let postfixPid = 0;
	try {
		dovecot = spawn('dovecot', ['-F', '-c', layout.dovecotConfigFile], { stdio: ['ignore', dovecotOut, dovecotOut], detached: true });
		children.push(dovecot);
		// The token server runs as TypeScript through tsx's CommonJS hook (about 0.2 s to start, in parallel with the rest).
		tokenServer = spawn(process.execPath, ['--require', tsxCommonJsHook(), path.join(__dirname, 'oauth', 'main.ts'), oauthPaths.configFile], {
			stdio: ['ignore', oauthOut, oauthOut],
			detached: true,
		});
		children.push(tokenServer);
		// The master directly, in the foreground: `postfix start` spends about two seconds in its shell-script checks,
		// the master itself is up in milliseconds, and as our child its PID is known without a pid file.
		postfix = spawn('/usr/lib/postfix/sbin/master', ['-c', layout.postfixConfigDir, '-d'], { stdio: ['ignore', postfixOut, postfixOut], detached: true });
		children.push(postfix);
		postfixPid = postfix.pid ?? 0;
		const pids = { dovecot: dovecot.pid ?? 0, postfix: postfixPid, oauth: tokenServer.pid ?? 0 };
		fs.writeFileSync(pidsFile, JSON.stringify(pids));

		const probes: GreetingProbe[] = [
			{ name: 'IMAP', port: ports.imap, tls: false, expect: /^\* OK/ },
			{ name: 'IMAPS', port: ports.imaps, tls: true, expect: /^\* OK/ },
			{ name: 'POP3', port: ports.pop3, tls: false, expect: /^\+OK/ },
			{ name: 'POP3S', port: ports.pop3s, tls: true, expect: /^\+OK/ },
			{ name: 'LMTP', port: ports.lmtp, tls: false, expect: /^220 / },
			{ name: 'SMTP', port: ports.smtp, tls: false, expect: /^220 / },
			{ name: 'submission', port: ports.submission, tls: false, expect: /^220 / },
			{ name: 'SMTPS', port: ports.smtps, tls: true, expect: /^220 / },
		];
		// A server that exits during start-up (bad config, port taken) fails the start at once, not at the deadline.
		const earlyExit = Promise.race(
			[
				['dovecot', dovecot],
				['postfix master', postfix],
			].map(
				([name, child]) =>
					new Promise<never>((_resolve, reject) => {
						(child as ChildProcess).once('exit', (code) => reject(new Error(`${String(name)} exited with code ${String(code)}`)));
					}),
			),
		);
		earlyExit.catch(() => undefined);
		const readyAfter: string[] = [];
		const timed = (name: string, promise: Promise<unknown>): Promise<void> =>
			promise.then(() => {
				readyAfter.push(`${name} ${Date.now() - startedAt}`);
			});
		await Promise.race([
			Promise.all([
				...probes.map((probe) => timed(probe.name, waitForGreeting(probe, caCertPem, deadline))),
				timed('oauth', waitForHttp(`${issuer}/health`, tokenServer, deadline)),
			]),
			earlyExit,
		]);

		const info: StackInfo = {
			dir,
			host: '127.0.0.1',
			servername: 'localhost',
			domain: MAIL_DOMAIN,
			ports,
			caCertPem,
			plainPassword: PLAIN_PASSWORD,
			oauth: {
				url: issuer,
				authorizeUrl: `${issuer}/authorize`,
				tokenUrl: `${issuer}/token`,
				revokeUrl: `${issuer}/revoke`,
				jwksUrl: `${issuer}/jwks`,
				clientId: CLIENT_ID,
				clientSecret: secrets.clientSecret,
				scope: MAIL_SCOPE,
			},
			adminKey: secrets.adminKey,
			files: {
				dovecotConfig: layout.dovecotConfigFile,
				postfixConfigDir: layout.postfixConfigDir,
				dovecotLog: layout.dovecotLog,
				postfixLog: layout.postfixLog,
				oauthLog: layout.oauthLog,
			},
			pids,
			startedAt: new Date(startedAt).toISOString(),
		};
		const stack = new RunningStack(info, children, log);
		if (options.defaultUser) await stack.configureTokenServer({ defaultUser: options.defaultUser });
		fs.writeFileSync(path.join(dir, 'stack.json'), JSON.stringify(info, null, 2), { mode: 0o600 });
		log(`started in ${Date.now() - startedAt} ms (ready after ms: ${readyAfter.join(', ')}); runtime dir ${dir}`);
		return stack;
	} catch (error) {
		// Leave nothing behind: stop whatever did start, then report with the log tails that explain why.
		for (const [name, child] of [
			['postfix', postfix],
			['dovecot', dovecot],
			['token server', tokenServer],
		] as const) {
			if (child?.pid && processAlive(child.pid)) await stopProcessTree(name, child.pid).catch(() => undefined);
		}
		const message = error instanceof Error ? error.message : String(error);
		throw new Error(
			`The mail stack did not start: ${message}\n--- dovecot.log\n${tail(layout.dovecotLog)}\n--- dovecot.stderr.log\n${tail(path.join(dir, 'logs', 'dovecot.stderr.log'))}\n--- postfix.log\n${tail(layout.postfixLog)}\n--- postfix.stderr.log\n${tail(path.join(dir, 'logs', 'postfix.stderr.log'))}\n--- oauth.log\n${tail(layout.oauthLog)}`,
		);
	} finally {
		fs.closeSync(dovecotOut);
		fs.closeSync(postfixOut);
		fs.closeSync(oauthOut);
	}
}

const RUN_DIR_PREFIX = 'gx-stack-';
const KEEP_RUN_DIRS_MS = 3 * 24 * 3600 * 1000;

/**
 * Runs keep their directories (logs, mail, queue) for inspection; this removes those older than three days whose
 * stack is no longer running (no pids.json), so a machine that runs the tests for months does not fill its /tmp.
 */
function pruneOldRunDirs(log: (line: string) => void): void {
	const parent = os.tmpdir();
	for (const name of fs.readdirSync(parent)) {
		if (!name.startsWith(RUN_DIR_PREFIX)) continue;
		const dir = path.join(parent, name);
		try {
			const stat = fs.statSync(dir);
			if (!stat.isDirectory() || Date.now() - stat.mtimeMs < KEEP_RUN_DIRS_MS) continue;
			if (fs.existsSync(path.join(dir, 'pids.json')) || !fs.existsSync(path.join(dir, 'stack.json'))) continue;
			fs.rmSync(dir, { recursive: true, force: true });
			log(`removed old run directory ${dir}`);
		} catch {
			// another run is pruning too, or the directory is not ours to read
		}
	}
}

/** Starts a stack; see StartStackOptions. Needs root (Dovecot and Postfix switch to their own users). */
export async function startStack(options: StartStackOptions = {}): Promise<RunningStack> {
	const log = options.log ?? ((line: string) => process.stderr.write(`[mail-stack] ${line}\n`));
	if (options.install ?? true) ensurePackages(log);
	if (!isRoot()) {
		throw new StackSetupError('The mail stack must run as root: Dovecot and Postfix start as root and switch to their own users.');
	}
	ensureMailUser();
	if (!options.dir) pruneOldRunDirs(log);
	const dir = options.dir ? path.resolve(options.dir) : fs.mkdtempSync(path.join(os.tmpdir(), RUN_DIR_PREFIX));
	fs.mkdirSync(dir, { recursive: true });
	// Dovecot and Postfix open files here as their own users (dovecot, vmail, postfix): the directory must be traversable.
	fs.chmodSync(dir, 0o755);
	// With random ports another process may take one between our check and the servers' bind: try again with new ones.
	const attempts = options.portBase === undefined ? 3 : 1;
	for (let attempt = 1; ; attempt += 1) {
		const ports = options.portBase === undefined ? await randomFreePorts() : await portsFromBase(options.portBase);
		try {
			return await startOnce(dir, ports, options, log);
		} catch (error) {
			const addressInUse = error instanceof Error && /Address already in use|EADDRINUSE/.test(error.message);
			if (!addressInUse || attempt >= attempts) throw error;
			log('a port was taken meanwhile; retrying with other ports');
		}
	}
}
