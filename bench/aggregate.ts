/**
 * npm run bench:aggregate — the aggregator's throughput and restore times on this machine. The
 * aggregator runs as its own process (the built app), so its CPU profile and peak RSS are its own.
 *  1. pre-fill a fresh likes.events with BENCH_EVENTS LIKE/UNLIKE events over BENCH_PAIRS
 *     (post, user) pairs (skewed: a few pairs and posts get most of the taps), so each pair is
 *     updated BENCH_EVENTS / BENCH_PAIRS times on average;
 *  2. baseline: a plain kafkajs consumer reads the same topic and discards every record; then the
 *     ceiling: the aggregator's own consumer client reads it again in this process, decodes every
 *     record and folds it into maps in memory (no store, no output, one thread) — what no design
 *     built on this client, decoder and fold can exceed on one thread, whatever its store and output;
 *  3. replay: an aggregator with an empty data dir and an empty changelog applies the whole log
 *     from the earliest offset, then writes its stores to the changelog;
 *  4. changelog restore: the partitions move to an aggregator with another empty data dir, which
 *     restores them from the changelog (current state, not history) — `vsReplay` = replay time ÷ this,
 *     both from the process start; `movedPartition.vsReplay` = the same ratio from each partition's
 *     assignment to live (the takeover the aggregator measures), without the process start and join;
 *  5. apply: that aggregator is stopped, BENCH_MORE events are produced, and it applies the backlog
 *     with its stores present (changelog appended per batch).
 * Writes bench/results/aggregate-<ts>.json and the "## Aggregation" section of BENCHMARKS.md; the
 * JSON goes to stdout. BENCH_PROFILE=1 profiles the aggregator process (node --cpu-prof) in
 * phases 3, 4 and 5 and adds where the time went to both.
 * BENCH_LOG_FILE=<path> appends the aggregator's log lines to that file.
 * BENCH_DISTINCT=1 makes every event a LIKE of a new pair (the stores then hold BENCH_EVENTS pairs: the memory run).
 * Knobs: BENCH_EVENTS (1000000), BENCH_PAIRS (BENCH_EVENTS/8), BENCH_POSTS (2000), BENCH_MORE
 * (BENCH_EVENTS/2), BENCH_PARTITIONS (4), BENCH_CONCURRENCY (= partitions).
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, runtimeEnv, type Settings } from '@doubletap/config';
import { EventCodec, uuidv7, type LikeEvent } from '@doubletap/events';
import { createBatchConsumer, createIdempotentProducer, createKafka, deleteTopics, drainTopic, ensureTopics, topicNames, topicOffsets, topicSpecs, type Kafka } from '@doubletap/kafka';
import { foldBatch, likeKey, type LikeFact } from '@doubletap/likes';
import { processCpuSeconds } from '@doubletap/loadgen';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import { storeEngine } from '@doubletap/store';
import { freePort, freshNamesEnv, partitionGauge, peakRssBytes, rssKinds, spawnBuilt, stopChild, uniqueName, untilStatus } from '@doubletap/testing';
import { describeMachine, writeSection } from './lib/benchmarks-md';
import { brokerPid, intKnob, lcg, machine, ROOT, type Machine, writeResult } from './lib/common';
import { summarize, type ProfileSummary } from './lib/profile';

const EVENTS = intKnob('BENCH_EVENTS', 1_000_000);
const PAIRS = intKnob('BENCH_PAIRS', Math.max(1, Math.floor(EVENTS / 8)));
const POSTS = intKnob('BENCH_POSTS', 2000);
const MORE = intKnob('BENCH_MORE', Math.max(1, Math.floor(EVENTS / 2)));
const PARTITIONS = intKnob('BENCH_PARTITIONS', 4);
const CONCURRENCY = intKnob('BENCH_CONCURRENCY', PARTITIONS);
const PROFILE = process.env.BENCH_PROFILE === '1';
/** BENCH_DISTINCT=1: every event LIKEs a new (post, user) pair, so the stores end up holding BENCH_EVENTS pairs (the memory run) */
const DISTINCT = process.env.BENCH_DISTINCT === '1';

