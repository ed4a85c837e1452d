import { loadSettings } from '@doubletap/config';
import { NearCache } from '@doubletap/queries';
import {
  type CountSnapshot,
  createRedis,
  deleteKeysWithPrefix,
  GenerationWriter,
  LikesProjection,
  LikesReader,
  LiveCounts,
  markReadSideComplete,
  progressKey,
  ReadSideGenerations,
  ReadSideHealingError,
  ReadSideProgress,
  redisReady,
  type Redis,
} from '@doubletap/redis';
import { stackEnv, uniqueName, waitFor } from '@doubletap/testing';

/**
 * The near cache on real Redis, fed by the real publish path (LikesProjection's apply script, the
 * rebuild's generation switch, the projector's heal start) through the api's real subscriber hub.
 * The property: a read that starts after the api heard a change never returns anything older; and
 * after a gap (the subscriber killed, a generation switch, a heal) nothing cached from before is
 * served.
 */
describe('NearCache on Redis (exact: never older than the last change heard)', () => {
  const settings = loadSettings(stackEnv());
  const prefix = `${uniqueName('nc')}:`;
  const feedName = uniqueName('nc-feed');
  const posts = ['p0', 'p1', 'p2', 'p3', 'p4'];
  let redis: Redis;
  let reader: LikesReader;
  let projection: LikesProjection;
  let live: LiveCounts;
  let cache: NearCache;
  /** a second cache whose values expire almost at once: re-reads race the changes all the time */
  let shortLived: NearCache;
  /** the last change the api heard per post (reset when the generation switches: a new series) */
  const heard = new Map<string, CountSnapshot>();
  const gaps: string[] = [];
  const metrics = { hits: 0, misses: 0, drops: [] as string[] };
  let offset = 0;

  beforeAll(async () => {
    redis = createRedis({ url: settings.redis.url, name: 'near-cache-test' });
    await redisReady(redis);
    await markReadSideComplete(redis, prefix, 2);
    reader = new LikesReader(redis, prefix);
    projection = new LikesProjection(redis, prefix);
    live = new LiveCounts({ url: settings.redis.url, prefix, reader, name: feedName });
    cache = new NearCache({
      source: { count: (p) => reader.getCount(p), counts: (ps) => reader.getMany(ps) },
      feed: live,
      capacity: 100,
      maxAgeMs: 600_000, // no expiry in this test: only the stream and its gaps keep values right
      metrics: {
        hit: (n) => (metrics.hits += n),
        miss: (_k, n) => (metrics.misses += n),
        drop: (reason) => metrics.drops.push(reason),
        evict: () => undefined,
      },
    });
    shortLived = new NearCache({
      source: { count: (p) => reader.getCount(p), counts: (ps) => reader.getMany(ps) },
      feed: live,
      capacity: 100,
      maxAgeMs: 2,
    });
    live.listen(cache); // first: the caches have applied a change before the test records it as heard
    live.listen(shortLived);
    live.listen({
      change: (u) => heard.set(u.postId, u),
      gap: (reason) => {
        gaps.push(reason);
        if (reason === 'generation switched') heard.clear();
      },
    });
    await waitFor('the subscriber', () => live.connected);
  });
  afterAll(async () => {
    await live.close();
    await deleteKeysWithPrefix(redis, prefix);
    await redis.quit();
  });

  /** A cached read, checked against the last change heard before it started. */
  async function read(postId: string, from = cache): Promise<CountSnapshot> {
    const floor = heard.get(postId);
    const value = await from.count(postId);
    if (floor && (value.asOf ?? -1) < (floor.asOf ?? -1)) {
      throw new Error(
        `read of ${postId} returned ${JSON.stringify(value)}, older than the change heard before: ${JSON.stringify(floor)}`,
      );
    }
    return value;
  }

  const change = (postId: string, partition: number, count: number) =>
    projection.applyBatch([{ postId, partition, count, sourceOffset: ++offset }]);

  /** Reads until the post is answered from memory. */
  async function cached(postId: string): Promise<void> {
    await waitFor(
      `${postId} served from the near cache`,
      async () => {
        const before = metrics.hits;
        await read(postId);
        return metrics.hits > before;
      },
      5000,
      5,
    );
  }

  /** Every post read through the cache equals a direct read of Redis. */
  async function exact(): Promise<void> {
    for (const p of posts) expect(await cache.count(p)).toEqual(await reader.getCount(p));
  }

  /** Waits until the api heard the last change of these posts (what Redis holds now). */
  async function settled(which: readonly string[] = posts): Promise<void> {
    await waitFor(
      'the api heard every change',
      async () => {
        for (const p of which) {
          const v = await reader.getCount(p);
          if (v.asOf !== null && heard.get(p)?.asOf !== v.asOf) return false;
        }
        return true;
      },
      10_000,
      10,
    );
  }

  it('changes and reads interleaved: no read older than what was heard before it; exact when quiet', async () => {
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 400; i++) {
        await change(posts[i % posts.length], i % 2, i);
        if (i % 4 === 0) await new Promise((r) => setImmediate(r));
      }
      writing = false;
    })();
    const readers = Array.from({ length: 4 }, async (_, k) => {
      let i = k;
      while (writing) {
        await read(posts[i++ % posts.length], k % 2 === 0 ? cache : shortLived);
        if (i % 8 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    await Promise.all([writer, ...readers]);
    await settled();
    for (const p of posts) await cached(p);
    await exact();
    expect(metrics.hits).toBeGreaterThan(0);
  });

  it('a gap in the stream (the subscriber connection killed) drops the cache: a change made meanwhile is read, not missed', async () => {
    for (const p of posts) await cached(p);
    const dropsBefore = metrics.drops.length;
    const list = (await redis.client('LIST')) as string;
    const id = /id=(\d+) .*name=(\S+)/.exec(
      list.split('\n').find((line) => line.includes(` name=${feedName} `)) ?? '',
    )?.[1];
    expect(id).toBeDefined();
    await redis.client('KILL', 'ID', id!);
    await waitFor('the subscriber to notice', () => !live.connected, 5000, 1);
    await change('p0', 0, 7_000); // published while the api is not subscribed: never heard
    await waitFor('the subscriber back', () => live.connected, 10_000, 5);
    expect(metrics.drops.slice(dropsBefore)).toContain('subscriber connection lost');
    expect(await read('p0')).toEqual(await reader.getCount('p0'));
    expect((await read('p0')).count).toBeGreaterThanOrEqual(7_000);
    // and it fills again from the stream
    for (const p of posts) await cached(p);
    await change('p1', 1, 8_000);
    await settled(['p1']);
    await exact();
  });

  it('a generation switch (a read-side rebuild) drops the cache: the new generation is read', async () => {
    for (const p of posts) await cached(p);
    const gens = new ReadSideGenerations(redis, prefix);
    await gens.beginBuild(1);
    const writer = new GenerationWriter(redis, prefix, 1);
    await writer.applyBatch(
      posts.map((postId, i) => ({ postId, partition: 0, count: 100 + i, sourceOffset: ++offset })),
    );
    const before = await cache.count('p2');
    await gens.switchTo(0, 1);
    await waitFor('the switch announced', () => gaps.includes('generation switched'), 5000, 5);
    expect(await read('p2')).toEqual(await reader.getCount('p2'));
    expect((await read('p2')).count).not.toBe(before.count);
    expect((await reader.getCount('p2')).count).toBe(102);
    for (const p of posts) await cached(p);
    await change('p3', 1, 9_000); // live changes go to generation 1 and reach the cache
    await settled(['p3']);
    await exact();
  });

  it('a heal (the read side not complete) drops the cache and reads are refused, then served again once restored', async () => {
    for (const p of posts) await cached(p);
    await redis.hdel(progressKey(prefix), 'p:0'); // partition 0's progress lost: the projector starts a heal
    const progress = new ReadSideProgress(redis, prefix, 2);
    expect(await progress.startHeal(0, 0, 10)).toEqual({ kind: 'heal', from: 0 });
    await waitFor('the heal announced', () => gaps.includes('read side healing'), 5000, 5);
    await expect(cache.count('p0')).rejects.toThrow(ReadSideHealingError);
    await markReadSideComplete(redis, prefix, 2);
    await waitFor('the restore announced', () => gaps.includes('read side restored'), 5000, 5);
    for (const p of posts) await cached(p);
    await change('p4', 0, 11_000);
    await settled(['p4']);
    await exact();
  });
});
