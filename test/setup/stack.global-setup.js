// Brings the local stack up once per test run when it is not already healthy (idempotent), so
// `npm test` works on a fresh machine. The stack is left running for the next run; stop it with
// `npm run stack:down`.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

module.exports = async function globalSetup() {
  const script = join(__dirname, '..', '..', 'scripts', 'stack', 'stack.sh');
  try {
    execFileSync('bash', [script, 'status'], { stdio: 'ignore' });
  } catch {
    execFileSync('bash', [script, 'up'], { stdio: 'inherit' });
  }
};
