import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StackControl } from '@doubletap/testing';
import { Harness, type ChaosContext } from './harness';
import { ChaosPipeline } from './pipeline';
import { SCENARIO_SPECS } from './scenarios';
import { SCENARIOS, type ChaosReport, type ScenarioName, type ScenarioResult } from './types';

export interface ChaosOptions {
  seed: number;
  quick: boolean;
  /** only these scenarios (default: all, in the listed order) */
  only?: ScenarioName[];
  /** open-loop requests/s during each scenario */
  rate?: number;
  partitions?: number;
  /** the command line the report names */
  command: string;
  log?: (line: string) => void;
  /** called as each scenario ends */
  onScenario?: (r: ScenarioResult) => void;
  /** save the apps' logs of every scenario, not only of those that failed */
  keepLogs?: boolean;
}

/**
 * Runs the fault scenarios on the 3-broker cluster profile (brought up when it is not running),
 * each on a pipeline of its own (fresh topics, groups, key prefix, data dirs) under open-loop load.
 * A scenario that throws is reported as failed with the error; the others still run.
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = o.log ?? (() => undefined);
  const stack = new StackControl({ brokers: 3 });
  log('bringing the 3-broker cluster profile up (if it is not)');
  await stack.up();
  const ctx: ChaosContext = {
    stack,
    stackEnv: await stack.env(),
    seed: o.seed,
    quick: o.quick,
    rate: o.rate ?? 150,
    partitions: o.partitions ?? 6,
    log,
  };
  const names = SCENARIOS.filter((n) => !o.only || o.only.includes(n));
  const scenarios: ScenarioResult[] = [];
  for (const name of names) {
    const result = await runScenario(ctx, name, Boolean(o.keepLogs));
    scenarios.push(result);
    log(`${name}: ${result.ok ? 'ok' : `FAILED (${result.failures.join('; ')})`} in ${result.seconds} s`);
    o.onScenario?.(result);
  }
  return {
    seed: o.seed,
    quick: o.quick,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    ok: scenarios.every((s) => s.ok),
    command: o.command,
    scenarios,
  };
}

async function runScenario(ctx: ChaosContext, name: ScenarioName, keepLogs: boolean): Promise<ScenarioResult> {
  const started = Date.now();
  const spec = SCENARIO_SPECS[name];
  ctx.log(`${name}: starting a pipeline (${spec.aggregators} aggregator${spec.aggregators > 1 ? 's' : ''}, ${ctx.partitions} partitions, RF 3)`);
  let pipeline: ChaosPipeline | undefined;
  let harness: Harness | undefined;
  try {
    // the cluster's parts a previous scenario stopped are back before the next one starts
    await ctx.stack.up();
    pipeline = await ChaosPipeline.start({
      stackEnv: ctx.stackEnv,
      name: `chaos-${name}`,
      partitions: ctx.partitions,
      aggregators: spec.aggregators,
      log: (l) => ctx.log(`[${name}] ${l}`),
    });
    harness = new Harness(ctx, name, pipeline);
    await spec.run(harness);
    return await harness.result(started);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    harness?.fail(`error: ${why.split('\n')[0]}`);
    if (!harness) ctx.log(`[${name}] error: ${why}`);
    const partial = harness ? await harness.result(started).catch(() => undefined) : undefined;
    const base: ScenarioResult = partial ?? {
      name,
      cycles: 0,
      accepted: 0,
      missing: 0,
      duplicated: 0,
      mismatches: 0,
      healSeconds: 0,
      staleCounts: 0,
      notes: [],
      ok: false,
      failures: [],
      seconds: 0,
    };
    const failures = partial ? base.failures : [`error: ${why.split('\n')[0]}`];
    return { ...base, ok: false, failures, seconds: Math.round((Date.now() - started) / 100) / 10 };
  } finally {
    await harness?.close();
    if (pipeline && (keepLogs || !harness || harness.failures.length > 0)) {
      const dir = join(tmpdir(), 'doubletap-chaos', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      await pipeline.saveLogs(dir).then(() => ctx.log(`[${name}] the apps' logs are in ${dir}`), () => undefined);
    }
    await pipeline?.stop().catch((e: unknown) => ctx.log(`[${name}] cleanup failed: ${String(e)}`));
  }
}
