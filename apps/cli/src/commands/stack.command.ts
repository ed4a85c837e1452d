import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';

const SCRIPT = join(__dirname, '..', '..', '..', '..', '..', 'scripts', 'stack', 'stack.sh');

/** `doubletap stack up|status|down|env`: the local stack script, reachable from the CLI. */
export function registerStack(program: Command): void {
  program
    .command('stack')
    .description('run the local stack (Kafka, schema registry, Redis): up, status, down, env')
    .argument('<action>', 'up | status | down | env')
    .option('--json', 'status as one JSON document')
    .action((action: string, opts: { json?: boolean }) => {
      if (!['up', 'status', 'down', 'env'].includes(action)) {
        process.stderr.write(`doubletap: unknown stack action "${action}" (up, status, down, env)\n`);
        process.exitCode = 2;
        return;
      }
      const args = [SCRIPT, action, ...(opts.json && action === 'status' ? ['--json'] : [])];
      const result = spawnSync('bash', args, { stdio: 'inherit' });
      process.exitCode = result.status ?? 1;
    });
}
