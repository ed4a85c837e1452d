import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadSettings, type Settings } from '@doubletap/config';
import { countKey, EventCodec, type CountChanged } from '@doubletap/events';
import { createIdempotentProducer, createKafka, deleteTopics, ensureTopics, topicOffsets, type Producer } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import {
  createRedis,
  deleteKeysWithPrefix,
  LikesReader,
  likesKey,
  mastersOfClusterSlots,
  mastersRecordKey,
  progressKey,
  ReadSideHealingError,
  readSideStatus,
  redisReady,
  ReadUnavailableError,
  type Redis,
} from '@doubletap/redis';
import {
  freePort,
  REPO_ROOT,
  redisTargetNames,
  redisTargets,
  registryValue,
  stackEnv,
  totalsOf,
  uniqueName,
  waitFor,
} from '@doubletap/testing';
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
const quiet = createLogger('projector-healing-test', process.env.HEALING_TEST_LOG_LEVEL ?? 'silent');

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

const metric = (app: ProjectorApp, name: string, labels: Record<string, string> = {}): Promise<number> =>
  registryValue(app.metrics.registry, name, labels);

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
    return { topic, prefix, codec, app, reader, posts, matches, settings };
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

  /**
   * ADR 0025 on the local Redis Cluster (scripts/stack/redis-cluster.sh, no replicas): a master that
   * does NOT hold the read side's shared slot is killed -9 and restarted empty (it rejoins with its
   * slots); the progress survives there, only the master markers tell the loss.
   */
  const clusterIt = redisTargetNames().includes('cluster') ? it : it.skip;
  const clusterUrl = () => redisTargets().find((t) => t.name === 'cluster')!.url;

  async function clusterSetup(name: string) {
    const cluster = createRedis({ url: clusterUrl(), name: 'healing-test-cluster' }); // fails fast while a master is down
    cluster.on('error', () => undefined);
    await redisReady(cluster);
    const env = await setup(name, clusterUrl(), cluster);
    const { portOf, ports } = await masterPorts(cluster);
    const keyslot = async (key: string) => Number(await cluster.cluster('KEYSLOT', key));
    const metaPort = portOf(await keyslot(progressKey(env.prefix)));
    const postPort = new Map<string, number>();
    for (const p of env.posts) postPort.set(p, portOf(await keyslot(likesKey(env.prefix, p))));
    // the victim: a master without the shared slot, holding the most posts
    const victim = ports
      .filter((p) => p !== metaPort)
      .map((port) => ({ port, posts: env.posts.filter((p) => postPort.get(p) === port) }))
      .sort((a, b) => b.posts.length - a.posts.length)[0];
    expect(victim.posts.length).toBeGreaterThan(0);
    const cleanup = async () => {
      await waitFor('cluster ok again', async () => (await cluster.ping()) === 'PONG', 30_000);
      await deleteKeysWithPrefix(cluster, env.prefix);
      cluster.disconnect();
    };
    /** until the read side holds `expected` and the projector has marked every master */
    const appliedAndMarked = async (expected: Map<string, number>) => {
      await waitFor('phase 1 applied', () => env.matches(expected), 60_000);
      await waitFor('every master marked', async () => (await cluster.get(mastersRecordKey(env.prefix))) !== null);
    };
    return { ...env, cluster, victim, metaPort, cleanup, appliedAndMarked };
  }

  clusterIt(
    'Redis Cluster: a master WITHOUT the shared slot killed -9 and restarted empty under load: detected, reads refused or right, healed to the truth',
    async () => {
      const { topic, prefix, codec, app, reader, posts, cluster, victim, metaPort, cleanup, appliedAndMarked } =
        await clusterSetup('master');
      const stream = new Stream(posts, 99);
      try {
        await app.start();
        await produce(producer, codec, topic, stream.next(10));
        const phase1 = truth(stream.all);
        await appliedAndMarked(phase1);
        expect(await metric(app, 'doubletap_projector_heals_total')).toBe(PARTITIONS);

        const during = stream.next(5);
        const after = stream.next(5);
        const end = truth(stream.all);
        const reads = hammer(reader, posts, () => ({ low: phase1, high: end }));
        expect(victim.port).not.toBe(metaPort);
        await killMaster(victim.port);
        await produce(producer, codec, topic, during);
        await restartCluster(); // empty, with its slots; the shared slot's master kept the progress
        await produce(producer, codec, topic, after);
        await waitFor(
          'healed after the empty restart',
          async () => {
            const off = (await reader.getMany(posts)).filter((c) => c.count !== (end.get(c.postId) ?? 0));
            if (off.length > 0)
              throw new Error(
                `${off.length} totals differ, e.g. ${off[0].postId}: ${off[0].count}, truth ${end.get(off[0].postId) ?? 0}`,
              );
            return true;
          },
          90_000,
        );
        const seen = await reads.stop();
        expect(seen.violations).toEqual([]);
        expect(seen.reads).toBeGreaterThan(0);
        expect(seen.healing).toBeGreaterThan(0); // refused as healing, not served from what the master had left
        expect(await metric(app, 'doubletap_projector_master_losses_total')).toBeGreaterThanOrEqual(1);
        expect(await metric(app, 'doubletap_projector_heals_total')).toBeGreaterThanOrEqual(2 * PARTITIONS);
        expect(await readSideStatus(cluster, prefix)).toMatchObject({ complete: true });
      } finally {
        await app.stop();
        await cleanup();
      }
    },
  );

  clusterIt(
    'Redis Cluster: with no projector running, reads refuse at once after a master came back empty (its marker is gone); a projector started later heals',
    async () => {
      const { topic, prefix, codec, app, reader, posts, matches, cluster, victim, settings, cleanup, appliedAndMarked } =
        await clusterSetup('master-idle');
      const stream = new Stream(posts, 5);
      let second: ProjectorApp | undefined;
      try {
        await app.start();
        await produce(producer, codec, topic, stream.next(8));
        const phase1 = truth(stream.all);
        await appliedAndMarked(phase1);
        await app.stop();

        await killMaster(victim.port);
        await restartCluster();
        // what a read without the markers would have served: the victim's posts are gone, the sentinel is not
        const raw = await Promise.all(victim.posts.map((p) => cluster.hget(likesKey(prefix, p), 'total')));
        expect(raw.every((t) => t === null)).toBe(true);
        expect(victim.posts.some((p) => (phase1.get(p) ?? 0) > 0)).toBe(true);
        const wrong: string[] = [];
        const refused = await waitFor('reads refused as healing', async () => {
          const r = await reader.getMany(posts).catch((e: unknown) => e);
          if (r instanceof ReadSideHealingError) return r;
          if (r instanceof ReadUnavailableError) return undefined; // the client still reconnecting
          for (const c of r as { postId: string; count: number }[])
            if (c.count !== (phase1.get(c.postId) ?? 0))
              wrong.push(`${c.postId}: served ${c.count}, truth ${phase1.get(c.postId) ?? 0}`);
          return undefined;
        });
        expect(wrong).toEqual([]); // never a wrong total
        expect(refused.lostMarkers).toHaveLength(1);
        expect(refused.message).toMatch(/master lost its data/);
        expect(await readSideStatus(cluster, prefix)).toMatchObject({
          complete: false,
          lostMarkers: [expect.any(String)],
        });
        // a post on another master alone is still answered (its master did not lose anything)
        const elsewhere = posts.find((p) => !victim.posts.includes(p))!;
        expect(await reader.getCount(elsewhere)).toMatchObject({ count: phase1.get(elsewhere) ?? 0 });

        second = new ProjectorApp(settings, {
          logger: quiet,
          progressCheckMs: 200,
          backoffMs: { initial: 50, max: 500 },
        });
        await second.start();
        await waitFor('healed by the new projector', () => matches(phase1), 120_000);
        expect(await metric(second, 'doubletap_projector_master_losses_total')).toBe(1);
        expect(await metric(second, 'doubletap_projector_heals_total')).toBe(PARTITIONS);
        expect(await readSideStatus(cluster, prefix)).toMatchObject({ complete: true });
      } finally {
        await app.stop();
        await second?.stop();
        await cleanup();
      }
    },
  );
});

