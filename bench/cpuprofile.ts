/**
 * Where the aggregator's CPU goes, per function (ADR 0021). Two ways to run it (after a build):
 *
 *   node -r ./scripts/paths.js dist/bench/cpuprofile.js
 *     pre-fills a fresh likes.events with BENCH_EVENTS (300,000) LIKE/UNLIKE events over
 *     BENCH_PAIRS (BENCH_EVENTS/8) pairs on BENCH_PARTITIONS (4) partitions, runs the built
 *     aggregator on an empty data dir under `node --cpu-prof` until it has replayed them all, stops
 *     it, and prints its CPU per event and the top self-time functions of the profile
 *     (bench/results/cpuprofile-<ts>.cpuprofile: open it in Chrome DevTools or speedscope for the
 *     flame graph). BENCH_NODE_ARGS adds node flags; the aggregator's own environment variables
 *     (AGGREGATOR_FETCH_PARTITION_BYTES, ...) pass through.
 *
 *   node -r ./scripts/paths.js dist/bench/cpuprofile.js <file.cpuprofile>
 *     prints the same summary of an existing profile (e.g. one `BENCH_PROFILE=1 npm run bench:aggregate` wrote).
 *
 * BENCH_PROFILE=0 runs the same replay without the profiler (CPU per event only: the fetch-size
 * sweep of ADR 0021). BENCH_TOP (25) functions are listed. Shares are of the busy time (samples that are not idle).
 * The JSON summary goes to stdout, the table to stderr.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '@doubletap/config';
import { EventCodec, uuidv7, type LikeEvent } from '@doubletap/events';
import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  ensureTopics,
  topicNames,
  topicOffsets,
  topicSpecs,
  type Kafka,
} from '@doubletap/kafka';
import { likeKey } from '@doubletap/likes';
import { processCpuSeconds } from '@doubletap/loadgen';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import {
  freePort,
  freshNamesEnv,
  peakRssBytes,
  spawnBuilt,
  stopChild,
  uniqueName,
  untilStatus,
} from '@doubletap/testing';
import { intKnob, lcg, ROOT } from './lib/common';
import { summarize } from './lib/profile';

const EVENTS = intKnob('BENCH_EVENTS', 300_000);
const PAIRS = intKnob('BENCH_PAIRS', Math.max(1, Math.floor(EVENTS / 8)));
const POSTS = intKnob('BENCH_POSTS', 2000);
const PARTITIONS = intKnob('BENCH_PARTITIONS', 4);
const TOP = intKnob('BENCH_TOP', 25);
const PROFILE = process.env.BENCH_PROFILE !== '0';

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionShare {
  fn: string;
  /** share of the busy time, % */
  self: number;
  /** share of the busy time spent in it or below it, % */
  total: number;
}

