/**
 * npm run bench:rebuild — rebuild rates of `doubletap rebuild` on this machine, the same code paths
 * the CLI runs (apps/cli/src/ops), in one process against the local stack:
 *  1. pre-fill a fresh likes.events topic with BENCH_EVENTS random LIKE/UNLIKE events;
 *  2. state rebuild: empty data dir, the aggregation core replays every partition from the earliest
 *     offset and publishes the CountChanged of every post (rebuildState);
 *  3. pre-fill a fresh likes.counts topic with BENCH_COUNTS CountChanged records (BENCH_POSTS posts,
 *     each (post, partition) updated several times, as an uncompacted counts log looks), plus the
 *     records step 2 published;
 *  4. read-side rebuild: generation 0 → 1 from that topic, atomic switch, old generation deleted
 *     (rebuildReadSide);
 *  5. verify: the independent recount of likes.events (step 1's topic) against Redis.
 * Writes bench/results/rebuild-<ts>.json and the "## Rebuild" section of BENCHMARKS.md.
 * Knobs: BENCH_EVENTS (500000), BENCH_COUNTS (500000), BENCH_PARTITIONS (4), BENCH_POSTS (10000), BENCH_USERS (200000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadSettings } from '@doubletap/config';
import { countKey, EventCodec, likeKey, uuidv7, type LikeEvent } from '@doubletap/events';
import { createIdempotentProducer, createKafka, deleteTopics, ensureTopics, type Kafka, topicNames, topicSpecs } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import { createRedis, deleteKeysWithPrefix, markReadSideComplete, redisReady } from '@doubletap/redis';
import { freshNamesEnv, uniqueName } from '@doubletap/testing';
import { rebuildReadSide } from '../apps/cli/src/ops/read-side-rebuild';
import { rebuildState } from '../apps/cli/src/ops/state-rebuild';
import { verify } from '../apps/cli/src/ops/verify';
import { describeMachine, writeSection } from './lib/benchmarks-md';
import { intKnob, lcg, machine, type Machine, writeResult } from './lib/common';

const EVENTS = intKnob('BENCH_EVENTS', 500_000);
const COUNTS = intKnob('BENCH_COUNTS', 500_000);
const PARTITIONS = intKnob('BENCH_PARTITIONS', 4);
const POSTS = intKnob('BENCH_POSTS', 10_000);
const USERS = intKnob('BENCH_USERS', 200_000);

const log = (msg: string) => process.stderr.write(`bench:rebuild ${msg}\n`);
/** progress lines would flood the bench log: keep them out */
const quiet = new Writable({ write: (_c, _e, cb) => cb() }) as NodeJS.WritableStream & { isTTY?: boolean };

async function produceChunks(kafka: Kafka, topic: string, n: number, make: (i: number) => Promise<{ key: string; value: Buffer }>): Promise<number> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const started = Date.now();
  try {
    let pending: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < n; i += 20_000) {
      const size = Math.min(20_000, n - i);
      const messages = await Promise.all(Array.from({ length: size }, (_, j) => make(i + j)));
      await pending;
      pending = producer.send({ topic, acks: -1, messages });
      if ((i / 20_000) % 10 === 0) log(`${topic}: produced ${i + size}/${n}`);
    }
    await pending;
  } finally {
    await producer.disconnect();
  }
  return Date.now() - started;
}

