import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '@doubletap/testing';

describe('local stack', () => {
  it('reports Kafka, the schema registry and Redis healthy', () => {
    const text = execFileSync('bash', [join(REPO_ROOT, 'scripts/stack/stack.sh'), 'status', '--json'], {
      encoding: 'utf8',
    });
    const status = JSON.parse(text) as Record<string, { health: string; address: string }>;
    expect(Object.keys(status).sort()).toEqual(['kafka', 'redis', 'registry']);
    for (const part of Object.values(status)) expect(part.health).toBe('healthy');
  });
});
