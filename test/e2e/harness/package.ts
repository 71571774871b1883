/**
 * Puts this package into an n8n user folder the way n8n installs a community package: the packed tarball (only what
 * `files` publishes), extracted to `<user folder>/.n8n/nodes/node_modules/<name>`, with its own runtime dependencies
 * and nothing else. n8n then loads it from there and names its types `<name>.<node>` exactly as for users.
 *
 * n8n-workflow must never be installed inside: n8n puts its own copy on the module path, and a second copy makes
 * `instanceof NodeOperationError` (and similar checks in n8n) fail for errors our nodes throw.
 */
import * as fs from 'fs';
import * as path from 'path';

import { node24Env, type N8nInstallation } from './install';
import { e2eCacheRoot, packageName, repoRoot } from './paths';
import { runChecked } from './processes';

export interface PackedPackage {
	tarball: string;
	version: string;
	/** The package.json "n8n" section: the dist paths of the credentials and nodes it registers. */
	n8n: { credentials: string[]; nodes: string[] };
}

export interface InstalledPackage extends PackedPackage {
	/** `<user folder>/.n8n/nodes/node_modules/<name>` */
	dir: string;
}

interface PackageJson {
	name: string;
	version: string;
	n8n?: { credentials?: string[]; nodes?: string[] };
	dependencies?: Record<string, string>;
	devDependencies?: Record<string, string>;
	peerDependencies?: Record<string, string>;
	peerDependenciesMeta?: Record<string, unknown>;
	scripts?: Record<string, string>;
}

let packedThisProcess: Promise<PackedPackage> | undefined;

/**
 * `npm run build` then `npm pack`, once per process (every test of a run installs the same build).
 * `log` receives progress lines.
 */
export function buildAndPack(log: (line: string) => void = () => undefined): Promise<PackedPackage> {
	packedThisProcess ??= (async () => {
		const build = await runChecked('npm', ['run', 'build'], { cwd: repoRoot, timeoutMs: 10 * 60 * 1000 });
		log(`npm run build took ${build.seconds.toFixed(1)}s`);
		const packsRoot = path.join(e2eCacheRoot, 'packs');
		fs.mkdirSync(packsRoot, { recursive: true });
		// Tarballs of earlier runs are only needed while their run installs them (seconds); drop the old ones.
		for (const entry of fs.readdirSync(packsRoot)) {
			const folder = path.join(packsRoot, entry);
			if (Date.now() - fs.statSync(folder).mtimeMs > 60 * 60 * 1000) fs.rmSync(folder, { recursive: true, force: true });
		}
		const packDir = path.join(packsRoot, `${process.pid}-${Date.now()}`);
		fs.mkdirSync(packDir, { recursive: true });
		const pack = await runChecked('npm', ['pack', '--json', '--pack-destination', packDir], {
			cwd: repoRoot,
			timeoutMs: 5 * 60 * 1000,
		});
		const [summary] = JSON.parse(pack.stdout) as Array<{ filename: string; version: string }>;
		const tarball = path.join(packDir, summary.filename);
		const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
		log(`packed ${path.basename(tarball)}`);
		return {
			tarball,
			version: summary.version,
			n8n: { credentials: manifest.n8n?.credentials ?? [], nodes: manifest.n8n?.nodes ?? [] },
		};
	})();
	// A failed build is not remembered: the next caller builds again (after a fix) rather than getting the old failure.
	packedThisProcess.catch(() => {
		packedThisProcess = undefined;
	});
	return packedThisProcess;
}

/** Installs the packed package into `userFolder` (the value given to n8n as N8N_USER_FOLDER). */
export async function installPackageIntoUserFolder(
	installation: N8nInstallation,
	userFolder: string,
	log: (line: string) => void = () => undefined,
): Promise<InstalledPackage> {
	const packed = await buildAndPack(log);
	const nodeModules = path.join(userFolder, '.n8n', 'nodes', 'node_modules');
	const dir = path.join(nodeModules, packageName);
	fs.rmSync(dir, { recursive: true, force: true });
	fs.mkdirSync(nodeModules, { recursive: true });

	const extractDir = fs.mkdtempSync(path.join(nodeModules, '.extract-'));
	await runChecked('tar', ['-xzf', packed.tarball, '-C', extractDir], { cwd: extractDir });
	fs.renameSync(path.join(extractDir, 'package'), dir);
	fs.rmSync(extractDir, { recursive: true, force: true });

	// As n8n's community-package installer does: only runtime dependencies; n8n itself provides n8n-workflow.
	const manifestPath = path.join(dir, 'package.json');
	const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as PackageJson;
	delete manifest.devDependencies;
	delete manifest.peerDependencies;
	delete manifest.peerDependenciesMeta;
	fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));

	const install = await runChecked(
		'npm',
		['install', '--omit=dev', '--omit=peer', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'],
		{ cwd: dir, env: node24Env(installation), timeoutMs: 10 * 60 * 1000 },
	);
	log(`npm install of the package's runtime dependencies took ${install.seconds.toFixed(1)}s`);

	const forbidden = findInstalledPackages(path.join(dir, 'node_modules'), ['n8n-workflow', 'n8n-core']);
	if (forbidden.length > 0) {
		throw new Error(`the installed package carries its own copy of n8n's modules: ${forbidden.join(', ')}`);
	}
	for (const declared of Object.keys(manifest.dependencies ?? {})) {
		if (!fs.existsSync(path.join(dir, 'node_modules', declared, 'package.json'))) {
			throw new Error(`runtime dependency ${declared} is missing after npm install in ${dir}`);
		}
	}
	return { ...packed, dir };
}

/** Every folder below `nodeModules` (nested node_modules included) that holds one of `names`. */
export function findInstalledPackages(nodeModules: string, names: string[]): string[] {
	const found: string[] = [];
	const visit = (folder: string): void => {
		if (!fs.existsSync(folder)) return;
		for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
			if (!entry.isDirectory()) continue;
			const full = path.join(folder, entry.name);
			if (entry.name.startsWith('@')) {
				visit(full);
				continue;
			}
			if (names.includes(entry.name)) found.push(full);
			visit(path.join(full, 'node_modules'));
		}
	};
	visit(nodeModules);
	return found;
}
