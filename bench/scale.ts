/**
 * npm run bench:scale [-- --json] — the scale-out scenario (libs/scale's runScale) against the local
 * stack: 3 api replicas behind HAProxy (libs/balancer), one projector, aggregators 1 → 2 → 3 → 2 (SIGTERM) → 1 (kill -9) under
 * open-loop likes with a hot post (Zipf); then the load stops, everything drains and every post's
 * count is checked against the 202s and a recount of likes.events. Reports per rebalance the pause
 * of the partitions that kept their owner (against a window with no rebalance) and the time until
 * each moved partition is served again, then accepted likes/s at saturation through 1 replica and
 * through HAProxy in front of all of them. Progress on stderr; `--json` prints the result document on stdout (otherwise
 * a summary). Writes bench/results/scale-<ts>.json, and the logs and evidence of a failed run under
 * bench/results/. Exit code 2 when a count is wrong or a 202 is missing from the log.
 * Knobs: BENCH_RATE (400), BENCH_APIS (3), BENCH_PARTITIONS (6), BENCH_WARM (12 s), BENCH_HOLD (10 s),
 * BENCH_SAT_RATE (6000/s offered at saturation), BENCH_SAT_SECONDS (6), BENCH_SAT_CONNECTIONS (256
 * client connections at saturation, either way: many clients), and HAProxy's limits past capacity
 * (ADR 0022; default libs/balancer's): BENCH_LB_MAXCONN (per replica, 0: none), BENCH_LB_MAXQUEUE,
 * BENCH_LB_QUEUE_MS (`BENCH_LB_MAXCONN=0 BENCH_LB_QUEUE_MS=5000` is the balancer before ADR 0022);
 * BENCH_STANDBYS (all | none: a moved partition promoted from a warm standby or restored from the
 * changelog), BENCH_SESSION_MS (3000: the aggregators' KAFKA_SESSION_TIMEOUT_MS, how long a kill -9
 * goes unnoticed).
 */
import { join } from 'node:path';
import { exitCodeOf, runScale, type ScaleReport } from '@doubletap/scale';
import { intKnob, machine, ROOT, writeResult } from './lib/common';

const JSON_OUT = process.argv.includes('--json');
/** a non-negative integer knob, or undefined when not set */
const optionalKnob = (name: string): number | undefined => {
  if (process.env[name] === undefined) return undefined;
  const v = Number(process.env[name]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
};
const log = (line: string) => process.stderr.write(`bench:scale ${line}\n`);

function summary(r: ScaleReport, file: string): string {
  const out = [
    `aggregators: standbys ${r.scenario.standbys}, group session ${r.scenario.sessionTimeoutMs} ms`,
    `load: ${r.load.accepted} accepted (${r.load.acceptedPerSecond}/s offered ${r.scenario.rate}/s via ${r.scenario.balancer}), ${r.load.refused} refused, ${r.load.timeouts} timeouts, p99 of the 202s ${r.load.p99AcceptedMs} ms`,
    `counts: ${r.mismatches} mismatched posts of ${r.posts}, ${r.missing} 202s missing from the log (drain ${r.drainMs} ms)`,
    `baseline (no rebalance): longest stretch without progress ${r.baselineMaxGapMs} ms`,
  ];
  for (const b of r.rebalances) {
    out.push(`${b.name}: settled after ${((b.settledMs - b.atMs) / 1000).toFixed(1)} s`);
    for (const k of b.kept)
      out.push(`  kept p${k.partition} on ${k.owner}: pause ${k.pauseMs} ms (baseline ${k.baselineMs})`);
    for (const m of b.moved)
      out.push(
        `  moved p${m.partition} ${m.from} → ${m.to}: serves after ${m.servesAgainMs} ms, unserved ${m.unservedMs} ms, advances after ${m.advancesMs} ms`,
      );
  }
  for (const t of r.throughput)
    out.push(
      `throughput, ${t.replicas} replica(s) via ${t.via}: ${t.acceptedPerSecond} accepted/s (offered ${t.offered}/s on ${t.connections} connections; p99 of the 202s ${t.p99AcceptedMs} ms, of the 503s ${t.p99RefusedMs} ms; outcomes ${JSON.stringify(t.byStatus)})`,
    );
  for (const m of r.mismatchList) out.push(`MISMATCH ${JSON.stringify(m)}`);
  out.push(`raw: ${file}`);
  return out.join('\n');
}

async function main(): Promise<void> {
  const at = new Date().toISOString();
  const report = await runScale({
    rate: intKnob('BENCH_RATE', 400),
    apis: intKnob('BENCH_APIS', 3),
    partitions: intKnob('BENCH_PARTITIONS', 6),
    warmSeconds: intKnob('BENCH_WARM', 12),
    holdSeconds: intKnob('BENCH_HOLD', 10),
    standbys: process.env.BENCH_STANDBYS ?? 'all',
    sessionTimeoutMs: intKnob('BENCH_SESSION_MS', 3000),
    throughput: {
      rate: intKnob('BENCH_SAT_RATE', 6000),
      seconds: intKnob('BENCH_SAT_SECONDS', 6),
      connections: intKnob('BENCH_SAT_CONNECTIONS', 256),
    },
    balancer: {
      shedding: {
        maxConnPerServer: optionalKnob('BENCH_LB_MAXCONN'),
        maxQueue: optionalKnob('BENCH_LB_MAXQUEUE'),
      },
      timeouts: { queueMs: optionalKnob('BENCH_LB_QUEUE_MS') },
    },
    artifactsDir: join(ROOT, 'bench', 'results'),
    log,
  });
  const doc = {
    at,
    command: `npm run bench:scale${JSON_OUT ? ' -- --json' : ''}`,
    machine: machine(),
    ...report,
  };
  const file = writeResult('scale', at, doc);
  process.stdout.write(JSON_OUT ? `${JSON.stringify({ file, ...doc })}\n` : `${summary(report, file)}\n`);
  process.exitCode = exitCodeOf(report);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:scale: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
