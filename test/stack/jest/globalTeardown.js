/** See globalSetup.js: the TypeScript teardown, loaded through tsx instead of ts-jest. */
const { require: requireTypeScript } = require('tsx/cjs/api');

module.exports = requireTypeScript('./globalTeardown.ts', __filename).default;
