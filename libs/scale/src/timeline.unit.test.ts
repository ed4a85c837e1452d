import {
  advances,
  baselineGaps,
  maxGap,
  ownership,
  rebalanceFigures,
  settled,
  type ServeProbe,
  type Snapshot,
} from './timeline';

const live = (partition: number, storedOffset: number | null) => ({ partition, storedOffset, phase: 'live' });

describe('timeline', () => {
  it('ownership and settled: every partition owned by exactly one member, live', () => {
    const s: Snapshot = { t: 0, byMember: { a: [live(0, 1), live(1, 2)], b: [live(2, 3)] } };
    expect(Object.fromEntries(ownership(s))).toEqual({ 0: 'a', 1: 'a', 2: 'b' });
    expect(settled(s, 3)).toBe(true);
    expect(settled(s, 4)).toBe(false);
    expect(settled({ t: 0, byMember: { a: [live(0, 1)], b: [live(0, 1)] } }, 1)).toBe(false);
    expect(
      settled({ t: 0, byMember: { a: [{ partition: 0, storedOffset: 1, phase: 'catching-up' }] } }, 1),
    ).toBe(false);
  });

  it('advances: the times the highest stored offset grew; maxGap: the longest stretch without one, edges included', () => {
    const snaps: Snapshot[] = [0, 100, 200, 300, 400, 500].map((t, i) => ({
      t,
      byMember: { a: [live(0, [5, 6, 6, 6, 9, 10][i])] },
    }));
    expect(advances(snaps, 0, 0, 500)).toEqual([100, 400, 500]);
    expect(advances(snaps, 0, 150, 450)).toEqual([400]);
    expect(maxGap([100, 400, 500], 0, 500)).toBe(300);
    expect(maxGap([], 0, 500)).toBe(500);
    expect(maxGap([100], 0, 1000)).toBe(900);
    expect(baselineGaps(snaps, 2, 0, 500)).toEqual([300, 500]);
  });

  it('a rebalance: kept partitions give their pause against the baseline, moved ones when the new owner serves', () => {
    // a owns 0 and 1; at t=1000 b joins; 1 moves to b, which serves it from t=2500; 0 stalls 1000..2000
    const snaps: Snapshot[] = [];
    for (let t = 0; t <= 4000; t += 250) {
      const off0 = t < 1000 ? t / 250 : t < 2000 ? 4 : t / 250;
      const off1 = t / 250;
      if (t < 1500) snaps.push({ t, byMember: { a: [live(0, off0), live(1, off1)] } });
      else if (t < 2500)
        snaps.push({
          t,
          byMember: { a: [live(0, off0)], b: [{ partition: 1, storedOffset: 6, phase: 'catching-up' }] },
        });
      else snaps.push({ t, byMember: { a: [live(0, off0)], b: [live(1, off1)] } });
    }
    const probes: ServeProbe[] = snaps.flatMap((s) =>
      Object.entries(s.byMember).flatMap(([member, parts]) =>
        parts.map((p) => ({ t: s.t + 10, partition: p.partition, member, ok: p.phase === 'live' })),
      ),
    );
    const r = rebalanceFigures(
      snaps,
      probes,
      { name: 'join b', at: 1000, settledAt: 2600 },
      [250, 250],
      2,
      500,
    );
    expect(r.before).toEqual({ 0: 'a', 1: 'a' });
    expect(r.after).toEqual({ 0: 'a', 1: 'b' });
    expect(r.kept).toEqual([{ partition: 0, owner: 'a', pauseMs: 1000, baselineMs: 250, excessMs: 750 }]);
    expect(r.moved).toHaveLength(1);
    expect(r.moved[0]).toMatchObject({ partition: 1, from: 'a', to: 'b', servesAgainMs: 1510 });
    // a answered for it last at 1260: nobody served it for 1250 ms
    expect(r.moved[0].unservedMs).toBe(1250);
    // b's offset first passes the one at the trigger (3) at 2500
    expect(r.moved[0].advancesMs).toBe(1500);
    expect(r.maxKeptExcessMs).toBe(750);
    expect(r.maxServesAgainMs).toBe(1510);
  });

  it('a moved partition that is never served again is reported as such', () => {
    const snaps: Snapshot[] = [
      { t: 0, byMember: { a: [live(0, 1)] } },
      { t: 2000, byMember: { b: [{ partition: 0, storedOffset: 1, phase: 'catching-up' }] } },
    ];
    const r = rebalanceFigures(snaps, [], { name: 'kill a', at: 1000, settledAt: 2000 }, [0], 1);
    expect(r.moved).toEqual([
      { partition: 0, from: 'a', to: 'b', servesAgainMs: null, unservedMs: null, advancesMs: null },
    ]);
    expect(r.maxServesAgainMs).toBeNull();
  });
});

describe('rebalanceFigures, owners before the trigger', () => {
  it('a member that missed the last poll before the trigger still counts as the owner', () => {
    const snaps: Snapshot[] = [
      { t: 0, byMember: { a: [live(0, 1)], b: [live(1, 1)] } },
      // b did not answer this poll (busy), then was killed at 600
      { t: 500, byMember: { a: [live(0, 2)] } },
      { t: 3000, byMember: { a: [live(0, 3), live(1, 4)] } },
    ];
    const probes: ServeProbe[] = [{ t: 3010, partition: 1, member: 'a', ok: true }];
    const r = rebalanceFigures(snaps, probes, { name: 'kill b', at: 600, settledAt: 3000 }, [0, 0], 2);
    expect(r.before).toEqual({ 0: 'a', 1: 'b' });
    expect(r.moved).toEqual([
      { partition: 1, from: 'b', to: 'a', servesAgainMs: 2410, unservedMs: 2410, advancesMs: 2400 },
    ]);
    expect(r.kept.map((k) => k.partition)).toEqual([0]);
  });
});

describe('rebalanceFigures, a join', () => {
  it('measures kept partitions from the new member start, and gives its start-up time', () => {
    // p0 stands still 0..4000 (the new member's start-up), then advances every 250 ms
    const snaps: Snapshot[] = [];
    for (let t = 0; t <= 8000; t += 250) snaps.push({ t, byMember: { a: [live(0, t < 4000 ? 1 : t)] } });
    const r = rebalanceFigures(
      snaps,
      [],
      { name: 'join b', at: 100, settledAt: 6000, joinedAt: 4000 },
      [250],
      1,
      500,
    );
    expect(r.startupMs).toBe(3900);
    expect(r.kept).toEqual([{ partition: 0, owner: 'a', pauseMs: 250, baselineMs: 250, excessMs: 0 }]);
    const noJoin = rebalanceFigures(snaps, [], { name: 'x', at: 100, settledAt: 6000 }, [250], 1, 500);
    expect(noJoin.startupMs).toBeNull();
    expect(noJoin.kept[0].pauseMs).toBe(3900);
  });
});
