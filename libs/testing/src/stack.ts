import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root, from the sources (jest) or from their compiled copy under dist/. */
function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
export const REPO_ROOT = repoRoot();

/** The settings environment for tests: the local stack's addresses, quiet logs. */
export function stackEnv(extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { NODE_ENV: 'test' };
  const text = execFileSync('bash', [join(REPO_ROOT, 'scripts/stack/stack.sh'), 'env'], { encoding: 'utf8' });
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  // the consumer client a test run asks for (KAFKA_CONSUMER_CLIENT=platformatic npx jest …) reaches
  // every app the tests start
  if (process.env.KAFKA_CONSUMER_CLIENT) out.KAFKA_CONSUMER_CLIENT = process.env.KAFKA_CONSUMER_CLIENT;
  return { ...out, ...extra };
}