const log = (msg: string) => process.stderr.write(`bench:aggregate ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rate = (n: number, ms: number) => Math.round(n / Math.max(ms / 1000, 0.001));

/** Pre-fills the topic: pair i is post p<i mod POSTS>, user u<i>; pairs drawn skewed (r²). */
async function fill(kafka: Kafka, codec: EventCodec, topic: string, n: number, seed: number): Promise<number> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const next = lcg(seed);
  const started = Date.now();
  const CHUNK = 20_000;
  try {
    let pending: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < n; i += CHUNK) {
      const size = Math.min(CHUNK, n - i);
      const now = Date.now();
      const messages = new Array<{ key: string; value: Buffer }>(size);
      for (let j = 0; j < size; j++) {
        const pair = DISTINCT ? (seed - 1) * EVENTS + i + j : Math.floor(PAIRS * next() ** 2);
        const action = DISTINCT || next() < 0.7 ? 'LIKE' : 'UNLIKE';
        const e: LikeEvent = { eventId: uuidv7(), postId: `p${pair % POSTS}`, userId: `u${pair}`, action, occurredAt: now };
        messages[j] = { key: likeKey(e.postId, e.userId), value: codec.encodeLikeNow(e)! };
      }
      await pending; // encode the next chunk while the previous one is in flight
      pending = producer.send({ topic, acks: -1, messages });
      if ((i / CHUNK) % 25 === 0) log(`produced ${i + size}/${n}`);
    }
    await pending;
  } finally {
    await producer.disconnect();
  }
  return Date.now() - started;
}

/**
 * The ceiling of one thread: the aggregator's consumer client (KAFKA_CONSUMER_CLIENT) reads the first
 * `events` records of the topic, decodes each (as the aggregator does: sync, validated) and folds each
 * batch with the aggregator's own fold into maps kept in memory. No store, no changelog, no
 * CountChanged, no transaction: the work every design of the aggregator does at the least.
 */
async function ceiling(kafka: Kafka, settings: Settings, codec: EventCodec, topic: string, events: number): Promise<{ ms: number; cpuSeconds: number }> {
  const membership = new Map<string, boolean>();
  const counts = new Map<string, number>();
  let seen = 0;
  let reached!: () => void;
  const done = new Promise<void>((resolve) => (reached = resolve));
  const consumer = createBatchConsumer(settings, {
    kafka,
    groupId: uniqueName('bench-agg-ceiling'),
    topic,
    fromBeginning: true,
    partitionsConsumedConcurrently: CONCURRENCY,
    handler: {
      async handleBatch(partition, records) {
        const facts = new Array<LikeFact>(records.length);
        const keys = new Array<string>(records.length);
        for (let i = 0; i < records.length; i++) {
          const event = codec.decodeLikeSync(records[i].value);
          if (event === undefined) throw new Error(`ceiling: record ${partition}@${records[i].offset} does not decode`);
          facts[i] = event;
          keys[i] = records[i].key ?? likeKey(event.postId, event.userId);
        }
        const fold = foldBatch({ membership, counts }, facts, partition, records[records.length - 1].offset, keys);
        for (const [key, member] of fold.edits) if (member) membership.set(key, true); else membership.delete(key);
        for (const [postId, count] of fold.counts) counts.set(postId, count);
        seen += records.length;
        if (seen >= events) reached();
      },
    },
  });
  const started = Date.now();
  const cpu = process.cpuUsage();
  await consumer.start();
  try {
    await done;
    const used = process.cpuUsage(cpu);
    return { ms: Date.now() - started, cpuSeconds: Number(((used.user + used.system) / 1e6).toFixed(2)) };
  } finally {
    await consumer.stop();
  }
}

interface Running {
  child: ChildProcess;
  url: string;
  /** the broker's CPU seconds when the aggregator started (null when its pid is unknown) */
  brokerCpuAtStart: number | undefined;
  /** the highest anonymous and file-backed RSS seen by the polls (see rssKinds) */
  peakKinds: { anonBytes: number; fileBytes: number };
}


/** Starts the built aggregator on a data dir (optionally under the CPU profiler). */
async function startAggregator(env: Record<string, string>, dataDir: string, profileName?: string): Promise<Running> {
  const port = await freePort();
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const nodeArgs = profileName ? [...extra, '--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'results')}`, `--cpu-prof-name=${profileName}.cpuprofile`] : extra;
  const brokerCpuAtStart = processCpuSeconds(brokerPid());
  const logFile = process.env.BENCH_LOG_FILE; // the aggregator's log lines (stdout), appended, when set
  const child = spawnBuilt('apps/aggregator/src/main.js', { ...env, AGGREGATOR_DATA_DIR: dataDir, AGGREGATOR_PORT: String(port) }, undefined, {
    nodeArgs,
    stdout: logFile ? 'pipe' : 'ignore',
  });
  if (logFile) child.stdout?.pipe(createWriteStream(logFile, { flags: 'a' }));
  const url = `http://127.0.0.1:${port}`;
  await untilStatus(`${url}/health`, (s) => s === 200, 'aggregator', { child, timeoutMs: 120_000 });
  return { child, url, brokerCpuAtStart, peakKinds: { anonBytes: 0, fileBytes: 0 } };
}

