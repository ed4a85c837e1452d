/**
 * npm run bench:aggregate — the aggregator's throughput on this machine, from a pre-filled topic:
 *  1. pre-fill a fresh likes.events topic with BENCH_EVENTS random LIKE/UNLIKE events (pre-encoded,
 *     sent in large batches by the idempotent producer);
 *  2. baseline: a plain kafkajs consumer reading the same topic and discarding every record;
 *  3. restore: one aggregator with an empty data dir rebuilds its stores from the earliest offset;
 *  4. apply: the aggregator is stopped, BENCH_MORE further events are produced, and the restarted
 *     aggregator (stores present) applies the backlog, publishing CountChanged per batch.
 * Writes bench/results/aggregate-<ts>.json and the "## Aggregation" section of BENCHMARKS.md.
 * Knobs: BENCH_EVENTS (1000000), BENCH_MORE (BENCH_EVENTS/2), BENCH_PARTITIONS (4), BENCH_POSTS (10000),
 * BENCH_USERS (200000), BENCH_CONCURRENCY (= partitions).
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec, likeKey, uuidv7, type LikeEvent } from '@doubletap/events';
import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  drainTopic,
  ensureTopics,
  topicOffsets,
  topicSpecs,
  type Kafka,
} from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import { createRedis } from '@doubletap/redis';
import { freshNamesEnv, uniqueName } from '@doubletap/testing';
import { AggregatorApp } from '../apps/aggregator/src/aggregator.app';
import { describeMachine, writeSection } from './lib/benchmarks-md';
import { intKnob, lcg, machine, type Machine, writeResult } from './lib/common';

const EVENTS = intKnob('BENCH_EVENTS', 1_000_000);
const MORE = intKnob('BENCH_MORE', Math.max(1, Math.floor(EVENTS / 2)));
const PARTITIONS = intKnob('BENCH_PARTITIONS', 4);
const POSTS = intKnob('BENCH_POSTS', 10_000);
const USERS = intKnob('BENCH_USERS', 200_000);
const CONCURRENCY = intKnob('BENCH_CONCURRENCY', PARTITIONS);

const log = (msg: string) => process.stderr.write(`bench:aggregate ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rate = (n: number, ms: number) => Math.round(n / Math.max(ms / 1000, 0.001));

/** Pre-fills the topic: events encoded in chunks, each chunk one produce request per partition. */
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
      const events: LikeEvent[] = Array.from({ length: size }, () => ({
        eventId: uuidv7(),
        // skewed: a few posts get most of the taps, like a viral post
        postId: `p${Math.floor(POSTS * next() ** 3)}`,
        userId: `u${Math.floor(USERS * next())}`,
        action: next() < 0.8 ? 'LIKE' : 'UNLIKE',
        occurredAt: now,
      }));
      const messages = await Promise.all(
        events.map(async (e) => ({ key: likeKey(e.postId, e.userId), value: await codec.encodeLike(e) })),
      );
      await pending; // encode the next chunk while the previous one is in flight
      pending = producer.send({ topic, acks: -1, messages });
      if ((i / CHUNK) % 10 === 0) log(`produced ${i + size}/${n}`);
    }
    await pending;
  } finally {
    await producer.disconnect();
  }
  return Date.now() - started;
}