async function main(): Promise<void> {
  const base = uniqueName('bench-rebuild');
  const dataDir = await mkdtemp(join(tmpdir(), 'dt-bench-rebuild-'));
  const settings = loadSettings({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...freshNamesEnv(base),
    TOPIC_PARTITIONS: String(PARTITIONS),
  });
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'bench-rebuild' });
  const redis = createRedis({ url: settings.redis.url, name: 'bench-rebuild', offlineQueue: true, commandTimeoutMs: 30000 });
  await redisReady(redis);
  const topics = topicNames(settings.topics);
  try {
    await ensureTopics(kafka, topicSpecs(settings.topics));
    const codec = new EventCodec(settings.registry.url, settings.topics);
    await codec.init();

    const next = lcg(7);
    const fillMs = await produceChunks(kafka, settings.topics.events, EVENTS, async () => {
      const e: LikeEvent = {
        eventId: uuidv7(),
        postId: `p${Math.floor(POSTS * next() ** 3)}`,
        userId: `u${Math.floor(USERS * next())}`,
        action: next() < 0.8 ? 'LIKE' : 'UNLIKE',
        occurredAt: Date.now(),
      };
      return { key: likeKey(e.postId, e.userId), value: await codec.encodeLike(e) };
    });

    log('state rebuild');
    const state = await rebuildState({
      kafka,
      brokers: settings.kafka.brokers,
      pinnedPartitions: settings.topics.partitions,
      changelogTopic: settings.topics.changelog,
      codec,
      topics: settings.topics,
      groupId: settings.aggregator.groupId,
      dataDir: join(dataDir, 'aggregator'),
      logger: createLogger('bench-rebuild', 'warn', 'stderr'),
      info: log,
      progressStream: quiet,
    });
    log(`state: ${state.records} records, ${Math.round(state.recordsPerSecond)}/s`);

    // synthetic CountChanged history on top of what the state rebuild published
    const perKey = Math.max(1, Math.floor(COUNTS / (POSTS * PARTITIONS)));
    const countsFillMs = await produceChunks(kafka, settings.topics.counts, COUNTS, async (i) => {
      const key = i % (POSTS * PARTITIONS);
      const round = Math.floor(i / (POSTS * PARTITIONS));
      const change = { postId: `syn${Math.floor(key / PARTITIONS)}`, partition: key % PARTITIONS, count: round + 1, sourceOffset: round };
      return { key: countKey(change.postId, change.partition), value: await codec.encodeCount(change) };
    });

    log('read-side rebuild');
    const readSide = await rebuildReadSide({
      kafka,
      codec,
      redis,
      prefix: settings.redis.keyPrefix,
      topic: settings.topics.counts,
      info: log,
      graceMs: 0,
      progressStream: quiet,
    });
    log(`read-side: ${readSide.records} records, ${Math.round(readSide.recordsPerSecond)}/s`);

    log('verify');
    // reads are refused until a projector recorded its progress for every partition (ADR 0008);
    // none runs here: the rebuilt generation is complete, so say so for this bench's key prefix
    await markReadSideComplete(redis, settings.redis.keyPrefix, settings.topics.partitions);
    const checked = await verify({
      kafka,
      codec,
      topic: settings.topics.events,
      redis,
      prefix: settings.redis.keyPrefix,
      progressStream: quiet,
    });
    if (!checked.ok) throw new Error(`verify found ${checked.mismatches.length} mismatches after the rebuilds`);

    const at = new Date().toISOString();
    const result = {
      at,
      machine: machine(),
      setup: { events: EVENTS, counts: COUNTS, partitions: PARTITIONS, posts: POSTS, users: USERS, updatesPerCountKey: perKey },
      fill: { eventsPerSecond: Math.round(EVENTS / (fillMs / 1000)), countsPerSecond: Math.round(COUNTS / (countsFillMs / 1000)) },
      state: {
        records: state.records,
        seconds: Number(state.seconds.toFixed(2)),
        recordsPerSecond: Math.round(state.recordsPerSecond),
        posts: state.partitions.reduce((n, p) => n + p.posts, 0),
      },
      readSide: {
        records: readSide.records,
        seconds: Number(readSide.seconds.toFixed(2)),
        recordsPerSecond: Math.round(readSide.recordsPerSecond),
        posts: readSide.to.keys,
      },
      verify: { events: checked.events, posts: checked.posts, seconds: Number(checked.seconds.toFixed(2)), eventsPerSecond: Math.round(checked.events / checked.seconds) },
    };
    const file = writeResult('rebuild', at, result);
    writeRebuildSection(result, file);
    log(`wrote ${file} and BENCHMARKS.md`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit();
    await deleteTopics(kafka, topics).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

function writeRebuildSection(
  r: {
    at: string;
    machine: Machine;
    setup: { events: number; counts: number; partitions: number; posts: number; users: number; updatesPerCountKey: number };
    state: { records: number; seconds: number; recordsPerSecond: number; posts: number };
    readSide: { records: number; seconds: number; recordsPerSecond: number; posts: number };
    verify: { events: number; seconds: number; eventsPerSecond: number };
  },
  resultFile: string,
): void {
  const n = (v: number) => v.toLocaleString('en-US');
  const s = r.setup;
  writeSection('Rebuild', [
    'Command: `npm run bench:rebuild` (knobs: `BENCH_EVENTS`, `BENCH_COUNTS`, `BENCH_PARTITIONS`, `BENCH_POSTS`, `BENCH_USERS`).',
    `Last run ${r.at} on ${describeMachine(r.machine)}, the local single-node stack (Kafka, registry and Redis share the same cores); raw numbers in \`${resultFile}\`.`,
    `Input: ${n(s.events)} random LIKE/UNLIKE events (80/20) over ${n(s.posts)} posts (skewed) and ${n(s.users)} users in ${s.partitions} partitions; likes.counts: the CountChanged the state rebuild published plus ${n(s.counts)} synthetic ones (${n(s.posts)} more posts × ${s.partitions} partitions, ~${s.updatesPerCountKey} updates per key).`,
    'The code is the CLI\'s (`apps/cli/src/ops`), called in-process; rates are records read ÷ time from the first fetch to the last record applied (group joins included).',
    '',
    '| what | result |',
    '| --- | --- |',
    `| \`rebuild --target state\`: empty stores, every partition replayed from the earliest offset with the aggregation core, CountChanged of every post published | **${n(r.state.recordsPerSecond)} records/s** (${n(r.state.records)} events in ${r.state.seconds} s, ${n(r.state.posts)} non-zero (post, partition) counts) |`,
    `| \`rebuild --target read-side\`: generation 0 → 1 from likes.counts (no PUBLISH), atomic switch, catch-up, old generation deleted | **${n(r.readSide.recordsPerSecond)} records/s** (${n(r.readSide.records)} records in ${r.readSide.seconds} s end to end, ${n(r.readSide.posts)} posts) |`,
    `| \`verify\`: independent recount of likes.events, compared with Redis (all posts) | **${n(r.verify.eventsPerSecond)} events/s** (${n(r.verify.events)} events in ${r.verify.seconds} s, 0 mismatches) |`,
  ]);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:rebuild failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
