import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { countKey, EventCodec, type CountChanged } from '@doubletap/events';
import { createIdempotentProducer, createKafka, deleteTopics, ensureTopics, type Producer } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import {
  createRedis,
  deleteKeysWithPrefix,
  LikesReader,
  LiveCounts,
  ReadSideHealingError,
  redisReady,
  type CountUpdate,
  type LiveSubscription,
} from '@doubletap/redis';
import { redisTargets, registryValue, stackEnv, uniqueName, waitFor } from '@doubletap/testing';
import { ProjectorApp } from './projector.app';

jest.setTimeout(60_000);

const base = loadSettings(stackEnv());
const kafka = createKafka({ brokers: base.kafka.brokers, clientId: 'projector-test' });
const quiet = createLogger('projector-test', 'silent');

function settingsFor(topic: string, redisUrl = base.redis.url): Settings {
  return loadSettings(
    stackEnv({
      TOPIC_COUNTS: topic,
      TOPIC_EVENTS: `${topic}.events`,
      PROJECTOR_GROUP: uniqueName('g-proj'),
      PROJECTOR_PORT: '0',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `${uniqueName('t')}:`,
    }),
  );
}

/** Ground truth: per (post, source partition) the record with the highest sourceOffset wins. */
function expectedTotals(records: CountChanged[]): Map<string, number> {
  const latest = new Map<string, CountChanged>();
  for (const r of records) {
    const k = countKey(r.postId, r.partition);
    const seen = latest.get(k);
    if (!seen || r.sourceOffset > seen.sourceOffset) latest.set(k, r);
  }
  const totals = new Map<string, number>();
  for (const r of latest.values()) totals.set(r.postId, (totals.get(r.postId) ?? 0) + r.count);
  return totals;
}

/** A stream of CountChanged for `posts` over 12 source partitions, with older duplicates mixed in. */
function generate(posts: string[], rounds: number, offsetBase: number, seed: number): CountChanged[] {
  let s = seed;
  const rand = (n: number) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
  const out: CountChanged[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const postId of posts) {
      const partition = rand(12);
      const sourceOffset = offsetBase + round * 10 + rand(10);
      out.push({ postId, partition, count: rand(500), sourceOffset });
      // a late resend of an older state (e.g. an outbox replayed after an aggregator crash)
      if (rand(4) === 0) out.push({ postId, partition, count: rand(500), sourceOffset: Math.max(0, sourceOffset - 1 - rand(5)) });
    }
  }
  return out;
}

async function produce(producer: Producer, codec: EventCodec, topic: string, records: CountChanged[]) {
  const messages = await Promise.all(
    records.map(async (r) => ({ key: countKey(r.postId, r.partition), value: await codec.encodeCount(r) })),
  );
  await producer.send({ topic, acks: -1, messages });
}

async function totalsMatch(reader: LikesReader, expected: Map<string, number>): Promise<boolean> {
  const counts = await reader.getMany([...expected.keys()]);
  return counts.every((c) => c.count === expected.get(c.postId));
}

const metric = (app: ProjectorApp, name: string, labels: Record<string, string> = {}): Promise<number> =>
  registryValue(app.metrics.registry, name, labels);

/** Reads a subscription until it shows `count` (each next() returns the newest value). */
async function until(sub: LiveSubscription, count: number): Promise<CountUpdate> {
  for (;;) {
    const u = await sub.next();
    if (u === null) throw new Error('subscription closed');
    if (u.count === count) return u;
  }
}