/** Time until every partition's store holds the log end and the partition is live (its catch-up output published). */
async function untilCaughtUp(app: AggregatorApp, kafka: Kafka, topic: string, timeoutMs = 1_800_000): Promise<void> {
  const ends = await topicOffsets(kafka, topic);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(app.aggregator.ownedPartitions.map((p) => app.aggregator.partitionStatus(p)));
    const done = ends.every(
      (e) => e.high === e.low || statuses.some((s) => s && s.partition === e.partition && s.storedOffset === e.high - 1 && s.phase === 'live' && s.dirty === 0),
    );
    if (done) return;
    if (Date.now() > deadline) throw new Error('aggregator did not catch up in time');
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const base = uniqueName('bench-agg');
  const dataDir = await mkdtemp(join(tmpdir(), 'dt-bench-agg-'));
  const settings: Settings = loadSettings({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...freshNamesEnv(base),
    TOPIC_PARTITIONS: String(PARTITIONS),
    AGGREGATOR_DATA_DIR: dataDir,
    AGGREGATOR_PORT: '0',
  });
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'bench-aggregate' });
  const topics = settings.topics;
  await ensureTopics(kafka, topicSpecs(topics));
  const codec = new EventCodec(settings.registry.url, topics);
  await codec.init();
  const logger = createLogger('aggregator', settings.logLevel);
  try {
    log(`pre-filling ${topics.events} with ${EVENTS} events over ${PARTITIONS} partitions`);
    const fillMs = await fill(kafka, codec, topics.events, EVENTS, 1);
    log(`pre-filled in ${fillMs} ms (${rate(EVENTS, fillMs)}/s)`);

    log('baseline: plain kafkajs consume-and-discard');
    const discard = await drainTopic(kafka, topics.events, { concurrency: CONCURRENCY });
    log(`discarded ${discard.records} in ${discard.ms} ms (${rate(discard.records, discard.ms)}/s)`);

    log('restore: aggregator with empty stores, from the earliest offset');
    let t0 = Date.now();
    let app = await AggregatorApp.start(settings, { logger, concurrency: CONCURRENCY });
    await untilCaughtUp(app, kafka, topics.events);
    const restoreMs = Date.now() - t0;
    log(`restored ${EVENTS} in ${restoreMs} ms (${rate(EVENTS, restoreMs)}/s)`);
    await app.stop();
    const storeBytes = dirBytes(dataDir);

    log(`apply: ${MORE} more events while stopped, then catch up with stores present`);
    await fill(kafka, codec, topics.events, MORE, 2);
    const discardAll = await drainTopic(kafka, topics.events, { concurrency: CONCURRENCY });
    log(`baseline over the whole topic: ${discardAll.records} in ${discardAll.ms} ms (${rate(discardAll.records, discardAll.ms)}/s)`);
    t0 = Date.now();
    app = await AggregatorApp.start(settings, { logger, concurrency: CONCURRENCY });
    await untilCaughtUp(app, kafka, topics.events);
    const applyMs = Date.now() - t0;
    const metricValues = async (name: string) => (await app.metrics.getSingleMetric(name)?.get())?.values ?? [];
    const countChanged = (await metricValues('doubletap_aggregator_count_changed_total')).reduce((n, v) => n + v.value, 0);
    const batchValues = (await metricValues('doubletap_aggregator_batch_size')) as { metricName?: string; value: number }[];
    const sumBatch = batchValues.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const countBatch = batchValues.find((v) => v.metricName?.endsWith('_count'))?.value ?? 1;
    log(`applied ${MORE} in ${applyMs} ms (${rate(MORE, applyMs)}/s), ${countChanged} CountChanged`);
    await app.stop();

    const at = new Date().toISOString();
    const result = {
      at,
      machine: machine(),
      setup: { events: EVENTS, more: MORE, partitions: PARTITIONS, posts: POSTS, users: USERS, concurrency: CONCURRENCY },
      fill: { events: EVENTS, ms: fillMs, eventsPerSecond: rate(EVENTS, fillMs) },
      discardBaseline: {
        records: discard.records,
        ms: discard.ms,
        recordsPerSecond: rate(discard.records, discard.ms),
        wholeTopic: { records: discardAll.records, ms: discardAll.ms, recordsPerSecond: rate(discardAll.records, discardAll.ms) },
      },
      restore: { events: EVENTS, ms: restoreMs, eventsPerSecond: rate(EVENTS, restoreMs), storeBytes },
      apply: {
        events: MORE,
        ms: applyMs,
        eventsPerSecond: rate(MORE, applyMs),
        countChanged,
        meanBatchSize: Math.round(sumBatch / Math.max(countBatch, 1)),
      },
      note: 'restore and apply times include the consumer-group join and store opening (measured from AggregatorApp.start)',
    };
    const file = writeResult('aggregate', at, result);
    writeAggregationSection(result, file);
    log(`wrote ${file} and BENCHMARKS.md`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await deleteTopics(kafka, [topics.events, topics.counts, topics.deadLetter]).catch(() => undefined);
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await redis.del(`${settings.redis.keyPrefix}owners`).catch(() => undefined);
    await redis.quit();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

function writeAggregationSection(
  r: {
    at: string;
    machine: Machine;
    setup: { events: number; more: number; partitions: number; posts: number; users: number; concurrency: number };
    discardBaseline: { recordsPerSecond: number; wholeTopic: { recordsPerSecond: number; records: number } };
    restore: { eventsPerSecond: number; ms: number; storeBytes: number };
    apply: { events: number; eventsPerSecond: number; ms: number; countChanged: number; meanBatchSize: number };
    fill: { eventsPerSecond: number };
  },
  resultFile: string,
): void {
  const n = (v: number) => v.toLocaleString('en-US');
  const s = r.setup;
  writeSection('Aggregation', [
    'Command: `npm run bench:aggregate` (knobs: `BENCH_EVENTS`, `BENCH_MORE`, `BENCH_PARTITIONS`, `BENCH_POSTS`, `BENCH_USERS`, `BENCH_CONCURRENCY`).',
    `Last run ${r.at} on ${describeMachine(r.machine)}, the local single-node stack (Kafka, registry and Redis share the same cores); raw numbers in \`${resultFile}\`.`,
    `Input: ${n(s.events)} + ${n(s.more)} random LIKE/UNLIKE events (80/20) over ${n(s.posts)} posts (skewed) and ${n(s.users)} users, ${s.partitions} partitions, ${s.concurrency} applied in parallel; pre-filled at ${n(r.fill.eventsPerSecond)} events/s.`,
    '',
    '| what | result |',
    '| --- | --- |',
    `| plain kafkajs consume-and-discard of the same topic (baseline) | **${n(r.discardBaseline.recordsPerSecond)} records/s** (${n(r.discardBaseline.wholeTopic.recordsPerSecond)}/s over all ${n(r.discardBaseline.wholeTopic.records)}) |`,
    `| restore: empty stores rebuilt from the earliest offset (${n(s.events)} events) | **${n(r.restore.eventsPerSecond)} events/s** (${(r.restore.ms / 1000).toFixed(1)} s; stores ≈ ${n(Math.round(r.restore.storeBytes / 1048576))} MiB) |`,
    `| apply: backlog of ${n(r.apply.events)} events with stores present, CountChanged per batch (acks=all) | **${n(r.apply.eventsPerSecond)} events/s** (${(r.apply.ms / 1000).toFixed(1)} s, ${n(r.apply.countChanged)} CountChanged, mean batch ${n(r.apply.meanBatchSize)}) |`,
    '',
    'Each applied batch: Avro decode + validation, one LevelDB multi-get, the pure decider, one atomic LevelDB batch (membership + counts + outbox + offset), then CountChanged acknowledged by Kafka before the consumer offset is committed. Restore defers CountChanged to the end of the restore (the outbox keeps only the latest per post). Times include the consumer-group join.',
  ]);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:aggregate failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