/** Self and inclusive time per function (name + file:line), as shares of the non-idle samples. */
export function functionShares(profile: CpuProfile): {
  busyMs: number;
  idleMs: number;
  functions: FunctionShare[];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (id: number): string => {
    const cf = byId.get(id)!.callFrame;
    const file = cf.url
      .replace(/^.*node_modules\//, '')
      .replace(/^.*\/dist\//, '')
      .replace(/^file:\/\//, '');
    return `${cf.functionName || '(anonymous)'}${file ? ` ${file}:${cf.lineNumber + 1}` : ''}`;
  };
  const selfById = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfById.set(id, (selfById.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (const [id, t] of selfById) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') {
      idle += t;
      continue;
    }
    busy += t;
    const fn = name(id);
    self.set(fn, (self.get(fn) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = name(cur);
      if (f === '(root)' || seen.has(f)) continue;
      seen.add(f);
      total.set(f, (total.get(f) ?? 0) + t);
    }
  }
  const pct = (t: number) => Number(((100 * t) / Math.max(busy, 1)).toFixed(1));
  const functions = [...self]
    .sort((a, b) => b[1] - a[1])
    .map(([fn, t]) => ({ fn, self: pct(t), total: pct(total.get(fn) ?? t) }));
  return { busyMs: Math.round(busy / 1000), idleMs: Math.round(idle / 1000), functions };
}

function report(file: string, extra: Record<string, unknown> = {}): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const shares = functionShares(profile);
  const components = summarize(profile, file).byComponent;
  log(`profile ${file}: ${shares.busyMs} ms busy, ${shares.idleMs} ms idle`);
  log(`by component (of all samples): ${components.map((c) => `${c.component} ${c.percent}%`).join(', ')}`);
  log('  self%  total%  function (of the busy time)');
  for (const f of shares.functions.slice(0, TOP))
    log(`${f.self.toFixed(1).padStart(7)} ${f.total.toFixed(1).padStart(7)}  ${f.fn}`);
  process.stdout.write(
    `${JSON.stringify({ file, ...extra, busyMs: shares.busyMs, byComponent: components, top: shares.functions.slice(0, TOP) }, null, 2)}\n`,
  );
}

async function fill(kafka: Kafka, codec: EventCodec, topic: string): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const next = lcg(1);
  try {
    for (let i = 0; i < EVENTS; i += 20_000) {
      const size = Math.min(20_000, EVENTS - i);
      const messages = new Array<{ key: string; value: Buffer }>(size);
      for (let j = 0; j < size; j++) {
        const pair = Math.floor(PAIRS * next() ** 2);
        const e: LikeEvent = {
          eventId: uuidv7(),
          postId: `p${pair % POSTS}`,
          userId: `u${pair}`,
          action: next() < 0.7 ? 'LIKE' : 'UNLIKE',
          occurredAt: Date.now(),
        };
        messages[j] = { key: likeKey(e.postId, e.userId), value: codec.encodeLikeNow(e)! };
      }
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Polls the aggregator until every partition is live at the log end with nothing left to publish. */
async function untilReplayed(url: string, kafka: Kafka, topic: string, exited: () => boolean): Promise<void> {
  const ends = await topicOffsets(kafka, topic);
  for (;;) {
    try {
      const res = await fetch(`${url}/internal/partitions`);
      const { partitions } = (await res.json()) as {
        partitions: Array<{ partition: number; storedOffset: number | null; phase: string; dirty: number }>;
      };
      const done = ends.every(
        (e) =>
          e.high === e.low ||
          partitions.some(
            (s) =>
              s.partition === e.partition &&
              s.storedOffset === e.high - 1 &&
              s.phase === 'live' &&
              s.dirty === 0,
          ),
      );
      if (done) return;
    } catch {
      // starting
    }
    if (exited()) throw new Error('the aggregator exited');
    await sleep(200);
  }
}

async function run(): Promise<void> {
  const base = uniqueName('bench-cpuprof');
  const dataDir = await mkdtemp(join(tmpdir(), 'dt-bench-cpuprof-'));
  const env: Record<string, string> = {
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...freshNamesEnv(base),
    TOPIC_PARTITIONS: String(PARTITIONS),
  };
  const settings = loadSettings({ ...process.env, ...env });
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'bench-cpuprofile' });
  await ensureTopics(kafka, topicSpecs(settings.topics));
  const codec = new EventCodec(settings.registry.url, settings.topics);
  await codec.init();
  const name = `cpuprofile-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    log(
      `pre-filling ${settings.topics.events}: ${EVENTS} events over ${PAIRS} pairs, ${PARTITIONS} partitions`,
    );
    await fill(kafka, codec, settings.topics.events);
    const port = await freePort();
    const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const nodeArgs = PROFILE
      ? [
          ...extra,
          '--cpu-prof',
          `--cpu-prof-dir=${join(ROOT, 'bench', 'results')}`,
          `--cpu-prof-name=${name}.cpuprofile`,
        ]
      : extra;
    const started = Date.now();
    const child = spawnBuilt(
      'apps/aggregator/src/main.js',
      { ...env, AGGREGATOR_DATA_DIR: dataDir, AGGREGATOR_PORT: String(port) },
      undefined,
      { nodeArgs, stdout: 'ignore' },
    );
    const url = `http://127.0.0.1:${port}`;
    await untilStatus(`${url}/health`, (s) => s === 200, 'aggregator', { child, timeoutMs: 120_000 });
    await untilReplayed(url, kafka, settings.topics.events, () => child.exitCode !== null);
    const ms = Date.now() - started;
    const cpuSeconds = processCpuSeconds(child.pid) ?? null;
    const peakRss = peakRssBytes(child.pid);
    await stopChild(child, 60_000);
    log(
      `replayed ${EVENTS} events in ${ms} ms; aggregator CPU ${cpuSeconds ?? 'n/a'} s${cpuSeconds === null ? '' : ` (${((cpuSeconds * 1e6) / EVENTS).toFixed(1)} µs per event)`}; peak RSS ${peakRss === null ? 'n/a' : `${Math.round(peakRss / 1048576)} MiB`}`,
    );
    const measured = {
      events: EVENTS,
      ms,
      eventsPerSecond: Math.round((EVENTS * 1000) / ms),
      cpuSeconds,
      cpuMicrosPerEvent: cpuSeconds === null ? null : Number(((cpuSeconds * 1e6) / EVENTS).toFixed(1)),
      peakRssMiB: peakRss === null ? null : Math.round(peakRss / 1048576),
    };
    if (PROFILE) report(join(ROOT, 'bench', 'results', `${name}.cpuprofile`), measured);
    else process.stdout.write(`${JSON.stringify(measured, null, 2)}\n`);
  } finally {
    await deleteTopics(kafka, topicNames(settings.topics)).catch(() => undefined);
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const file = process.argv[2];
(file ? Promise.resolve(report(file)) : run()).catch((e: unknown) => {
  process.stderr.write(`bench/cpuprofile failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