/** The local Redis Cluster (scripts/stack/redis-cluster.sh): its master that holds `slot`, by port. */
async function masterPorts(redis: Redis): Promise<{ portOf: (slot: number) => number; ports: number[] }> {
  const masters = mastersOfClusterSlots(await redis.cluster('SLOTS'));
  const ports = [...masters.keys()].map((id) => Number(id.split(':')[1]));
  const portOf = (slot: number) => {
    for (const [id, ranges] of masters)
      if (ranges.some((r) => slot >= r.start && slot <= r.end)) return Number(id.split(':')[1]);
    throw new Error(`no master holds slot ${slot}`);
  };
  return { portOf, ports };
}

const CLUSTER_SCRIPT = join(REPO_ROOT, 'scripts/stack/redis-cluster.sh');
const clusterDir = () => join(process.env.DOUBLETAP_STACK_DIR ?? join(REPO_ROOT, '.stack'), 'redis-cluster');

/** kill -9 of one master of the local cluster, by its pid file (never by name); waits until it is gone. */
async function killMaster(port: number): Promise<void> {
  const pidFile = join(clusterDir(), `redis-${port}.pid`);
  if (!existsSync(pidFile))
    throw new Error(`no pid file ${pidFile}: is the local cluster running from this stack dir?`);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'redis-server')
    throw new Error(`pid ${pid} of ${pidFile} is not a redis-server`);
  process.kill(pid, 'SIGKILL');
  await waitFor(`redis-server ${pid} gone`, () => !existsSync(`/proc/${pid}`), 10_000, 50);
}

/** `redis-cluster.sh up`: restarts the dead master on its nodes.conf, EMPTY, with its slots (async: the apps keep running). */
async function restartCluster(): Promise<void> {
  await promisify(execFile)('bash', [CLUSTER_SCRIPT, 'up'], { env: process.env, timeout: 60_000 });
}

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
