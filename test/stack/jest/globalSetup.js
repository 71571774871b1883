/**
 * Jest loads global setup outside the test sandbox through the project's transform; ts-jest would type-check the
 * whole stack there first (about 10 s per run). tsx transpiles it in about a second; types are checked by tsc.
 */
const { require: requireTypeScript } = require('tsx/cjs/api');

module.exports = requireTypeScript('./globalSetup.ts', __filename).default;
