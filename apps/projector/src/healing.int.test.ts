import { spawn, type ChildProcess } from 'node:child_process';
import { loadSettings, type Settings } from '@doubletap/config';
import { countKey, EventCodec, type CountChanged } from '@doubletap/events';
import { createIdempotentProducer, createKafka, deleteTopics, ensureTopics, topicOffsets, type Producer } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import {
  createRedis,
  deleteKeysWithPrefix,
  LikesReader,
  progressKey,
  ReadSideHealingError,
  redisReady,
  ReadUnavailableError,
  type Redis,
} from '@doubletap/redis';
import { freePort, stackEnv, totalsOf, uniqueName, waitFor } from '@doubletap/testing';
import { ProjectorApp } from './projector.app';

/**
 * ADR 0008 against the real stack: the projector's Redis loses its data (simulated on this test's
 * own key prefix — every key deleted in one UNLINK, which is what FLUSHALL does to it; the shared
 * Redis is never flushed) or goes back in time (an older DUMP restored). Reads must be refused while
 * the read side heals and never serve a total built from part of the log; the projector heals by
 * itself, also when no record arrives after the loss.
 */
jest.setTimeout(120_000);

const PARTITIONS = 4;
const SOURCE_PARTITIONS = 12;
const base = loadSettings(stackEnv());
const kafka = createKafka({ brokers: base.kafka.brokers, clientId: 'projector-healing-test' });
const quiet = createLogger('projector-healing-test', 'silent');

/**
 * CountChanged streams where each (post, source partition)'s count only grows with its source
 * offset (likes only), plus late resends of older states. Then any total served from a COMPLETE
 * read side lies between the truth when a phase began and the truth at its end, while a total built
 * from part of the log (some partitions missing) falls below the former.
 */
class Stream {
  private seed: number;
  private readonly last = new Map<string, { offset: number; count: number }>();
  readonly all: CountChanged[] = [];

  constructor(
    readonly posts: string[],
    seed: number,
  ) {
    this.seed = seed;
  }

  private rand(n: number): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed % n;
  }

  next(rounds: number): CountChanged[] {
    const out: CountChanged[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const postId of this.posts) {
        const partition = this.rand(SOURCE_PARTITIONS);
        const k = countKey(postId, partition);
        const prev = this.last.get(k) ?? { offset: -1, count: 0 };
        const cur = { offset: prev.offset + 1 + this.rand(5), count: prev.count + 1 + this.rand(3) };
        this.last.set(k, cur);
        out.push({ postId, partition, count: cur.count, sourceOffset: cur.offset });
        if (prev.offset >= 0 && this.rand(4) === 0) out.push({ postId, partition, count: prev.count, sourceOffset: prev.offset });
      }
    }
    this.all.push(...out);
    return out;
  }
}

/** The truth from the records alone: the merge rule of libs/likes (highest sourceOffset per (post, partition)), summed. */
const truth = (records: readonly CountChanged[]): Map<string, number> => totalsOf(records);

async function produce(producer: Producer, codec: EventCodec, topic: string, records: CountChanged[]): Promise<void> {
  const messages = await Promise.all(records.map(async (r) => ({ key: countKey(r.postId, r.partition), value: await codec.encodeCount(r) })));
  await producer.send({ topic, acks: -1, messages });
}

