import { doneWhen, goalsTable } from './goals';

/** A bench document with just the fields the goals read. */
function doc(o: { ingest?: [number, number]; get?: number; viewer?: number; viewerP99?: number; timeouts?: number; p99?: number; refused?: [number, number]; mismatches?: number; cpu?: [number, number] } = {}) {
  const [hello, likes] = o.ingest ?? [40_000, 22_000];
  const [refused, fast] = o.refused ?? [1000, 1000];
  const [gen, api] = o.cpu ?? [18, 42];
  const run = (share: number) => ({
    share,
    report: {
      requests: { timeouts: o.timeouts ?? 0, refused, fastRefusals: fast },
      acceptedLatencyMs: { p99: o.p99 ?? 100 },
      refusedLatencyMs: { p50: 12 },
      check: { ok: (o.mismatches ?? 0) === 0, mismatchCount: o.mismatches ?? 0 },
      cpu: { generator: { usPerRequest: gen }, api: { usPerRequest: api } },
    },
  });
  return {
    benchmarks: {
      ingest: { result: { rows: [{ reqPerSec: hello }, { reqPerSec: likes, client: 'platformatic' }] } },
      reads: {
        result: {
          ratios: { getOneVsHello: o.get ?? 0.8, viewerVsGetOne: o.viewer ?? 0.6 },
          rows: [{ target: 'GET one post + likedByViewer (bearer)', p99ms: o.viewerP99 ?? 9 }],
        },
      },
      aggregate: { result: { apply: { vsBaseline: 0.11 }, replay: { vsBaseline: 0.15 }, changelogRestore: { movedPartition: { vsReplay: 12 } } } },
    },
    viral: { runs: [run(0.8), run(1.5)] },
  };
}

const unmet = (d: object) => doneWhen(d).filter((g) => g.issue === 12 && g.met !== true).map((g) => g.goal);

describe('the done-when figures of a bench run', () => {
  it('holds issue 12 met only when every figure is on the right side of its bound', () => {
    expect(unmet(doc())).toEqual([]);
    expect(goalsTable(doneWhen(doc()))[0]).toContain('all met in this run');
  });

  it.each([
    [{ ingest: [40_000, 19_999] as [number, number] }, 'ingest ≥ 0.5× hello-world (platformatic)'],
    [{ get: 0.69 }, 'GET one post ≥ 0.7× hello-world'],
    [{ viewer: 0.49 }, 'likedByViewer ≥ 0.5× the plain GET'],
    [{ viewerP99: 51 }, 'likedByViewer p99 ≤ 50 ms'],
  ])('names the goal a run missed: %j', (o, goal) => {
    expect(unmet(doc(o))).toEqual([goal]);
    expect(goalsTable(doneWhen(doc(o)))[0]).toContain('1 of 14 not met');
  });

  it('judges each viral run on timeouts, p99, fast refusals, mismatches and the generator cost', () => {
    expect(unmet(doc({ timeouts: 1 }))).toEqual(['viral 80 %: no client timeouts', 'viral 150 %: no client timeouts']);
    expect(unmet(doc({ p99: 251 }))).toHaveLength(2);
    expect(unmet(doc({ refused: [1000, 989] }))).toHaveLength(2);
    expect(unmet(doc({ refused: [1000, 990] }))).toEqual([]);
    expect(unmet(doc({ refused: [0, 0] }))).toEqual([]);
    expect(unmet(doc({ mismatches: 1 }))).toHaveLength(2);
    expect(unmet(doc({ cpu: [22, 42] }))).toHaveLength(2);
  });

  it('says a figure the run did not measure is not met', () => {
    const partial = { benchmarks: {}, viral: { runs: [] } };
    const goals = doneWhen(partial);
    expect(goals.filter((g) => g.issue === 12).every((g) => g.met !== true)).toBe(true);
    expect(goals.find((g) => g.goal.startsWith('ingest'))?.measured).toBe('not measured');
  });

  it("reports issue 11's throughput and restore figures beside the api's", () => {
    const eleven = doneWhen(doc()).filter((g) => g.issue === 11);
    expect(eleven.map((g) => g.met)).toEqual([false, false, true]);
  });
});
