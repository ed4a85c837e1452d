/**
 * npm run bench:project — the read side's throughput on this machine:
 *  1. projection: records/s the projector applies into Redis from a pre-filled likes.counts topic
 *     (fresh topic and consumer group, so it starts from the earliest offset like a rebuild);
 *  2. reads: getCount (one post) and getMany (100 posts, one round trip) per second, library calls.
 * Writes bench/results/project-<ts>.json and the "## Projection and reads" section of BENCHMARKS.md.
 * Knobs: BENCH_RECORDS (200000), BENCH_POSTS (20000), BENCH_READ_SECONDS (5), BENCH_CONCURRENCY (4).
 */
import * as hdr from 'hdr-histogram-js';
import { loadSettings } from '@doubletap/config';
import { countKey, EventCodec } from '@doubletap/events';
import { createIdempotentProducer, createKafka, deleteTopics, ensureTopics } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import { createRedis, deleteKeysWithPrefix, LikesReader, redisReady } from '@doubletap/redis';
import { uniqueName } from '@doubletap/testing';
import { ProjectorApp } from '../apps/projector/src/projector.app';
import { describeMachine, writeSection } from './lib/benchmarks-md';
import { intKnob, machine, type Machine, writeResult } from './lib/common';

const RECORDS = intKnob('BENCH_RECORDS', 200_000);
const POSTS = intKnob('BENCH_POSTS', 20_000);
const READ_SECONDS = intKnob('BENCH_READ_SECONDS', 5);
const CONCURRENCY = intKnob('BENCH_CONCURRENCY', 4);
const SOURCE_PARTITIONS = 12;

