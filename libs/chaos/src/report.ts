import type { ChaosReport } from './types';

const COLUMNS = ['scenario', 'cycles', '202s', 'missing', 'duplicated', 'mismatches', 'heal s', 'result'] as const;

function rows(r: ChaosReport): string[][] {
  return r.scenarios.map((s) => [
    s.name,
    String(s.cycles),
    String(s.accepted),
    String(s.missing),
    String(s.duplicated),
    String(s.mismatches),
    s.healSeconds.toFixed(1),
    s.ok ? (s.refusal ? `refused: ${s.refusal}` : 'ok') : 'FAILED',
  ]);
}

/** The table for a terminal. */
export function renderTable(r: ChaosReport): string {
  const all = [[...COLUMNS], ...rows(r)];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => (i === 0 || i === row.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const failed = r.scenarios.filter((s) => !s.ok).map((s) => `  ${s.name}: ${s.failures.join('; ')}`);
  return [
    ...all.map(line),
    '',
    `${r.ok ? 'ALL PASSED' : 'FAILED'}: ${r.scenarios.length} scenarios in ${r.seconds} s (seed ${r.seed}${r.quick ? ', quick' : ''})`,
    ...failed,
  ].join('\n');
}

/** RELIABILITY.md: the table, what each column means, each scenario's notes, and the command. */
export function renderReliability(r: ChaosReport): string {
  const table = [
    `| ${COLUMNS.join(' | ')} |`,
    `| ${COLUMNS.map((_, i) => (i === 0 || i === COLUMNS.length - 1 ? '---' : '---:')).join(' | ')} |`,
    ...rows(r).map((row) => `| ${row.map((c, i) => (i === 0 ? `\`${c}\`` : c)).join(' | ')} |`),
  ];
  const notes = r.scenarios.flatMap((s) => [`- \`${s.name}\` (${s.seconds} s): ${[...s.notes, ...s.failures.map((f) => `FAILED: ${f}`)].join('; ') || '—'}`]);
  return `# Reliability

What \`npm run chaos\` found on ${r.startedAt.slice(0, 10)}: every fault scenario against the whole
pipeline (api, aggregator, projector as processes) on the local 3-broker cluster (RF 3,
\`min.insync.replicas=2\`, unclean election off), under open-loop like/unlike load from the load
generator. Machine: 2 cores, everything co-located. ${r.ok ? 'Every scenario passed.' : '**Some scenarios failed** (see below).'}

Command: \`${r.command}\` (${r.seconds} s, seed ${r.seed}${r.quick ? ', quick: fewer cycles' : ''}).
\`npm run chaos -- --json\` prints the same as one document; \`--quick\` runs every scenario with
fewer cycles; \`--only kill-api,redis-loss\` runs some.

${table.join('\n')}

Columns: **cycles** faults injected (each followed by its recovery); **202s** requests answered
202; **missing** / **duplicated** 202'd eventIds absent from \`likes.events\` / present more than
once (read back from the log); **mismatches** posts where \`doubletap verify\` (a recount of the log)
or the read API differ from the load generator's ground truth (requests with an unknown outcome,
503s and timeouts, widen a post's expected count to a range); **heal s** the worst time from the end
of a fault until every app answered \`/ready\` 200 again (for a refusal: until the refusal showed).
Every scenario also checks that no key of \`likes.counts\` ends on a stale count (the record with the
highest source offset is the last one, so compaction never serves a count that went backwards).

Refusals are the right answer where the log itself changed under the stores: a recreated topic, a
changed partition count, records deleted before the store applied them. The partition stops,
\`/ready\` answers 503 naming the reason, \`doubletap_aggregator_partition_stopped{reason}\` is 1, a log
line says it, and no count changes (docs/operations.md says what to do for each).

## What each scenario saw

${notes.join('\n')}
`;
}
