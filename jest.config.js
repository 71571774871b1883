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
	],
};
