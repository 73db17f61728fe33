// The AWS SDK warns on every client that releases after January 2027 need Node 22 (TOOLCHAIN.md).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// Logins (`ncaas login`) are read from the user's config folder: never the developer's own in tests.
process.env.NCAAS_CONFIG_DIR = require('node:fs').mkdtempSync(
  require('node:path').join(require('node:os').tmpdir(), 'ncaas-test-config-'),
);
