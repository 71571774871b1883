/**
 * Three projects so the fast loop (`npm run test:unit`) never needs the mail stack.
 * Integration and end-to-end suites share one real stack per jest run (globalSetup) and run in band:
 * they assert on connection counts and mailbox state, which parallel workers would muddle.
 */
const tsTransform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] };

module.exports = {
	projects: [
		{
			displayName: 'unit',
			testEnvironment: 'node',
			transform: tsTransform,
			testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
		},
		{
			displayName: 'integration',
			testEnvironment: 'node',
			transform: tsTransform,
			testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
			// Crawl only the source trees: .cache/ holds a whole n8n install for the e2e suite (gigabytes of files).
			roots: ['<rootDir>/test', '<rootDir>/nodes', '<rootDir>/credentials'],
			// One real mail stack (Dovecot, Postfix, token server) per jest run; test files reach it with getStack().
			globalSetup: '<rootDir>/test/stack/jest/globalSetup.js',
			globalTeardown: '<rootDir>/test/stack/jest/globalTeardown.js',
			setupFilesAfterEnv: ['<rootDir>/test/stack/jest/afterEachFile.ts'],
			testTimeout: 30000,
		},
	],
};
