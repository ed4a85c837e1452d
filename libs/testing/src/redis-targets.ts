import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, stackEnv } from './stack';

/** The Redis deployments the read side is tested on (ADR 0017). */
export type RedisTargetName = 'single' | 'cluster';

export interface RedisTarget {
  name: RedisTargetName;
  /** REDIS_URL of the target: the stack's Redis, or redis+cluster://... of scripts/stack/redis-cluster.sh */
  url: string;
}

const CLUSTER_SCRIPT = join(REPO_ROOT, 'scripts/stack/redis-cluster.sh');

/** The cluster script and Debian's redis-server and redis-cli are there (the cluster can be started). */
export function redisClusterAvailable(): boolean {
  if (!existsSync(CLUSTER_SCRIPT)) return false;
  try {
    execFileSync('bash', ['-c', 'command -v redis-server && command -v redis-cli'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * DOUBLETAP_REDIS_TARGETS=single,cluster (either or both); default: both when the cluster can be
 * started, else single. The integration and e2e global setups start the cluster when it is asked for
 * (test/setup/stack.global-setup.js reads the same variable).
 */
export function redisTargetNames(env: Record<string, string | undefined> = process.env): RedisTargetName[] {
  const text = env.DOUBLETAP_REDIS_TARGETS?.trim();
  if (!text) return redisClusterAvailable() ? ['single', 'cluster'] : ['single'];
  const names = text.split(',').map((s) => s.trim());
  for (const n of names) {
    if (n !== 'single' && n !== 'cluster')
      throw new Error(`DOUBLETAP_REDIS_TARGETS: '${n}' is not single or cluster`);
  }
  return [...new Set(names)] as RedisTargetName[];
}

/** The Redis targets to run a read-side test on: `describe.each(redisTargets())('... ($name)', ...)`. */
export function redisTargets(env: Record<string, string | undefined> = process.env): RedisTarget[] {
  return redisTargetNames(env).map((name) => ({
    name,
    url:
      name === 'single'
        ? stackEnv().REDIS_URL
        : execFileSync('bash', [CLUSTER_SCRIPT, 'url'], { encoding: 'utf8' }).trim(),
  }));
}
