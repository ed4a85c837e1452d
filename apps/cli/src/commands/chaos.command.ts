import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { renderReliability, renderTable, runChaos, SCENARIOS, type ScenarioName } from '@doubletap/chaos';
import { REPO_ROOT } from '@doubletap/testing';
import { output, run } from '../output';

interface ChaosFlags {
  quick?: boolean;
  seed: string;
  only?: string;
  rate: string;
  json?: boolean;
  write: boolean;
  keepLogs?: boolean;
}

/** `doubletap chaos`: the fault scenarios on the 3-broker cluster, a table, RELIABILITY.md, --json. */
export function registerChaos(program: Command): void {
  program
    .command('chaos')
    .description('fault scenarios against the whole pipeline on the local 3-broker cluster under load; exit 1 when one fails')
    .option('--quick', 'every scenario with fewer cycles (under 8 minutes here)')
    .option('--seed <n>', 'seed of the load (post and user choices)', '1')
    .option('--only <names>', `comma-separated scenarios (${SCENARIOS.join(', ')})`)
    .option('--rate <perSecond>', 'open-loop requests/s during each scenario', '150')
    .option('--json', 'print one JSON document {scenarios: [{name, cycles, accepted, missing, duplicated, mismatches, healSeconds}]} (progress on stderr)')
    .option('--no-write', 'do not rewrite RELIABILITY.md')
    .option('--keep-logs', "save every scenario's app logs under the temp dir (by default only a failed scenario's)")
    .addHelpText(
      'after',
      `
Each scenario runs on its own pipeline (api, aggregator, projector as processes; fresh topics) and
ends with three checks: every 202'd eventId is in likes.events exactly once, \`doubletap verify\`
finds no mismatch, and the read API equals the load generator's ground truth. Where refusing is
right (topic-recreated, partitions-added, log-truncated) it checks the refusal instead: the
partition stops, /ready says why, a metric and a log line say it, and no count changes.
The cluster profile (\`npm run stack:up -- --brokers 3\`) is brought up when it is not running.
Exit codes: 0 every scenario passed, 1 one failed or an error.`,
    )
    .action((opts: ChaosFlags) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const seed = Number(opts.seed);
        if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed ${opts.seed} must be a non-negative integer`);
        const rate = Number(opts.rate);
        if (!Number.isFinite(rate) || rate < 1 || rate > 5000) throw new Error(`--rate ${opts.rate} must be a number in [1, 5000]`);
        const only = opts.only?.split(',').map((s) => s.trim()) as ScenarioName[] | undefined;
        const unknown = only?.filter((n) => !SCENARIOS.includes(n));
        if (unknown?.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);
        const command = ['npm run chaos --', ...(opts.quick ? ['--quick'] : []), `--seed ${seed}`, ...(only ? [`--only ${only.join(',')}`] : [])].join(' ');
        const report = await runChaos({
          seed,
          quick: Boolean(opts.quick),
          only,
          rate,
          keepLogs: Boolean(opts.keepLogs),
          command: command.replace('npm run chaos -- --seed 1', 'npm run chaos'),
          log: (line) => out.info(`${new Date().toISOString().slice(11, 19)} ${line}`),
        });
        if (opts.write && !only) await writeFile(join(REPO_ROOT, 'RELIABILITY.md'), renderReliability(report));
        out.result(
          { ...report, scenarios: report.scenarios.map(({ notes: _n, ...s }) => ({ ...s, notes: _n })) },
          () => renderTable(report),
        );
        return report.ok ? 0 : 1;
      }),
    );
}
