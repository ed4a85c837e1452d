/**
 * npm run bench:ingest — accepted likes/s and latency of POST /v1/posts/:postId/likes (the api as
 * its own process, acks=all to the local Kafka, rate limit off), beside a NestJS-on-Fastify
 * hello-world endpoint measured in the same run, both with autocannon at a fixed concurrency over
 * loopback. Writes bench/results/ingest-<ts>.json and prints a table.
 * Knobs: BENCH_CONNECTIONS (64), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_USERS (1000).
 */
import { join } from 'node:path';
import { mintToken } from '@doubletap/auth';
import { loadSettings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, topicSpecs } from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix, markReadSideComplete } from '@doubletap/redis';
import { freePort, spawnBuilt, stopChild, uniqueName, untilStatus } from '@doubletap/testing';
import { autocannon, type CannonRequest, type CannonResult } from './lib/autocannon';
import { intKnob, machine, ROOT, writeResult } from './lib/common';

const CONNECTIONS = intKnob('BENCH_CONNECTIONS', 64);
const SECONDS = intKnob('BENCH_SECONDS', 10);
const WARMUP = intKnob('BENCH_WARMUP_SECONDS', 2);
const USERS = intKnob('BENCH_USERS', 1000);
const log = (msg: string) => process.stderr.write(`bench:ingest ${msg}\n`);

interface Row {
  target: string;
  connections: number;
  seconds: number;
  reqPerSec: number;
  p50ms: number;
  p99ms: number;
  accepted: number;
  non2xx: number;
  errors: number;
}

const row = (target: string, r: CannonResult): Row => ({
  target,
  connections: CONNECTIONS,
  seconds: SECONDS,
  reqPerSec: Math.round(r.requests.average),
  p50ms: r.latency.p50,
  p99ms: r.latency.p99,
  accepted: r['2xx'],
  non2xx: r.non2xx,
  errors: r.errors + r.timeouts,
});

async function main(): Promise<void> {
  const settings = loadSettings({ ...process.env, LOG_LEVEL: 'warn' });
  const topics = {
    events: uniqueName('bench-events'),
    counts: uniqueName('bench-counts'),
    deadLetter: uniqueName('bench-dlq'),
    partitions: settings.topics.partitions,
  };
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'bench-ingest' });
  await ensureTopics(kafka, topicSpecs(topics));
  // the api is ready only once its read side is complete (ADR 0008); no projector runs here, so the
  // bench declares it complete under a key prefix of its own
  const prefix = `${uniqueName('bench-ingest')}:`;
  const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
  await markReadSideComplete(redis, prefix, topics.partitions);
  const [apiPort, helloPort] = [await freePort(), await freePort()];
  const api = spawnBuilt('apps/api/src/main.js', {
    REDIS_KEY_PREFIX: prefix,
    API_PORT: String(apiPort),
    TOPIC_EVENTS: topics.events,
    TOPIC_COUNTS: topics.counts,
    TOPIC_DEAD_LETTER: topics.deadLetter,
    RATE_LIMIT_PER_SEC: '0',
    LOG_LEVEL: 'warn',
  }, log);
  const hello = spawnBuilt('bench/hello-app.js', { BENCH_HELLO_PORT: String(helloPort) }, log);
  const rows: Row[] = [];
  let produced = 0;
  try {
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const helloUrl = `http://127.0.0.1:${helloPort}`;
    await untilStatus(`${apiUrl}/ready`, (s) => s === 200, 'api', { child: api });
    await untilStatus(`${helloUrl}/hello`, (s) => s === 202, 'hello', { child: hello, method: 'POST' });
    log(`minting ${USERS} tokens`);
    const tokens = await Promise.all(
      Array.from({ length: USERS }, (_, i) => mintToken(settings.auth.hs256Secret, `bench_user_${i}`)),
    );
    let n = 0;
    const likes: CannonRequest[] = [
      {
        method: 'POST',
        path: '/v1/posts/p/likes',
        setupRequest: (req) => {
          n++;
          return {
            ...req,
            path: `/v1/posts/post_${n % 997}/likes`,
            headers: { authorization: `Bearer ${tokens[n % tokens.length]}` },
          };
        },
      },
    ];
    const hellos: CannonRequest[] = [{ method: 'POST', path: '/hello' }];

    for (const [name, url, requests] of [
      ['hello-world (NestJS + Fastify)', helloUrl, hellos],
      ['POST like (acks=all)', apiUrl, likes],
    ] as const) {
      log(`${name}: warm-up ${WARMUP}s`);
      await autocannon({ url, connections: CONNECTIONS, duration: WARMUP, requests: [...requests] });
      log(`${name}: ${SECONDS}s at ${CONNECTIONS} connections`);
      rows.push(
        row(
          name,
          await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests: [...requests] }),
        ),
      );
    }
    const admin = kafka.admin();
    await admin.connect();
    produced = (await admin.fetchTopicOffsets(topics.events)).reduce((s, p) => s + Number(p.high), 0);
    await admin.disconnect();
  } finally {
    await Promise.all([stopChild(api), stopChild(hello)]);
    await deleteTopics(kafka, [topics.events, topics.counts, topics.deadLetter]).catch(() => undefined);
    await deleteKeysWithPrefix(redis, prefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
  }

  const [base, like] = rows;
  const ratio = like.reqPerSec / base.reqPerSec;
  const result = {
    at: new Date().toISOString(),
    machine: machine(),
    settings: {
      connections: CONNECTIONS,
      seconds: SECONDS,
      warmupSeconds: WARMUP,
      users: USERS,
      partitions: topics.partitions,
      lingerMs: settings.api.lingerMs,
      batchMaxSize: settings.api.batchMaxSize,
    },
    rows,
    likesVsHello: Math.round(ratio * 100) / 100,
    eventsInTopic: produced,
  };
  const file = join(ROOT, writeResult('ingest', result.at, result));

  const pad = (s: string | number, w: number) => String(s).padStart(w);
  process.stdout.write(
    [
      `${'target'.padEnd(32)}${pad('req/s', 9)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('2xx', 9)}${pad('non-2xx', 9)}${pad('errors', 8)}`,
      ...rows.map(
        (r) =>
          `${r.target.padEnd(32)}${pad(r.reqPerSec, 9)}${pad(r.p50ms, 8)}${pad(r.p99ms, 8)}${pad(r.accepted, 9)}${pad(r.non2xx, 9)}${pad(r.errors, 8)}`,
      ),
      `likes/s vs hello-world: ${(ratio * 100).toFixed(0)}%   events in topic (warm-up + run): ${produced}`,
      `written ${file}`,
    ].join('\n') + '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:ingest: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