interface CaughtUp {
  /** from `t0` (before the process was spawned) until caught up */
  ms: number;
  /**
   * from the first poll that saw a stored offset move past `startOffsets` until caught up: the
   * steady apply rate without process start, group join and store opening. When the first poll
   * already saw progress, the window starts at the aggregator's first healthy answer (longer, never
   * flattering).
   */
  steadyMs: number;
}

/** Until every partition is live at the log end with nothing left to publish. */
async function untilCaughtUp(agg: Running, kafka: Kafka, topic: string, t0: number, startOffsets: ReadonlyMap<number, number>): Promise<CaughtUp> {
  const ends = await topicOffsets(kafka, topic);
  let firstProgress: number | undefined;
  let lastQuiet = Date.now(); // the aggregator answered /health just before this was called
  for (;;) {
    try {
      const res = await fetch(`${agg.url}/internal/partitions`);
      const { partitions } = (await res.json()) as { partitions: Array<{ partition: number; storedOffset: number | null; phase: string; dirty: number }> };
      const now = Date.now();
      const kinds = rssKinds(agg.child.pid);
      if (kinds) {
        agg.peakKinds.anonBytes = Math.max(agg.peakKinds.anonBytes, kinds.anonBytes);
        agg.peakKinds.fileBytes = Math.max(agg.peakKinds.fileBytes, kinds.fileBytes);
      }
      if (firstProgress === undefined) {
        const moved = partitions.some((s) => s.storedOffset !== null && s.storedOffset !== (startOffsets.get(s.partition) ?? null));
        if (moved) firstProgress = lastQuiet;
        else lastQuiet = now;
      }
      const done = ends.every((e) => e.high === e.low || partitions.some((s) => s.partition === e.partition && s.storedOffset === e.high - 1 && s.phase === 'live' && s.dirty === 0));
      if (done) return { ms: now - t0, steadyMs: now - (firstProgress ?? lastQuiet) };
    } catch {
      // starting
    }
    if (agg.child.exitCode !== null) throw new Error('the aggregator exited');
    await sleep(50); // the restore takes about a second: a coarse poll would be a good part of it
  }
}

/** Stops the aggregator (SIGTERM) and returns its peak RSS (bytes) and, when profiled, the summary. */
async function stopAggregator(
  agg: Running,
  profileName?: string,
): Promise<{ peakRss: number | null; peakKinds: Running['peakKinds']; cpu: CpuUse; profile?: ProfileSummary }> {
  const peakRss = peakRssBytes(agg.child.pid);
  const peakKinds = agg.peakKinds;
  const brokerNow = processCpuSeconds(brokerPid());
  const cpu: CpuUse = {
    aggregatorSeconds: processCpuSeconds(agg.child.pid) ?? null,
    brokerSeconds: brokerNow === undefined || agg.brokerCpuAtStart === undefined ? null : Number((brokerNow - agg.brokerCpuAtStart).toFixed(2)),
  };
  await stopChild(agg.child, 60_000);
  if (!profileName) return { peakRss, peakKinds, cpu };
  const file = `bench/results/${profileName}.cpuprofile`;
  return { peakRss, peakKinds, cpu, profile: summarize(JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Parameters<typeof summarize>[0], file) };
}

