import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScale, type ScaleReport } from '@doubletap/scale';

/**
 * The scale-out scenario at a small scale: 3 api replicas behind HAProxy, aggregators 1 → 2 → 3 → 2 (SIGTERM) → 1
 * (kill -9) under open-loop load with a hot post. Exact counts, no 202 lost, every moved partition
 * served again; the timing figures are logged, not asserted (the machine is shared).
 */
describe('scale-out: aggregators 1 → 3 → 1 under load', () => {
  it('keeps every count exact and every 202 in the log, and every moved partition serves again', async () => {
    const lines: string[] = [];
    const report: ScaleReport = await runScale({
      partitions: 6,
      apis: 3,
      rate: 150,
      posts: 30,
      users: 1500,
      connections: 4,
      warmSeconds: 6,
      holdSeconds: 4,
      throughput: null,
      artifactsDir: join(tmpdir(), 'doubletap-scale-evidence'),
      log: (l) => lines.push(l),
    });
    const figures = report.rebalances.map((r) => ({
      step: r.name,
      settledS: (r.settledMs - r.atMs) / 1000,
      startupMs: r.startupMs,
      kept: r.kept.map((k) => `p${k.partition}@${k.owner} pause ${k.pauseMs} ms (baseline ${k.baselineMs})`),
      moved: r.moved.map(
        (m) =>
          `p${m.partition} ${m.from} → ${m.to}: serves after ${m.servesAgainMs} ms (unserved ${m.unservedMs} ms, advances after ${m.advancesMs} ms)`,
      ),
    }));
    console.log(
      `scale e2e: ${report.load.accepted} accepted (${report.load.acceptedPerSecond}/s), ${report.load.refused} refused, ${report.load.timeouts} timeouts, ` +
        `${report.mismatches} mismatches, ${report.missing} missing, drain ${report.drainMs} ms, baseline max gap ${report.baselineMaxGapMs} ms, polling ${JSON.stringify(report.polling)}\n` +
        `${JSON.stringify(figures, null, 2)}\n${lines.join('\n')}` +
        (report.mismatches > 0 ? `\nMISMATCHES: ${JSON.stringify(report.mismatchList, null, 2)}` : ''),
    );
    expect(report.load.accepted).toBeGreaterThan(0);
    expect(report.rebalances).toHaveLength(4);
    expect(report.mismatchList).toEqual([]);
    expect(report.mismatches).toBe(0);
    expect(report.missing).toBe(0);
    // every step moved something, and every moved partition was served again by its new owner
    for (const r of report.rebalances) expect(r.moved.length).toBeGreaterThan(0);
    expect(report.allMovedServed).toBe(true);
    for (const r of report.rebalances) for (const m of r.moved) expect(m.servesAgainMs).not.toBeNull();
  }, 600_000);
});
