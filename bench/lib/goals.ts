/**
 * The issues' "done when" figures, read off one `npm run bench` document and checked against their
 * thresholds, so the summary says in one table which goals this run met and which it did not.
 * Issue 12 (the api) is judged whole in the full run; issue 11's throughput and restore figures
 * come from the run's `bench:aggregate` (its memory goal needs `BENCH_DISTINCT=1`, a run of its own).
 */
import { FAST_REFUSAL_MS, type LoadReport } from '@doubletap/loadgen';
import { get } from './common';

type Json = Record<string, unknown>;

export interface Goal {
  issue: 11 | 12;
  goal: string;
  /** the figure as measured, with its unit */
  measured: string;
  /** undefined: not measured in this run */
  met: boolean | undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const r2 = (v: number) => Math.round(v * 100) / 100;

/** A ratio goal: measured ≥ (or ≤) the threshold; not met when the figure is missing from the run. */
function ratio(issue: Goal['issue'], goal: string, value: number | undefined, test: (v: number) => boolean, unit = '×'): Goal {
  return { issue, goal, measured: value === undefined ? 'not measured' : `${r2(value)}${unit}`, met: value === undefined ? undefined : test(value) };
}

export function doneWhen(doc: object): Goal[] {
  const goals: Goal[] = [];
  const ingest = get(doc, 'benchmarks.ingest.result.rows') as Json[] | undefined;
  const ingestShare = ingest && ingest.length > 1 ? Number(ingest[1].reqPerSec) / Number(ingest[0].reqPerSec) : undefined;
  const client = typeof ingest?.[1]?.client === 'string' ? ingest[1].client : 'default client';
  goals.push(ratio(12, `ingest ≥ 0.5× hello-world (${client})`, ingestShare, (v) => v >= 0.5));
  const reads = get(doc, 'benchmarks.reads.result') as Json | undefined;
  goals.push(ratio(12, 'GET one post ≥ 0.7× hello-world', num(get(reads, 'ratios.getOneVsHello')), (v) => v >= 0.7));
  goals.push(ratio(12, 'likedByViewer ≥ 0.5× the plain GET', num(get(reads, 'ratios.viewerVsGetOne')), (v) => v >= 0.5));
  const viewerRow = ((reads?.rows as Json[] | undefined) ?? []).find((r) => String(r.target).includes('likedByViewer'));
  goals.push(ratio(12, 'likedByViewer p99 ≤ 50 ms', num(viewerRow?.p99ms), (v) => v <= 50, ' ms'));
  const runs = (get(doc, 'viral.runs') as Json[] | undefined) ?? [];
  if (runs.length === 0) goals.push({ issue: 12, goal: 'viral runs at 80 % and 150 %', measured: 'not run', met: undefined });
  for (const run of runs) {
    const rep = run.report as LoadReport;
    const at = `viral ${Math.round(Number(run.share) * 100)} %`;
    const q = rep.requests;
    goals.push({ issue: 12, goal: `${at}: no client timeouts`, measured: `${q.timeouts}`, met: q.timeouts === 0 });
    goals.push(ratio(12, `${at}: p99 of the 202s ≤ 250 ms`, num(rep.acceptedLatencyMs.p99), (v) => v <= 250, ' ms'));
    // the excess is refused fast: at least 99 % of the 503s within FAST_REFUSAL_MS of their scheduled time
    goals.push({
      issue: 12,
      goal: `${at}: the excess refused with fast 503s (≥ 99 % within ${FAST_REFUSAL_MS} ms)`,
      measured: `${q.refused === 0 ? 'none refused' : `${Math.floor((q.fastRefusals / q.refused) * 1000) / 10} % of ${q.refused.toLocaleString('en-US')}`}, p50 ${rep.refusedLatencyMs.p50} ms`,
      met: q.refused === 0 || q.fastRefusals / q.refused >= 0.99,
    });
    goals.push({ issue: 12, goal: `${at}: 0 mismatches`, measured: rep.check ? `${rep.check.mismatchCount}` : 'no check', met: rep.check ? rep.check.ok && rep.check.mismatchCount === 0 : undefined });
    const gen = rep.cpu.generator?.usPerRequest;
    const api = rep.cpu.api?.usPerRequest;
    goals.push(ratio(12, `${at}: generator CPU per request ≤ 0.5× the api's`, gen !== undefined && api ? gen / api : undefined, (v) => v <= 0.5));
  }
  const agg = get(doc, 'benchmarks.aggregate.result') as Json | undefined;
  goals.push(ratio(11, 'apply a backlog ≥ 0.5× plain consume', num(get(agg, 'apply.vsBaseline')), (v) => v >= 0.5));
  goals.push(ratio(11, 'replay from the earliest offset ≥ 0.6× plain consume', num(get(agg, 'replay.vsBaseline')), (v) => v >= 0.6));
  goals.push(ratio(11, 'a moved partition restored from the changelog ≥ 10× faster than replayed', num(get(agg, 'changelogRestore.movedPartition.vsReplay')), (v) => v >= 10));
  return goals;
}

/** The summary's table: one line per goal, ✓ met, ✗ not met, — not measured. */
export function goalsTable(goals: readonly Goal[]): string[] {
  const mark = (g: Goal) => (g.met === undefined ? '—' : g.met ? '✓' : '✗');
  const api = goals.filter((g) => g.issue === 12);
  const allApi = api.every((g) => g.met === true);
  return [
    `Done-when figures of this run (issue 12 ${allApi ? '**all met in this run**' : `**${api.filter((g) => g.met !== true).length} of ${api.length} not met**`}; issue 11's memory goal needs \`BENCH_DISTINCT=1 npm run bench:aggregate\`):`,
    '',
    '| issue | goal | this run | met |',
    '| --- | --- | --- | --- |',
    ...goals.map((g) => `| ${g.issue} | ${g.goal} | ${g.measured} | ${mark(g)} |`),
  ];
}
