// The e2e tier runs the built apps (dist/): the local stack as for the integration tier, then ONE
// build for the whole run. A compile error fails the run here, with the compiler's output, instead
// of leaving tests to start stale builds.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');
const stack = require('./stack.global-setup');

module.exports = async function globalSetup() {
  await stack();
  const root = join(__dirname, '..', '..');
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  } catch {
    throw new Error('the build failed (npx tsc -p tsconfig.build.json): the e2e tests run the built apps');
  }
};
