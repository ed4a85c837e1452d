import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '@doubletap/testing';

describe('local stack', () => {
  it('reports Kafka, the schema registry and Redis healthy', () => {
    const text = execFileSync('bash', [join(REPO_ROOT, 'scripts/stack/stack.sh'), 'status', '--json'], {
      encoding: 'utf8',
    });
    const status = JSON.parse(text) as Record<string, { health: string; address: string }>;
    // a multi-instance run's HAProxy (run/haproxy*.pid) is listed too while it runs; it is not a stack part
    const parts = Object.keys(status).filter((k) => !k.startsWith('haproxy'));
    expect(parts.sort()).toEqual(['kafka', 'redis', 'registry']);
    for (const part of parts) expect(status[part].health).toBe('healthy');
  });
});
