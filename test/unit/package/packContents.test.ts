import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What `npm pack` ships is what n8n loads: every file the package.json "n8n" section names, with the icons and codex
 * files n8n reads from beside them. Builds first when dist/ is missing (npm test has already built).
 */
const root = path.resolve(__dirname, '..', '..', '..');

interface PackedFile {
	path: string;
}

function packedFiles(): string[] {
	if (!fs.existsSync(path.join(root, 'dist'))) {
		execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
	}
	const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
	const [report] = JSON.parse(output) as Array<{ files: PackedFile[] }>;
	return report.files.map((file) => file.path);
}

describe('the packed package', () => {
	jest.setTimeout(120_000);
	const packageJson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
		n8n: { nodes: string[]; credentials: string[] };
		files: string[];
	};
	let files: string[];

	beforeAll(() => {
		files = packedFiles();
	});

	it('ships only dist/ besides the package metadata and the main entry', () => {
		const outside = files.filter((file) => !file.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'index.js'].includes(file));
		expect(outside).toEqual([]);
	});

	it('contains every node and credential that package.json registers, with its type declarations', () => {
		const registered = [...packageJson.n8n.nodes, ...packageJson.n8n.credentials];
		expect(registered.length).toBe(6);
		for (const file of registered) {
			expect(files).toContain(file);
			expect(files).toContain(file.replace(/\.js$/, '.d.ts'));
		}
	});

	it('contains each node codex file and icon beside the compiled node', () => {
		for (const nodeFile of packageJson.n8n.nodes) {
			const directory = path.posix.dirname(nodeFile);
			const base = path.posix.basename(nodeFile, '.js');
			expect(files).toContain(`${directory}/${base}.json`);
			expect(files.some((file) => file.startsWith(`${directory}/`) && file.endsWith('.svg'))).toBe(true);
		}
	});

	it('contains the icons the credentials point to', () => {
		const icons = files.filter((file) => file.startsWith('dist/credentials/') && file.endsWith('.svg'));
		expect(icons.length).toBeGreaterThanOrEqual(2);
	});
});
