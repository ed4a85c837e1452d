import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** The repository root (this file runs as dist/bench/lib/common.js). */
export const ROOT = join(__dirname, '..', '..', '..');

/** The value at a dotted path in a parsed JSON document (`'benchmarks.reads.result.rows'`), or undefined. */
export function get(o: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
}

/** A positive integer knob from the environment, or `fallback`. */
export function intKnob(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

/** A fast deterministic PRNG (LCG) for synthetic benchmark input: [0, 1). */
export function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

export interface Machine {
  cpus: number;
  cpu?: string;
  node: string;
}

/** The machine a benchmark ran on, as its result document records it. */
export function machine(): Machine {
  return { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version };
}

/**
 * Writes `doc` to bench/results/<kind>-<at, file-safe>.json (bench/results/<at>.json without a kind)
 * and returns that path relative to the repository root.
 */
export function writeResult(kind: string | undefined, at: string, doc: unknown): string {
  const stamp = at.replace(/[:.]/g, '-');
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = `bench/results/${kind ? `${kind}-` : ''}${stamp}.json`;
  writeFileSync(join(ROOT, file), `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}

/**
 * The round with the median rate (the lower middle of an even count), with every round's rate in
 * order: the benches measure their targets in turn, several rounds, so each ratio compares figures
 * taken close together on a machine whose other load changes from minute to minute.
 */
export function medianRound<T extends { reqPerSec: number }>(runs: readonly T[]): T & { rounds: number[] } {
  if (runs.length === 0) throw new Error('medianRound: no rounds');
  const sorted = [...runs].sort((a, b) => a.reqPerSec - b.reqPerSec);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], rounds: runs.map((r) => r.reqPerSec) };
}

/** The local stack's broker pid (its pid file; undefined for an external broker), to charge the broker's CPU to a phase. */
export function brokerPid(): number | undefined {
  try {
    const dir = process.env.DOUBLETAP_STACK_DIR ?? join(ROOT, '.stack');
    return Number(readFileSync(join(dir, 'run', 'kafka.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
