/**
 * Three projects (unit, integration, e2e) so the fast loop (`npm run test:unit`) never needs the mail stack.
 * Integration and end-to-end suites share one real stack per jest run (globalSetup) and run in band:
 * they assert on connection counts and mailbox state, which parallel workers would muddle.
 */
// Transpile only (isolatedModules in tsconfig.jest.json): type errors are caught once by `npm run typecheck`,
// which `npm test` runs first, instead of ts-jest type-checking every suite again (~10 s per project).
const tsTransform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] };
// Crawl only the source trees: .cache/ holds a whole n8n install for the e2e suite (gigabytes of files).
const roots = ['<rootDir>/test', '<rootDir>/nodes', '<rootDir>/credentials'];

module.exports = {
	// jest-circus reads the timeout only at the top level, not per project. Integration tests wait for real servers.
	testTimeout: 30000,
	projects: [
		{
			displayName: 'unit',
			testEnvironment: 'node',
			transform: tsTransform,
			testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
			roots,
			modulePathIgnorePatterns: ['<rootDir>/.cache/'],
		},
		{
			displayName: 'integration',
			testEnvironment: 'node',
			transform: tsTransform,
			testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
			roots,
			modulePathIgnorePatterns: ['<rootDir>/.cache/'],
			// One real mail stack (Dovecot, Postfix, token server) per jest run; test files reach it with getStack().
			globalSetup: '<rootDir>/test/stack/jest/globalSetup.js',
			globalTeardown: '<rootDir>/test/stack/jest/globalTeardown.js',
			setupFilesAfterEnv: ['<rootDir>/test/stack/jest/afterEachFile.ts'],
		},
		{
			// A real n8n 2.x (Node 24, pinned, cached in .cache/e2e) with the packed package installed as a community
			// package; the tests set their own long timeouts (the first run installs n8n).
			displayName: 'e2e',
			testEnvironment: 'node',
			transform: tsTransform,
			testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
			roots,
			modulePathIgnorePatterns: ['<rootDir>/.cache/'],
		},
	],
};