describe('projector (in process, against the local stack)', () => {
  let producer: Producer;
  const topics: string[] = [];

  beforeAll(async () => {
    producer = createIdempotentProducer(kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer.disconnect();
    await deleteTopics(kafka, topics);
  });

  async function newTopic(): Promise<{ topic: string; settings: (url?: string) => Settings; codec: EventCodec }> {
    const topic = uniqueName('t-counts');
    topics.push(topic);
    await ensureTopics(kafka, [{ topic, partitions: 4, config: {} }]);
    const codec = new EventCodec(base.registry.url, { events: `${topic}.events`, counts: topic });
    await codec.init();
    return { topic, settings: (url?: string) => settingsFor(topic, url), codec };
  }

  it.each(redisTargets())('projects exact totals from CountChanged (older duplicates, a poison record) and publishes changes, on $name Redis', async (target) => {
    const { topic, settings: make, codec } = await newTopic();
    const settings = make(target.url);
    const redis = createRedis({ url: settings.redis.url });
    const reader = new LikesReader(redis, settings.redis.keyPrefix);
    const live = new LiveCounts({ url: settings.redis.url, prefix: settings.redis.keyPrefix, reader });
    const app = new ProjectorApp(settings, { logger: quiet });
    try {
      await redisReady(redis);
      const posts = Array.from({ length: 8 }, (_, i) => `post-${i}`);
      const records = generate(posts, 40, 0, 7);
      const expected = expectedTotals(records);
      // nothing was ever projected on this prefix: the read side is not complete, reads are refused
      await expect(reader.getCount('post-0')).rejects.toThrow(ReadSideHealingError);
      const watched = live.watch('post-0'); // so the viewer gets no initial value yet

      await produce(producer, codec, topic, records.slice(0, 150));
      await producer.send({ topic, acks: -1, messages: [{ key: 'x/0', value: Buffer.from('not avro at all') }] });
      await produce(producer, codec, topic, records.slice(150));
      await app.start();

      await waitFor('totals in Redis', () => totalsMatch(reader, expected), 30_000);
      // nothing was published while the first "heal" ran: the viewer's first value is the whole total
      const first = await watched.next();
      expect(first).toEqual({ postId: 'post-0', count: expected.get('post-0'), asOf: (await reader.getCount('post-0')).asOf });

      expect(await metric(app, 'doubletap_projector_records_total', { outcome: 'invalid' })).toBe(1);
      const applied = await metric(app, 'doubletap_projector_records_total', { outcome: 'applied' });
      const stale = await metric(app, 'doubletap_projector_records_total', { outcome: 'stale' });
      expect(applied + stale).toBe(records.length);
      expect(stale).toBeGreaterThan(0);

      const ready = await fetch(`http://127.0.0.1:${app.port}/ready`);
      expect(ready.status).toBe(200);
      const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
      expect(text).toContain('doubletap_projector_batch_seconds_bucket');
      expect(text).toMatch(/doubletap_projector_redis_errors_total\{[^}]*\} 0/);
      expect((await fetch(`http://127.0.0.1:${app.port}/health`)).status).toBe(200);
    } finally {
      await app.stop();
      await live.close();
      await deleteKeysWithPrefix(redis, settings.redis.keyPrefix);
      await redis.quit();
    }
  });

  it('keeps totals exact when Redis restarts mid-stream (same process resumes; a stopped one leaves nothing committed)', async () => {
    const { topic, settings: make, codec } = await newTopic();
    const dir = mkdtempSync(join(tmpdir(), 'dt-redis-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server = await startRedis(port, dir);
    const settings = make(url);
    const redis = createRedis({ url, offlineQueue: true });
    const reader = new LikesReader(redis, settings.redis.keyPrefix);
    const live = new LiveCounts({ url, prefix: settings.redis.keyPrefix, reader });
    let app = new ProjectorApp(settings, { logger: quiet, backoffMs: { initial: 50, max: 500 } });
    try {
      await redisReady(redis);
      const posts = Array.from({ length: 6 }, (_, i) => `r-${i}`);
      const all: CountChanged[] = [];
      const watched = live.watch('r-0');

      // 1. steady state
      const first = generate(posts, 20, 0, 11);
      all.push(...first);
      await app.start();
      await produce(producer, codec, topic, first);
      await waitFor('phase 1 totals', () => totalsMatch(reader, expectedTotals(all)), 30_000);

      // 2. Redis dies; records keep coming; the projector must wait, not skip
      await stopRedis(server);
      const second = generate(posts, 20, 1000, 12);
      all.push(...second);
      await produce(producer, codec, topic, second);
      await waitFor('the projector to hit the outage', async () => (await metric(app, 'doubletap_projector_redis_errors_total')) > 0);
      expect((await fetch(`http://127.0.0.1:${app.port}/ready`)).status).toBe(503);
      server = await startRedis(port, dir);
      await waitFor('phase 2 totals after the restart', () => totalsMatch(reader, expectedTotals(all)), 30_000);
      await until(watched, expectedTotals(all).get('r-0')!); // the live hub re-subscribed and caught up

      // 3. Redis dies again and the projector is stopped while its batch waits: the batch must not be
      //    committed, so a new projector in the same group picks it up once Redis is back
      await stopRedis(server);
      const third = generate(posts, 20, 2000, 13);
      all.push(...third);
      await produce(producer, codec, topic, third);
      const errorsBefore = await metric(app, 'doubletap_projector_redis_errors_total');
      await waitFor('the projector to hit the second outage', async () =>
        (await metric(app, 'doubletap_projector_redis_errors_total')) > errorsBefore,
      );
      await app.stop();
      server = await startRedis(port, dir);
      await redisReady(redis, 10_000).catch(() => undefined);
      expect(await totalsMatch(reader, expectedTotals(all))).toBe(false); // phase 3 is not in Redis yet
      app = new ProjectorApp(settings, { logger: quiet });
      await app.start();
      await waitFor('phase 3 totals from a new projector', () => totalsMatch(reader, expectedTotals(all)), 30_000);
      await until(watched, expectedTotals(all).get('r-0')!);
    } finally {
      await app.stop();
      await live.close();
      redis.disconnect();
      await stopRedis(server);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Our own redis-server (never the machine's): AOF fsync always, so a kill loses nothing acknowledged. */
async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  const probe = createRedis({ url: `redis://127.0.0.1:${port}` });
  try {
    await waitFor('redis-server to start', async () => (await probe.ping()) === 'PONG', 10_000);
  } finally {
    probe.disconnect();
  }
  return child;
}

/** SIGKILL (no shutdown, no final save) and wait until it is gone, so the port is free again. */
async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGKILL');
  await exited;
}
