import type { CpuUse } from './cpu';
import { FAST_REFUSAL_MS, type LoadReport } from './runner';

/** "generator 12.3 µs/request (0.25 cores), api 40.1 µs/request (0.8 cores)" */
export function cpuLine(cpu: Record<string, CpuUse | null>): string {
  return Object.entries(cpu)
    .map(([name, c]) =>
      c ? `${name} ${c.usPerRequest} µs/request (${c.cores} cores)` : `${name} not measured`,
    )
    .join(', ');
}

/** The human summary of a load run. */
export function renderReport(r: LoadReport): string {
  const q = r.requests;
  const l = r.latencyMs;
  const f = r.freshness;
  const a = r.acceptedLatencyMs;
  const rl = r.refusedLatencyMs;
  const statuses = Object.entries(q.byStatus)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const lines = [
    `${r.scenario} load on ${r.url} (run ${r.runId}): ${r.seconds} s`,
    `  requests   scheduled ${q.scheduled}, sent ${q.sent}, accepted ${q.accepted} (${q.acceptedPerSecond}/s), refused ${q.refused} (${q.fastRefusals} within ${FAST_REFUSAL_MS} ms), timeouts ${q.timeouts}, errors ${q.errors}`,
    `  outcomes   ${statuses || 'none'}`,
    `  latency    p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, p99.9 ${l.p999} ms, max ${l.max} ms (every answer, from the scheduled time)`,
    `  accepted   p50 ${a.p50} ms, p99 ${a.p99} ms, p99.9 ${a.p999} ms, max ${a.max} ms (202s only)`,
    `  refused    ${rl.count ? `p50 ${rl.p50} ms, p99 ${rl.p99} ms, max ${rl.max} ms (503 overloaded only)` : 'none'}`,
    `  cpu        ${cpuLine(r.cpu)}`,
    f.ms
      ? `  freshness  p50 ${f.ms.p50} ms, p99 ${f.ms.p99} ms, max ${f.ms.max} ms (${f.observed}/${f.samples} samples on ${f.post}, ${f.method}${f.unresolved ? `, ${f.unresolved} not seen` : ''})`
      : `  freshness  ${f.method === 'off' ? 'not measured' : `no sample observed (${f.samples} taken, ${f.method})`}`,
  ];
  const c = r.check;
  if (!c) lines.push('  check      skipped');
  else {
    lines.push(
      `  check      ${c.ok ? 'OK' : 'MISMATCH'}: ${c.posts} posts, ${c.mismatchCount} mismatches, ${c.exactPosts} exact, ${c.uncertainPairs} uncertain (post,user) pairs, waited ${c.waitedMs} ms (read via ${c.source})`,
    );
    for (const m of c.mismatches)
      lines.push(`    ${m.postId}: read ${m.count}, expected ${m.lo === m.hi ? m.lo : `${m.lo}..${m.hi}`}`);
  }
  return lines.join('\n');
}