async function metric(app: ProjectorApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = (await app.metrics.registry.getSingleMetric(name)!.get()).values.find((v) =>
    Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return found?.value ?? 0;
}

/**
 * Reads every post in a loop until stopped; every answer must be a healing refusal or totals within
 * [low, high] per post (a complete read side at some point of the stream). Collects what it saw.
 */
function hammer(reader: LikesReader, posts: string[], bounds: () => { low: Map<string, number>; high: Map<string, number> }) {
  let running = true;
  const seen = { reads: 0, healing: 0, unavailable: 0, violations: [] as string[] };
  const done = (async () => {
    while (running) {
      try {
        const counts = await reader.getMany(posts);
        seen.reads++;
        const { low, high } = bounds();
        for (const c of counts) {
          const lo = low.get(c.postId) ?? 0;
          const hi = high.get(c.postId) ?? 0;
          if (c.count < lo || c.count > hi) seen.violations.push(`${c.postId}: served ${c.count}, outside [${lo}, ${hi}]`);
        }
      } catch (e) {
        if (e instanceof ReadSideHealingError) seen.healing++;
        else if (e instanceof ReadUnavailableError) seen.unavailable++; // Redis itself is down
        else throw e;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await done;
      return seen;
    },
  };
}

describe('projector: Redis data loss is detected and healed from likes.counts (in process, local stack)', () => {
  let producer: Producer;
  let redis: Redis;
  const topics: string[] = [];
  const prefixes: string[] = [];

  beforeAll(async () => {
    producer = createIdempotentProducer(kafka);
    await producer.connect();
    redis = createRedis({ url: base.redis.url, name: 'healing-test', offlineQueue: true });
    await redisReady(redis);
  });
  afterAll(async () => {
    await producer.disconnect();
    await deleteTopics(kafka, topics);
    for (const p of prefixes) await deleteKeysWithPrefix(redis, p);
    await redis.quit();
  });

  async function setup(name: string, redisUrl = base.redis.url, reader_ = redis) {
    const topic = uniqueName(`t-heal-${name}`);
    topics.push(topic);
    await ensureTopics(kafka, [{ topic, partitions: PARTITIONS, config: {} }]);
    const prefix = `${uniqueName(`heal-${name}`)}:`;
    prefixes.push(prefix);
    const settings: Settings = loadSettings(
      stackEnv({
        TOPIC_COUNTS: topic,
        TOPIC_EVENTS: `${topic}.events`,
        PROJECTOR_GROUP: uniqueName('g-heal'),
        PROJECTOR_PORT: '0',
        REDIS_KEY_PREFIX: prefix,
        REDIS_URL: redisUrl,
      }),
    );
    const codec = new EventCodec(base.registry.url, { events: `${topic}.events`, counts: topic });
    await codec.init();
    const app = new ProjectorApp(settings, { logger: quiet, progressCheckMs: 200, backoffMs: { initial: 50, max: 500 } });
    const reader = new LikesReader(reader_, prefix);
    const posts = Array.from({ length: 60 }, (_, i) => `p${i}`);
    const matches = async (expected: Map<string, number>) =>
      (await reader.getMany(posts)).every((c) => c.count === (expected.get(c.postId) ?? 0));
    return { topic, prefix, codec, app, reader, posts, matches };
  }

  it('a loss mid-stream: reads are refused while healing, never partial; the read side heals itself, also with no record after a loss', async () => {
    const { topic, prefix, codec, app, reader, posts, matches } = await setup('loss');
    const stream = new Stream(posts, 21);
    try {
      await app.start();
      await produce(producer, codec, topic, stream.next(15));
      const phase1 = truth(stream.all);
      await waitFor('phase 1 applied', () => matches(phase1), 30_000);
      const heals = await metric(app, 'doubletap_projector_heals_total'); // the first start healed every partition
      expect(heals).toBe(PARTITIONS);

      // the loss while records keep arriving; every total served from here on lies in [phase 1, end]
      let high = phase1;
      const reads = hammer(reader, posts, () => ({ low: phase1, high }));
      const chunks = Array.from({ length: 6 }, () => stream.next(3));
      high = truth(stream.all);
      for (let i = 0; i < chunks.length; i++) {
        if (i === 3) {
          expect(await deleteKeysWithPrefix(redis, prefix)).toBeGreaterThan(posts.length);
          await expect(reader.getMany(posts)).rejects.toThrow(ReadSideHealingError); // refused at once
        }
        await produce(producer, codec, topic, chunks[i]);
      }
      await waitFor('healed: every total = the truth', () => matches(high), 60_000);
      const seen = await reads.stop();
      expect(seen.violations).toEqual([]);
      expect(seen.reads).toBeGreaterThan(0);
      expect(seen.healing).toBeGreaterThan(0);
      expect(await metric(app, 'doubletap_projector_heals_total')).toBe(2 * PARTITIONS);
      expect(await redis.hlen(progressKey(prefix))).toBe(PARTITIONS + 1); // p:0..p:3 and partitions, no h:<n> left

      // a loss with NO record after it: the idle check finds the progress gone and heals anyway
      const idle = hammer(reader, posts, () => ({ low: high, high }));
      await deleteKeysWithPrefix(redis, prefix);
      await waitFor('healed while idle', () => matches(high), 60_000);
      const idleSeen = await idle.stop();
      expect(idleSeen.violations).toEqual([]);
      expect(await metric(app, 'doubletap_projector_heals_total')).toBe(3 * PARTITIONS);
      for (let p = 0; p < PARTITIONS; p++) expect(await metric(app, 'doubletap_projector_healing', { partition: String(p) })).toBe(0);
      expect((await fetch(`http://127.0.0.1:${app.port}/ready`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${app.port}/health`)).status).toBe(200);
    } finally {
      await app.stop();
    }
  });

  it('Redis back in time (an older DUMP restored): replayed from its own progress to the right totals', async () => {
    const { topic, prefix, codec, app, reader, posts, matches } = await setup('snapshot');
    const stream = new Stream(posts, 42);
    try {
      await app.start();
      await produce(producer, codec, topic, stream.next(10));
      const phase1 = truth(stream.all);
      await waitFor('phase 1 applied', () => matches(phase1), 30_000);
      const ends = await topicOffsets(kafka, topic);
      await waitFor('progress at the log end', async () => {
        const progress = await redis.hgetall(progressKey(prefix));
        return ends.every((e) => progress[`p:${e.partition}`] === String(e.high));
      });

      // the snapshot: every key of the prefix, DUMPed while nothing moves
      const snapshot = new Map<string, Buffer>();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        for (const k of keys) snapshot.set(k, await redis.dumpBuffer(k));
      } while (cursor !== '0');
      expect(snapshot.has(progressKey(prefix))).toBe(true);

      await produce(producer, codec, topic, stream.next(10));
      const phase2 = truth(stream.all);
      await waitFor('phase 2 applied', () => matches(phase2), 30_000);
      const moved = await metric(app, 'doubletap_projector_reseeks_total', { reason: 'moved' });

      // restore it atomically (what a Redis restarted from an older RDB holds): progress + data of phase 1
      const reads = hammer(reader, posts, () => ({ low: phase1, high: phase2 }));
      const tx = redis.multi();
      const now = new Set<string>();
      cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.forEach((k) => now.add(k));
      } while (cursor !== '0');
      if (now.size > 0) tx.del(...now);
      for (const [k, v] of snapshot) tx.restore(k, 0, v);
      await tx.exec();

      await waitFor('replayed from the snapshot\'s progress', () => matches(phase2), 60_000);
      const seen = await reads.stop();
      expect(seen.violations).toEqual([]);
      expect(await metric(app, 'doubletap_projector_reseeks_total', { reason: 'moved' })).toBeGreaterThan(moved);
      expect(await metric(app, 'doubletap_projector_heals_total')).toBe(PARTITIONS); // only the first start: nothing was lost
    } finally {
      await app.stop();
    }
  });

  it('the real thing on a Redis of its own: killed -9 and restarted EMPTY under load; the projector waits, then heals; /health stays green', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server = await startRedis(port);
    const own = createRedis({ url, name: 'healing-test-own' }); // fails fast while Redis is down
    own.on('error', () => undefined);
    const { topic, codec, app, reader, posts, matches } = await setup('restart', url, own);
    const stream = new Stream(posts, 7);
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${app.port}${path}`)).status;
    try {
      await redisReady(own);
      await app.start();
      await produce(producer, codec, topic, stream.next(10));
      const phase1 = truth(stream.all);
      await waitFor('phase 1 applied', () => matches(phase1), 30_000);

      const during = stream.next(5);
      const after = stream.next(5);
      const end = truth(stream.all);
      const reads = hammer(reader, posts, () => ({ low: phase1, high: end }));
      await stopRedis(server); // no persistence: everything it held is gone
      await produce(producer, codec, topic, during);
      await waitFor('/ready red while Redis is down', async () => (await status('/ready')) === 503);
      expect(await status('/health')).toBe(200);
      const down = await reader.getMany(posts).catch((e: unknown) => e);
      expect(down).toBeInstanceOf(ReadUnavailableError);
      expect(down).not.toBeInstanceOf(ReadSideHealingError);

      server = await startRedis(port);
      await produce(producer, codec, topic, after);
      await waitFor('healed after the empty restart', () => matches(end), 60_000);
      const seen = await reads.stop();
      expect(seen.violations).toEqual([]);
      expect(await metric(app, 'doubletap_projector_heals_total')).toBe(2 * PARTITIONS);
      await waitFor('/ready green again', async () => (await status('/ready')) === 200);
      expect(await status('/health')).toBe(200);
    } finally {
      await app.stop();
      own.disconnect();
      await stopRedis(server);
    }
  });
});

/** A redis-server of this test's own (never the shared one), without any persistence. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: 'ignore',
  });
  const probe = createRedis({ url: `redis://127.0.0.1:${port}` });
  probe.on('error', () => undefined);
  try {
    await waitFor('redis-server to start', async () => (await probe.ping()) === 'PONG', 10_000);
  } finally {
    probe.disconnect();
  }
  return child;
}

/** SIGKILL (no shutdown, nothing saved) and wait until it is gone, so the port is free again. */
async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGKILL');
  await exited;
}