/** The changelog restores the aggregator reports in its metrics: the slowest partition's seconds, all their records. */
async function lastRestores(agg: Running): Promise<{ seconds: number; records: number }> {
  const seconds = [...(await partitionGauge(agg.url, 'doubletap_aggregator_changelog_restore_last_seconds')).values()];
  if (seconds.length === 0) throw new Error('the aggregator reports no changelog restore (doubletap_aggregator_changelog_restore_last_seconds)');
  const records = [...(await partitionGauge(agg.url, 'doubletap_aggregator_changelog_restore_last_records')).values()];
  return { seconds: Math.max(...seconds), records: records.reduce((a, b) => a + b, 0) };
}

/** The slowest partition's takeover (assignment → live) the aggregator reports, seconds. */
async function slowestTakeover(agg: Running): Promise<number> {
  const seconds = [...(await partitionGauge(agg.url, 'doubletap_aggregator_partition_takeover_last_seconds')).values()];
  if (seconds.length === 0) throw new Error('the aggregator reports no takeover (doubletap_aggregator_partition_takeover_last_seconds)');
  return Number(Math.max(...seconds).toFixed(3));
}

/** CPU seconds (all threads) the aggregator process and the broker used during one phase. */
interface CpuUse {
  aggregatorSeconds: number | null;
  brokerSeconds: number | null;
}