const log = (msg: string) => process.stderr.write(`bench:project ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const topic = uniqueName('bench-counts');
  const settings = loadSettings({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    TOPIC_COUNTS: topic,
    TOPIC_EVENTS: `${topic}.events`,
    PROJECTOR_GROUP: uniqueName('bench-projector'),
    PROJECTOR_PORT: '0',
    REDIS_KEY_PREFIX: `${uniqueName('bench')}:`,
  });
  const prefix = settings.redis.keyPrefix;
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'bench-project' });
  const redis = createRedis({ url: settings.redis.url, name: 'bench-project' });
  await redisReady(redis);
  await ensureTopics(kafka, [{ topic, partitions: SOURCE_PARTITIONS, config: { 'cleanup.policy': 'compact' } }]);
  const app = new ProjectorApp(settings, { logger: createLogger('projector', 'warn'), concurrency: CONCURRENCY });
  try {
    // 1. pre-fill likes.counts: every record a newer partial count of one (post, source partition)
    const codec = new EventCodec(settings.registry.url, { events: `${topic}.events`, counts: topic });
    await codec.init();
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    const fillStarted = Date.now();
    const CHUNK = 5000;
    for (let i = 0; i < RECORDS; i += CHUNK) {
      const messages = await Promise.all(
        Array.from({ length: Math.min(CHUNK, RECORDS - i) }, async (_, j) => {
          const n = i + j;
          const postId = `post-${n % POSTS}`;
          const partition = Math.floor(n / POSTS) % SOURCE_PARTITIONS;
          const change = { postId, partition, count: (n * 7) % 1000, sourceOffset: n };
          return { key: countKey(postId, partition), value: await codec.encodeCount(change) };
        }),
      );
      await producer.send({ topic, acks: -1, messages });
    }
    await producer.disconnect();
    log(`filled ${RECORDS} records in ${Date.now() - fillStarted} ms`);

    // 2. project them
    const handled = async () => {
      const m = await app.metrics.registry.getSingleMetric('doubletap_projector_records_total')!.get();
      // 'skipped': fetched before the partition was positioned from Redis, handled again after the seek
      return m.values.filter((v) => v.labels.outcome !== 'skipped').reduce((n, v) => n + v.value, 0);
    };
    const started = Date.now();
    await app.start();
    let firstAt = 0;
    let firstCount = 0;
    for (;;) {
      const n = await handled();
      if (n > 0 && firstAt === 0) {
        firstAt = Date.now();
        firstCount = n;
      }
      if (n >= RECORDS) break;
      if (Date.now() - started > 300_000) throw new Error(`projected only ${n}/${RECORDS} in 300 s`);
      await sleep(20);
    }
    const doneAt = Date.now();
    const batches = (await app.metrics.registry.getSingleMetric('doubletap_projector_batches_total')!.get()).values[0].value;
    const projection = {
      records: RECORDS,
      posts: POSTS,
      countsPartitions: SOURCE_PARTITIONS,
      concurrency: CONCURRENCY,
      totalSeconds: (doneAt - started) / 1000,
      recordsPerSecondIncludingGroupJoin: Math.round(RECORDS / ((doneAt - started) / 1000)),
      recordsPerSecondSteady: Math.round((RECORDS - firstCount) / Math.max(0.001, (doneAt - firstAt) / 1000)),
      batches,
      meanBatchSize: Math.round(RECORDS / batches),
    };
    log(`projection ${JSON.stringify(projection)}`);
    await app.stop();

    // 3. reads
    const reader = new LikesReader(redis, prefix);
    const post = (i: number) => `post-${i % POSTS}`;
    const single = await measure(64, async (i) => {
      await reader.getCount(post(i * 7919));
    });
    log(`getCount ${JSON.stringify(single)}`);
    const ids = (i: number) => Array.from({ length: 100 }, (_, k) => post(i * 100 + k));
    const many = await measure(16, async (i) => {
      const counts = await reader.getMany(ids(i));
      if (counts.length !== 100) throw new Error('short read');
    });
    log(`getMany(100) ${JSON.stringify(many)}`);

    const info = await redis.info('server');
    const result = {
      benchmark: 'project',
      at: new Date().toISOString(),
      machine: { ...machine(), redis: /redis_version:(\S+)/.exec(info)?.[1] },
      projection,
      reads: {
        getCount: single,
        getMany100: { ...many, postsPerSecond: Math.round(many.opsPerSecond * 100) },
      },
    };
    const file = writeResult('project', result.at, result);
    writeProjectionSection(result, file);
    log(`wrote ${file} and BENCHMARKS.md`);
  } finally {
    await app.stop();
    await deleteKeysWithPrefix(redis, prefix).catch(() => undefined);
    await redis.quit();
    await deleteTopics(kafka, [topic]).catch(() => undefined);
  }

  async function measure(concurrency: number, op: (i: number) => Promise<void>) {
    const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    for (let w = 0; w < 200; w++) await op(w); // warm up
    const deadline = Date.now() + READ_SECONDS * 1000;
    let count = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < deadline) {
          const t0 = process.hrtime.bigint();
          await op(count++);
          histogram.recordValue(Number((process.hrtime.bigint() - t0) / 1000n));
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      concurrency,
      seconds: Math.round(seconds * 100) / 100,
      ops: count,
      opsPerSecond: Math.round(count / seconds),
      p50Ms: histogram.getValueAtPercentile(50) / 1000,
      p99Ms: histogram.getValueAtPercentile(99) / 1000,
    };
  }
}

function writeProjectionSection(
  r: {
    at: string;
    machine: Machine & { redis?: string };
    projection: { records: number; posts: number; concurrency: number; recordsPerSecondSteady: number; recordsPerSecondIncludingGroupJoin: number; meanBatchSize: number };
    reads: { getCount: { opsPerSecond: number; p50Ms: number; p99Ms: number; concurrency: number }; getMany100: { opsPerSecond: number; postsPerSecond: number; p50Ms: number; p99Ms: number; concurrency: number } };
  },
  resultFile: string,
): void {
  const { projection: p, reads } = r;
  writeSection('Projection and reads', [
    'Command: `npm run bench:project` (knobs: `BENCH_RECORDS`, `BENCH_POSTS`, `BENCH_READ_SECONDS`, `BENCH_CONCURRENCY`).',
    `Last run ${r.at} on ${describeMachine(r.machine)}, Redis ${r.machine.redis ?? '?'}, the local single-node stack; raw numbers in \`${resultFile}\`.`,
    '',
    '| what | result |',
    '| --- | --- |',
    `| projector, likes.counts → Redis (guarded Lua apply + PUBLISH), ${p.records} records over ${p.posts} posts, ${p.concurrency} partitions in parallel | **${p.recordsPerSecondSteady.toLocaleString('en-US')} records/s** steady (${p.recordsPerSecondIncludingGroupJoin.toLocaleString('en-US')}/s including the group join), mean batch ${p.meanBatchSize} records |`,
    `| \`LikesReader.getCount\` (1 post, ${reads.getCount.concurrency} in flight) | **${reads.getCount.opsPerSecond.toLocaleString('en-US')} reads/s**, p50 ${reads.getCount.p50Ms} ms, p99 ${reads.getCount.p99Ms} ms |`,
    `| \`LikesReader.getMany\` (100 posts, one round trip, ${reads.getMany100.concurrency} in flight) | **${reads.getMany100.opsPerSecond.toLocaleString('en-US')} calls/s** (${reads.getMany100.postsPerSecond.toLocaleString('en-US')} posts/s), p50 ${reads.getMany100.p50Ms} ms, p99 ${reads.getMany100.p99Ms} ms |`,
    '',
    'These are library calls in one Node process against one Redis; the HTTP read endpoints and freshness (202 → visible) are measured separately once the api serves reads.',
  ]);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:project failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
