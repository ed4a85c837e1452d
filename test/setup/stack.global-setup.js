// Brings the local stack up once per test run when it is not already healthy (idempotent), so
// `npm test` works on a fresh machine. The stack is left running for the next run; stop it with
// `npm run stack:down`. When the run tests the read side on a Redis Cluster too
// (DOUBLETAP_REDIS_TARGETS, default single and cluster when redis-server is installed: see
// libs/testing/src/redis-targets.ts), the local cluster is started the same way and left running.
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

function clusterWanted() {
  const text = (process.env.DOUBLETAP_REDIS_TARGETS || '').trim();
  if (text) return text.split(',').some((s) => s.trim() === 'cluster');
  try {
    execFileSync('bash', ['-c', 'command -v redis-server && command -v redis-cli'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

module.exports = async function globalSetup() {
  const dir = join(__dirname, '..', '..', 'scripts', 'stack');
  const script = join(dir, 'stack.sh');
  try {
    execFileSync('bash', [script, 'status'], { stdio: 'ignore' });
  } catch {
    execFileSync('bash', [script, 'up'], { stdio: 'inherit' });
  }
  const cluster = join(dir, 'redis-cluster.sh');
  if (existsSync(cluster) && clusterWanted()) {
    try {
      execFileSync('bash', [cluster, 'status'], { stdio: 'ignore' });
    } catch {
      execFileSync('bash', [cluster, 'up'], { stdio: 'inherit' });
    }
  }
};