/** The rate over the steady window (first applied batch → caught up), and its share of the baseline. */
function steady(events: number, ms: number, baseline: number): { ms: number; eventsPerSecond: number; vsBaseline: number } {
  return { ms, eventsPerSecond: rate(events, ms), vsBaseline: Number((rate(events, ms) / baseline).toFixed(3)) };
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

async function main(): Promise<void> {
  const base = uniqueName('bench-agg');
  const dirs = [await mkdtemp(join(tmpdir(), 'dt-bench-agg-a-')), await mkdtemp(join(tmpdir(), 'dt-bench-agg-b-'))];
  const env: Record<string, string> = { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...freshNamesEnv(base), TOPIC_PARTITIONS: String(PARTITIONS) };
  const settings: Settings = loadSettings({ ...process.env, ...env });
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'bench-aggregate' });
  const topics = settings.topics;
  await ensureTopics(kafka, topicSpecs(topics));
  const codec = new EventCodec(settings.registry.url, topics);
  await codec.init();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const profileName = (phase: string) => (PROFILE ? `aggregate-${phase}-${stamp}` : undefined);
  try {
    log(`pre-filling ${topics.events}: ${EVENTS} events over ${PAIRS} pairs (${(EVENTS / PAIRS).toFixed(1)} updates per pair), ${PARTITIONS} partitions`);
    const fillMs = await fill(kafka, codec, topics.events, EVENTS, 1);
    log(`pre-filled in ${fillMs} ms (${rate(EVENTS, fillMs)}/s)`);

    log('baseline: plain kafkajs consume-and-discard');
    const cpuBefore = process.cpuUsage();
    const discard = await drainTopic(kafka, topics.events, { concurrency: CONCURRENCY });
    const cpuDiscard = process.cpuUsage(cpuBefore);
    log(`discarded ${discard.records} in ${discard.ms} ms (${rate(discard.records, discard.ms)}/s)`);
    log(`ceiling: ${settings.kafka.consumerClient} consume + decode + fold in memory, no store and no output, one thread`);
    const top = await ceiling(kafka, settings, codec, topics.events, EVENTS);
    log(`ceiling: ${EVENTS} in ${top.ms} ms (${rate(EVENTS, top.ms)}/s, ${(rate(EVENTS, top.ms) / rate(discard.records, discard.ms)).toFixed(2)}× the baseline)`);

    log('replay: empty stores and an empty changelog, from the earliest offset');
    let t0 = Date.now();
    let agg = await startAggregator(env, dirs[0], profileName('replay'));
    const replayed = await untilCaughtUp(agg, kafka, topics.events, t0, new Map());
    const replayMs = replayed.ms;
    const replayTakeover = await slowestTakeover(agg);
    const replayStop = await stopAggregator(agg, profileName('replay'));
    const storeBytes = dirBytes(dirs[0]);
    log(`replayed ${EVENTS} in ${replayMs} ms (${rate(EVENTS, replayMs)}/s), peak RSS ${Math.round((replayStop.peakRss ?? 0) / 1048576)} MiB`);

    const changelogRecords = (await topicOffsets(kafka, topics.changelog)).reduce((n, o) => n + o.high - o.low, 0);
    log(`changelog restore: the partitions move to an empty data dir (${changelogRecords} changelog offsets)`);
    t0 = Date.now();
    agg = await startAggregator(env, dirs[1], profileName('restore'));
    const restoreMs = (await untilCaughtUp(agg, kafka, topics.events, t0, new Map())).ms;
    const restorePhase = await lastRestores(agg);
    const restoreTakeover = await slowestTakeover(agg);
    const restoreStop = await stopAggregator(agg, profileName('restore'));
    log(`restored in ${restoreMs} ms: ${(replayMs / restoreMs).toFixed(1)}× faster than the replay; the restore itself ${restorePhase.seconds} s (${restorePhase.records} records), ${(replayed.steadyMs / 1000 / restorePhase.seconds).toFixed(1)}× faster than the replay's steady window`);
    log(`moved partitions, assignment → live: ${restoreTakeover} s restored from the changelog vs ${replayTakeover} s replayed (${(replayTakeover / restoreTakeover).toFixed(1)}×)`);

    log(`apply: ${MORE} more events while stopped, then catch up with stores present`);
    const before = new Map((await topicOffsets(kafka, topics.events)).map((o) => [o.partition, o.high - 1]));
    await fill(kafka, codec, topics.events, MORE, 2);
    const discardAll = await drainTopic(kafka, topics.events, { concurrency: CONCURRENCY });
    log(`baseline over the whole topic: ${discardAll.records} in ${discardAll.ms} ms (${rate(discardAll.records, discardAll.ms)}/s)`);
    t0 = Date.now();
    agg = await startAggregator(env, dirs[1], profileName('apply'));
    const applied = await untilCaughtUp(agg, kafka, topics.events, t0, before);
    const applyMs = applied.ms;
    const applyStop = await stopAggregator(agg, profileName('apply'));
    log(`applied ${MORE} in ${applyMs} ms (${rate(MORE, applyMs)}/s)`);

    const at = new Date().toISOString();
    const baseline = rate(discard.records, discard.ms);
    const baselineAll = rate(discardAll.records, discardAll.ms);
    const result = {
      at,
      machine: machine(),
      command: 'npm run bench:aggregate',
      setup: { events: EVENTS, pairs: DISTINCT ? EVENTS : PAIRS, distinct: DISTINCT, updatesPerPair: DISTINCT ? 1 : Number((EVENTS / PAIRS).toFixed(1)), posts: POSTS, more: MORE, partitions: PARTITIONS, concurrency: CONCURRENCY },
      // the LevelDB the aggregator ran on, with the environment it was started with (ADR 0026)
      store: storeEngine({ ...process.env, ...runtimeEnv('aggregator', process.env) }),
      fill: { events: EVENTS, ms: fillMs, eventsPerSecond: rate(EVENTS, fillMs) },
      discardBaseline: { records: discard.records, ms: discard.ms, recordsPerSecond: baseline, cpuSeconds: Number(((cpuDiscard.user + cpuDiscard.system) / 1e6).toFixed(2)), wholeTopic: { records: discardAll.records, ms: discardAll.ms, recordsPerSecond: baselineAll } },
      ceiling: { client: settings.kafka.consumerClient, events: EVENTS, ms: top.ms, eventsPerSecond: rate(EVENTS, top.ms), vsBaseline: Number((rate(EVENTS, top.ms) / baseline).toFixed(3)), cpuSeconds: top.cpuSeconds },
      replay: { events: EVENTS, ms: replayMs, eventsPerSecond: rate(EVENTS, replayMs), vsBaseline: Number((rate(EVENTS, replayMs) / baseline).toFixed(3)), steady: steady(EVENTS, replayed.steadyMs, baseline), storeBytes, peakRssBytes: replayStop.peakRss, peakRssByKind: replayStop.peakKinds, cpu: replayStop.cpu, profile: replayStop.profile },
      changelogRestore: {
        records: changelogRecords,
        seconds: Number((restoreMs / 1000).toFixed(2)),
        eventsPerSecond: rate(EVENTS, restoreMs),
        vsReplay: Number((replayMs / restoreMs).toFixed(1)),
        peakRssBytes: restoreStop.peakRss,
        peakRssByKind: restoreStop.peakKinds,
        cpu: restoreStop.cpu,
        profile: restoreStop.profile,
        // the restore alone (the aggregator's doubletap_aggregator_changelog_restore_last_seconds, the
        // slowest partition: they restore together), against the replay's steady window: neither
        // counts process start, group join nor store opening
        restorePhase: {
          seconds: restorePhase.seconds,
          records: restorePhase.records,
          recordsPerSecond: rate(restorePhase.records, restorePhase.seconds * 1000),
          vsReplaySteady: Number((replayed.steadyMs / 1000 / restorePhase.seconds).toFixed(1)),
        },
        // a moved partition's takeover, from its assignment to the process until it is live (fence,
        // changelog inspection, then the restore or the whole replay and its changelog write, counts
        // published): doubletap_aggregator_partition_takeover_last_seconds, the slowest partition of
        // each phase (they are taken together); the process start and the group join are before it
        movedPartition: {
          replaySeconds: replayTakeover,
          restoreSeconds: restoreTakeover,
          vsReplay: Number((replayTakeover / restoreTakeover).toFixed(1)),
        },
      },
      apply: { events: MORE, ms: applyMs, eventsPerSecond: rate(MORE, applyMs), vsBaseline: Number((rate(MORE, applyMs) / baselineAll).toFixed(3)), steady: steady(MORE, applied.steadyMs, baselineAll), peakRssBytes: applyStop.peakRss, peakRssByKind: applyStop.peakKinds, cpu: applyStop.cpu, profile: applyStop.profile },
      note: 'ms / eventsPerSecond run from the aggregator process start (process boot, group join, store opening and the changelog inspection included) until every partition is live at the log end with its counts published; steady runs from the first applied batch seen by a 50 ms poll to the same end. cpu = CPU seconds of the aggregator process (all threads) and of the broker during the phase; discardBaseline.cpuSeconds = the bench process during the plain consume',
    };
    const file = writeResult('aggregate', at, result);
    writeAggregationSection(result, file);
    log(`wrote ${file} and BENCHMARKS.md`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await deleteTopics(kafka, topicNames(topics)).catch(() => undefined);
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

type Steady = ReturnType<typeof steady>;
type Kinds = Running['peakKinds'];

type Result = {
  at: string;
  machine: Machine;
  setup: { events: number; pairs: number; distinct: boolean; updatesPerPair: number; posts: number; more: number; partitions: number; concurrency: number };
  fill: { eventsPerSecond: number };
  discardBaseline: { recordsPerSecond: number; cpuSeconds: number; wholeTopic: { recordsPerSecond: number; records: number } };
  ceiling: { client: string; eventsPerSecond: number; vsBaseline: number; cpuSeconds: number };
  replay: { eventsPerSecond: number; ms: number; vsBaseline: number; steady: Steady; cpu: CpuUse; storeBytes: number; peakRssBytes: number | null; peakRssByKind: Kinds; profile?: ProfileSummary };
  changelogRestore: {
    records: number;
    seconds: number;
    vsReplay: number;
    peakRssBytes: number | null;
    peakRssByKind: Kinds;
    cpu: CpuUse;
    profile?: ProfileSummary;
    restorePhase: { seconds: number; records: number; recordsPerSecond: number; vsReplaySteady: number };
    movedPartition: { replaySeconds: number; restoreSeconds: number; vsReplay: number };
  };
  apply: { events: number; eventsPerSecond: number; ms: number; vsBaseline: number; steady: Steady; cpu: CpuUse; peakRssBytes: number | null; peakRssByKind: Kinds; profile?: ProfileSummary };
};

function profileLines(title: string, p: ProfileSummary | undefined): string[] {
  if (!p) return [];
  return [
    '',
    `${title} (\`${p.file}\`, ${p.totalMs} ms sampled; open it in Chrome DevTools or speedscope for the flame graph):`,
    '',
    `- by component: ${p.byComponent.slice(0, 8).map((c) => `${c.component} ${c.percent}%`).join(', ')}`,
    `- top functions (self time): ${p.topFunctions.slice(0, 8).map((f) => `${f.fn} ${f.percent}%`).join('; ')}`,
  ];
}

/** "n s CPU (m µs per event)" */
function cpuPer(seconds: number | null, events: number): string {
  return seconds === null ? 'CPU n/a' : `CPU ${Number(seconds.toFixed(2))} s (${((seconds * 1e6) / events).toFixed(1)} µs per event)`;
}

function writeAggregationSection(r: Result, resultFile: string): void {
  const n = (v: number) => v.toLocaleString('en-US');
  const mib = (b: number | null) => (b === null ? 'n/a' : `${n(Math.round(b / 1048576))} MiB`);
  const s = r.setup;
  const rss = (x: { peakRssBytes: number | null; peakRssByKind: Kinds }) =>
    `${mib(x.peakRssBytes)} (of it at most ${mib(x.peakRssByKind.anonBytes)} anonymous, ${mib(x.peakRssByKind.fileBytes)} file-backed)`;
  writeSection(s.distinct ? 'Aggregation memory' : 'Aggregation', [
    'Command: `npm run bench:aggregate` (knobs: `BENCH_EVENTS`, `BENCH_PAIRS`, `BENCH_POSTS`, `BENCH_MORE`, `BENCH_PARTITIONS`, `BENCH_CONCURRENCY`; `BENCH_PROFILE=1` adds CPU profiles). The aggregator runs as its own process.',
    `Last run ${r.at} on ${describeMachine(r.machine)}, the local single-node stack (Kafka, registry and Redis share the same cores); raw numbers in \`${resultFile}\`.`,
    s.distinct
      ? `Input (the memory run, \`BENCH_DISTINCT=1\`): ${n(s.events)} + ${n(s.more)} LIKEs, each of a new (post, user) pair, over ${n(s.posts)} posts: the stores end up holding ${n(s.events + s.more)} pairs; ${s.partitions} partitions, ${s.concurrency} applied in parallel; pre-filled at ${n(r.fill.eventsPerSecond)} events/s.`
      : `Input: ${n(s.events)} + ${n(s.more)} LIKE/UNLIKE events (70/30) over ${n(s.pairs)} (post, user) pairs (${s.updatesPerPair} updates per pair) and ${n(s.posts)} posts, skewed; ${s.partitions} partitions, ${s.concurrency} applied in parallel; pre-filled at ${n(r.fill.eventsPerSecond)} events/s.`,
    '',
    '| what | result | share of the baseline |',
    '| --- | --- | --- |',
    `| plain kafkajs consume-and-discard of the same topic (baseline) | **${n(r.discardBaseline.recordsPerSecond)} records/s** (${n(r.discardBaseline.wholeTopic.recordsPerSecond)}/s over all ${n(r.discardBaseline.wholeTopic.records)}); ${cpuPer(r.discardBaseline.cpuSeconds, s.events)} | 1 |`,
    `| ceiling of one thread: the aggregator's consumer client (${r.ceiling.client}) reads the same ${n(s.events)} records in the bench process, decodes each and folds them into maps in memory — no store, no changelog, no CountChanged, no transaction | **${n(r.ceiling.eventsPerSecond)} events/s**; ${cpuPer(r.ceiling.cpuSeconds, s.events)} | ${r.ceiling.vsBaseline} |`,
    `| replay: empty stores, from the earliest offset (${n(s.events)} events), then the stores written to the changelog | **${n(r.replay.eventsPerSecond)} events/s** end to end (${(r.replay.ms / 1000).toFixed(1)} s), **${n(r.replay.steady.eventsPerSecond)}/s** steady; ${cpuPer(r.replay.cpu.aggregatorSeconds, s.events)}, broker ${r.replay.cpu.brokerSeconds ?? 'n/a'} s; stores ≈ ${mib(r.replay.storeBytes)}; peak RSS ${rss(r.replay)} | ${r.replay.vsBaseline} end to end, ${r.replay.steady.vsBaseline} steady |`,
    `| changelog restore: the same partitions on an empty data dir (${n(r.changelogRestore.records)} changelog records) | **${r.changelogRestore.seconds} s, ${r.changelogRestore.vsReplay}× faster than the replay** (aggregator CPU ${r.changelogRestore.cpu.aggregatorSeconds === null ? 'n/a' : Number(r.changelogRestore.cpu.aggregatorSeconds.toFixed(2))} s; peak RSS ${rss(r.changelogRestore)}) | |`,
    `| the restore alone (the slowest partition's \`doubletap_aggregator_changelog_restore_last_seconds\`) against the replay's steady window: neither counts process start, group join or store opening | **${r.changelogRestore.restorePhase.seconds} s for ${n(r.changelogRestore.restorePhase.records)} records (${n(r.changelogRestore.restorePhase.recordsPerSecond)}/s), ${r.changelogRestore.restorePhase.vsReplaySteady}× faster than the replay's ${(r.replay.steady.ms / 1000).toFixed(1)} s** | |`,
    `| a moved partition, from its assignment to live (\`doubletap_aggregator_partition_takeover_last_seconds\`, the slowest partition): restored from the changelog vs replayed from the earliest offset; after the process start and the group join | **${r.changelogRestore.movedPartition.restoreSeconds} s vs ${r.changelogRestore.movedPartition.replaySeconds} s: ${r.changelogRestore.movedPartition.vsReplay}× faster than the replay** | |`,
    `| apply: a backlog of ${n(r.apply.events)} events with stores present | **${n(r.apply.eventsPerSecond)} events/s** end to end (${(r.apply.ms / 1000).toFixed(1)} s), **${n(r.apply.steady.eventsPerSecond)}/s** steady; ${cpuPer(r.apply.cpu.aggregatorSeconds, s.more)}, broker ${r.apply.cpu.brokerSeconds ?? 'n/a'} s; peak RSS ${rss(r.apply)} | ${r.apply.vsBaseline} end to end, ${r.apply.steady.vsBaseline} steady |`,
    '',
    'Each batch: decode (sync, cached writer schema), the pure fold (libs/likes), the state of the batch read from LevelDB (synchronous gets up to 64 keys, one multi-get past that), one output transaction when live (dead letters, changelog, CountChanged; while catching up a backlog only dead letters go out per batch: the changed keys and counts are written to the changelog and published once, at the end), one atomic LevelDB write. RSS: VmHWM of the process; anonymous = heap and native allocations (polled every 50 ms), file-backed = mapped files: the node binary (about 46 MiB) and, where LevelDB maps its tables (\`store.mappedTables\` in the JSON: the prebuilt LevelDB, ADR 0026), the pages of those mmaps (page cache the kernel reclaims under pressure). End to end = from the process start (boot, group join, store opening, the changelog inspection) until every partition is live at the log end with its counts published; steady = from the first applied batch to the same end. CPU = the aggregator process (all threads); the baseline\'s is the bench process while it consumes.',
    ...profileLines('Profile of the replay', r.replay.profile),
    ...profileLines('Profile of the apply', r.apply.profile),
  ]);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:aggregate failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
