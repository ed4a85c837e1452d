import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { ROOT } from './common';

/** Where the time of a CPU profile went: share per component (kafkajs, avsc, LevelDB, our libs) and the top functions. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  byComponent: Array<{ component: string; percent: number }>;
  topFunctions: Array<{ fn: string; percent: number }>;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

function component(url: string): string {
  if (!url) return '(native, gc, idle)';
  if (url.includes('node_modules/kafkajs')) return 'kafkajs';
  if (url.includes('node_modules/avsc')) return 'avsc';
  if (url.includes('classic-level') || url.includes('abstract-level')) return 'classic-level';
  if (url.includes('node_modules/pino')) return 'pino';
  const lib = /\/dist\/libs\/([^/]+)\//.exec(url);
  if (lib) return `libs/${lib[1]}`;
  if (url.includes('/dist/apps/')) return 'apps';
  if (url.includes('/dist/bench/')) return 'bench';
  if (url.startsWith('node:')) return 'node core';
  return 'other';
}

export function summarize(profile: CpuProfile, file: string, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const components = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, t] of self) {
    const cf = byId.get(id)!.callFrame;
    const c = component(cf.url);
    components.set(c, (components.get(c) ?? 0) + t);
    const fn = `${cf.functionName || '(anonymous)'} (${c === 'other' || c === 'node core' ? cf.url.split('/').pop() : c}${cf.url ? `:${cf.lineNumber + 1}` : ''})`;
    functions.set(fn, (functions.get(fn) ?? 0) + t);
  }
  const pct = (t: number) => Number(((100 * t) / Math.max(total, 1)).toFixed(1));
  return {
    file,
    totalMs: Math.round(total / 1000),
    byComponent: [...components].sort((a, b) => b[1] - a[1]).map(([c, t]) => ({ component: c, percent: pct(t) })),
    topFunctions: [...functions]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, t]) => ({ fn, percent: pct(t) })),
  };
}

/**
 * Runs `work` under the V8 CPU profiler of this process (the same profile `node --cpu-prof` writes)
 * when `enabled`; writes bench/results/<name>.cpuprofile (open it in Chrome DevTools or speedscope
 * for the flame graph) and returns its summary.
 */
export async function profiled<T>(enabled: boolean, name: string, work: () => Promise<T>): Promise<{ value: T; profile?: ProfileSummary }> {
  if (!enabled) return { value: await work() };
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  let summary: ProfileSummary | undefined;
  try {
    const value = await work();
    summary = await stop(session, name);
    return { value, profile: summary };
  } finally {
    if (!summary) await stop(session, name).catch(() => undefined);
    session.disconnect();
  }
}

async function stop(session: Session, name: string): Promise<ProfileSummary> {
  const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
  const file = `bench/results/${name}.cpuprofile`;
  writeFileSync(join(ROOT, file), JSON.stringify(profile));
  return summarize(profile, file);
}
