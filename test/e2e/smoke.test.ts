/**
 * Smoke test of the e2e harness and of the package's installability: a real n8n (pinned, Node 24) with the packed
 * package installed as a community package loads what the package registers, runs a workflow through its CLI,
 * keeps credentials readable across a restart, and stops without leaving a process behind.
 */
import * as fs from 'fs';
import * as path from 'path';
import { randomUUID } from 'crypto';

import { findInstalledPackages, type N8nInstance } from './harness';
import { startN8n } from './harness/n8n';
import { packageName, repoRoot } from './harness/paths';
import { groupAlive, portInUse, processesMentioning } from './harness/processes';

const minutes = (count: number): number => count * 60 * 1000;
const progress = (line: string): void => {
	process.stdout.write(`[e2e smoke] ${line}\n`);
};

interface TypeDescription {
	name: string;
	extends?: string[];
}

/** Instantiates every class a compiled file exports and returns them (the package's dist, as n8n would load it). */
function loadExportedInstances(distFile: string): unknown[] {
	// dist files are CommonJS built by `npm run build`: load them exactly as n8n does.
	const exported = require(path.join(repoRoot, distFile)) as Record<string, unknown>;
	return Object.values(exported)
		.filter((value): value is new () => unknown => typeof value === 'function')
		.map((Class) => new Class());
}

