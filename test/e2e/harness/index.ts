/**
 * End-to-end harness: a real n8n (pinned, Node 24) with this package installed as a community package.
 * See test/e2e/README.md for usage from jest and from the command line.
 */
export { ensureN8nInstalled, node24Env, type N8nInstallation } from './install';
export {
	buildAndPack,
	findInstalledPackages,
	installPackageIntoUserFolder,
	type InstalledPackage,
	type PackedPackage,
} from './package';
export {
	newRunFolder,
	startN8n,
	type CliExecution,
	type CredentialImport,
	type Execution,
	type ExecutionListOptions,
	type N8nInstance,
	type Owner,
	type PublicationStatus,
	type RetriedExecution,
	type StartOptions,
	type StopResult,
	type WorkflowImport,
} from './n8n';
export { freePort, groupAlive, portInUse, processesMentioning, runCommand, type CommandResult } from './processes';
export { e2eCacheRoot, packageName, repoRoot } from './paths';
