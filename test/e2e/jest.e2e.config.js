/**
 * Runs only the end-to-end suites (a real n8n): `npx jest -c test/e2e/jest.e2e.config.js --runInBand`.
 * The suites set their own timeouts (the first run installs n8n for several minutes), so this needs no global one.
 * .cache/ holds the n8n install and per-run user folders: keep jest's module map out of it (duplicate package.json
 * names there make jest warn, and crawling it is slow).
 */
module.exports = {
	rootDir: '../..',
	displayName: 'e2e',
	testEnvironment: 'node',
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
	testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
	modulePathIgnorePatterns: ['<rootDir>/.cache/'],
};
