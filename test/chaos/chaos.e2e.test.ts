import { runChaos, type ScenarioResult } from '@doubletap/chaos';

// The subset of `npm run chaos` that runs with every `npm test`: a zombie aggregator, a slow
// (SIGSTOPped) leader broker and the schema registry down for 30 s, each under open-loop load on
// the 3-broker cluster profile (brought up when it is not running), each ending with the three
// checks (every 202'd eventId in the log exactly once, `doubletap verify`, read API = ground truth).
jest.setTimeout(15 * 60_000);

describe('chaos subset on the 3-broker cluster', () => {
  let results: ScenarioResult[] = [];

  beforeAll(async () => {
    const report = await runChaos({
      seed: 7,
      quick: true,
      only: ['zombie-aggregator', 'slow-broker', 'registry-down'],
      command: 'jest test/chaos',
      log: (line) => process.stderr.write(`${line}\n`),
    });
    results = report.scenarios;
  });

  it.each(['zombie-aggregator', 'slow-broker', 'registry-down'])('%s: every 202 in the log once, counts exact after the fault', (name) => {
    const r = results.find((s) => s.name === name);
    expect(r).toBeDefined();
    expect(r!.failures).toEqual([]);
    expect(r!.cycles).toBeGreaterThanOrEqual(1);
    expect(r!.accepted).toBeGreaterThan(0);
    expect({ missing: r!.missing, duplicated: r!.duplicated, mismatches: r!.mismatches, staleCounts: r!.staleCounts }).toEqual({
      missing: 0,
      duplicated: 0,
      mismatches: 0,
      staleCounts: 0,
    });
  });
});
