import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';

const SCRIPT = join(__dirname, '..', '..', '..', '..', '..', 'scripts', 'stack', 'stack.sh');

/** `doubletap stack up|status|down|env|pids [--brokers 3]`: the local stack script, reachable from the CLI. */
export function registerStack(program: Command): void {
  program
    .command('stack')
    .description('run the local stack (Kafka, schema registry, Redis): up, status, down, env, pids')
    .argument('<action>', 'up | status | down | env | pids')
    .option('--json', 'status or pids as one JSON document')
    .option('--brokers <n>', '1: the single node (default); 3: the cluster profile (scripts/stack/stack.sh fault for faults)')
    .action((action: string, opts: { json?: boolean; brokers?: string }) => {
      if (!['up', 'status', 'down', 'env', 'pids'].includes(action)) {
        process.stderr.write(`doubletap: unknown stack action "${action}" (up, status, down, env, pids)\n`);
        process.exitCode = 2;
        return;
      }
      const args = [
        SCRIPT,
        action,
        ...(opts.json && (action === 'status' || action === 'pids') ? ['--json'] : []),
        ...(opts.brokers ? ['--brokers', opts.brokers] : []),
      ];
      const result = spawnSync('bash', args, { stdio: 'inherit' });
      process.exitCode = result.status ?? 1;
    });
}