describe('n8n with the package installed as a community package', () => {
	let n8n: N8nInstance | undefined;

	const running = (): N8nInstance => {
		if (!n8n) throw new Error('n8n did not start (see beforeAll)');
		return n8n;
	};

	beforeAll(async () => {
		n8n = await startN8n({ log: progress });
	}, minutes(40));

	afterAll(async () => {
		await n8n?.stop();
	}, minutes(2));

	test('the package sits where n8n puts community packages, with its runtime dependencies and no n8n modules', () => {
		const installed = running().installedPackage;
		expect(installed.dir).toBe(path.join(running().userFolder, '.n8n', 'nodes', 'node_modules', packageName));
		const manifest = JSON.parse(fs.readFileSync(path.join(installed.dir, 'package.json'), 'utf8')) as Record<
			string,
			unknown
		>;
		expect(manifest.devDependencies).toBeUndefined();
		expect(manifest.peerDependencies).toBeUndefined();
		expect(findInstalledPackages(path.join(installed.dir, 'node_modules'), ['n8n-workflow', 'n8n-core'])).toEqual([]);
		for (const dependency of Object.keys((manifest.dependencies as Record<string, string>) ?? {})) {
			expect(fs.existsSync(path.join(installed.dir, 'node_modules', dependency, 'package.json'))).toBe(true);
		}
		// Only what `files` publishes: compiled code, no TypeScript sources or tests.
		expect(fs.existsSync(path.join(installed.dir, 'dist'))).toBe(true);
		expect(fs.existsSync(path.join(installed.dir, 'test'))).toBe(false);
		expect(fs.existsSync(path.join(installed.dir, 'credentials'))).toBe(false);
	});

	test('n8n loads every credential type and node the package registers, under the package name', async () => {
		const registered = running().installedPackage.n8n;
		const credentialNames = registered.credentials.flatMap(loadExportedInstances).map((credential) => {
			return (credential as TypeDescription).name;
		});
		const nodeTypes = registered.nodes.flatMap(loadExportedInstances).map((node) => {
			return `${packageName}.${(node as { description: TypeDescription }).description.name}`;
		});
		// The two credentials the package exists to provide (issue 6); the lists in package.json must name them.
		expect(credentialNames).toEqual(expect.arrayContaining(['mailServerOAuth2Api', 'googleMailOAuth2Api']));

		const credentialsResponse = await running().request('GET', '/types/credentials.json');
		expect(credentialsResponse.status).toBe(200);
		const loadedCredentials = (await credentialsResponse.json()) as TypeDescription[];
		const loadedCredentialNames = loadedCredentials.map((credential) => credential.name);
		expect(loadedCredentialNames).toEqual(expect.arrayContaining(credentialNames));
		for (const name of credentialNames) {
			// n8n's OAuth2 machinery (Connect button, refresh) applies only to types that extend oAuth2Api.
			const loaded = loadedCredentials.find((credential) => credential.name === name);
			expect(loaded?.extends).toEqual(expect.arrayContaining(['oAuth2Api']));
		}

		const nodesResponse = await running().request('GET', '/types/nodes.json');
		expect(nodesResponse.status).toBe(200);
		const loadedNodeNames = ((await nodesResponse.json()) as TypeDescription[]).map((node) => node.name);
		expect(loadedNodeNames).toEqual(expect.arrayContaining(nodeTypes));
		// Sanity check that the endpoint lists n8n's own nodes too, so an empty package list above is not vacuous.
		expect(loadedNodeNames).toContain('n8n-nodes-base.manualTrigger');
	}, minutes(1));

	test('a manual workflow runs through `n8n execute` and its execution is readable through the public API', async () => {
		const marker = `smoke-${randomUUID()}`;
		const workflowId = await running().importWorkflow({
			name: 'e2e smoke',
			nodes: [
				{
					id: randomUUID(),
					name: 'Start',
					type: 'n8n-nodes-base.manualTrigger',
					typeVersion: 1,
					position: [0, 0],
					parameters: {},
				},
				{
					id: randomUUID(),
					name: 'Set marker',
					type: 'n8n-nodes-base.set',
					typeVersion: 3.4,
					position: [220, 0],
					parameters: {
						mode: 'manual',
						assignments: { assignments: [{ id: randomUUID(), name: 'marker', type: 'string', value: marker }] },
						options: {},
					},
				},
			],
			connections: { Start: { main: [[{ node: 'Set marker', type: 'main', index: 0 }]] } },
		});

		const run = await running().executeWorkflow(workflowId, { timeoutMs: minutes(3) });
		expect(run.exitedAsExpected).toBe(true);
		expect(run.command.stdout).toContain(marker);
		expect(run.execution?.status).toBe('success');
		const setRuns = run.execution?.data?.resultData.runData['Set marker'];
		expect(setRuns?.[0].data?.main[0]?.[0].json.marker).toBe(marker);
	}, minutes(5));

	test('a published workflow runs its trigger inside the server until it is deactivated', async () => {
		const workflowId = await running().importWorkflow({
			name: 'e2e smoke schedule',
			nodes: [
				{
					id: randomUUID(),
					name: 'Every second',
					type: 'n8n-nodes-base.scheduleTrigger',
					typeVersion: 1.2,
					position: [0, 0],
					parameters: { rule: { interval: [{ field: 'seconds', secondsInterval: 1 }] } },
				},
			],
			connections: {},
		});
		expect(await running().listExecutions(workflowId)).toEqual([]);

		// Published through the CLI, as an operator would; the running server must notice and start the trigger.
		await running().publishWorkflow(workflowId);
		const executions = await running().waitForExecutions(workflowId, 2, 60_000);
		expect(executions.every((execution) => execution.mode === 'trigger' && execution.status === 'success')).toBe(true);

		await running().deactivateWorkflow(workflowId);
		const afterDeactivation = (await running().listExecutions(workflowId)).length;
		await new Promise((resolve) => setTimeout(resolve, 3000));
		expect((await running().listExecutions(workflowId)).length).toBe(afterDeactivation);
	}, minutes(3));

	test('an imported credential is stored encrypted and reads back the same after a restart', async () => {
		const credentialId = randomUUID().replace(/-/g, '').slice(0, 16);
		// Test data only: these values are fabricated and grant nothing anywhere.
		const tokenData = { access_token: `at-${randomUUID()}`, refresh_token: `rt-${randomUUID()}`, token_type: 'Bearer' };
		await running().importCredentials([
			{
				id: credentialId,
				name: 'e2e smoke credential',
				type: 'mailServerOAuth2Api',
				data: { clientId: 'smoke-client', clientSecret: 'smoke-secret', oauthTokenData: tokenData },
			},
		]);
		// The database and its write-ahead log must hold only n8n's ciphertext.
		const n8nFolder = path.join(running().userFolder, '.n8n');
		const databaseFiles = fs.readdirSync(n8nFolder).filter((file) => file.startsWith('database.sqlite'));
		expect(databaseFiles).toContain('database.sqlite');
		for (const file of databaseFiles) {
			expect(fs.readFileSync(path.join(n8nFolder, file)).includes(tokenData.access_token)).toBe(false);
		}

		const pidBefore = running().pid;
		await running().restart();
		expect(running().pid).not.toBe(pidBefore);
		expect(groupAlive(pidBefore as number)).toBe(false);
		// The session was renewed: an owner-only endpoint answers.
		expect((await running().request('GET', '/types/credentials.json')).status).toBe(200);

		expect(await running().readCredentialTokenData(credentialId)).toEqual(tokenData);
	}, minutes(5));

	test('stop ends every process of the instance and frees its port', async () => {
		const instance = running();
		const pid = instance.pid as number;
		expect(groupAlive(pid)).toBe(true);
		expect(processesMentioning(instance.userFolder).length).toBeGreaterThan(0);

		const stopped = await instance.stop();
		progress(`stop took ${stopped.seconds.toFixed(1)}s${stopped.forced ? ' (forced)' : ''}`);

		expect(groupAlive(pid)).toBe(false);
		expect(processesMentioning(instance.userFolder)).toEqual([]);
		expect(await portInUse(instance.port)).toBe(false);
		expect(stopped.forced).toBe(false);
		n8n = undefined;
	}, minutes(2));
});
