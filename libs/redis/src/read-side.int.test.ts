import {
  createRedis,
  deleteKeysWithPrefix,
  isCluster,
  likesKey,
  LikesProjection,
  LikesReader,
  LiveCounts,
  markReadSideComplete,
  ReadRequestError,
  redisReady,
  type CountUpdate,
  type Redis,
} from '@doubletap/redis';
import { redisTargets, uniqueName, waitFor } from '@doubletap/testing';

describe.each(redisTargets())('Redis read side on $name Redis', (target) => {
  const prefix = `${uniqueName('t')}:`;
  let redis: Redis;
  let projection: LikesProjection;
  let reader: LikesReader;

  beforeAll(async () => {
    redis = createRedis({ url: target.url, name: 'read-side-test' });
    await redisReady(redis);
    projection = new LikesProjection(redis, prefix);
    reader = new LikesReader(redis, prefix);
    await markReadSideComplete(redis, prefix, 12); // no projector here: the read side is declared complete
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(redis, prefix);
    await redis.quit();
  });

  const cc = (postId: string, partition: number, count: number, sourceOffset: number) => ({
    postId,
    partition,
    count,
    sourceOffset,
  });

  it('applies guarded by offset: a repeated record and an older record after a newer one change nothing', async () => {
    const post = 'idem';
    const first = await projection.applyBatch([cc(post, 0, 5, 10), cc(post, 3, 2, 7)]);
    expect(first.applied).toBe(2);
    expect(first.changed).toEqual([{ postId: post, count: 7, asOf: expect.any(Number) }]);
    const before = await redis.hgetall(likesKey(prefix, post));
    expect(before).toMatchObject({ total: '7', 'c:0': '5', 'o:0': '10', 'c:3': '2', 'o:3': '7' });

    const again = await projection.applyBatch([cc(post, 0, 5, 10)]);
    expect(again).toEqual({ changed: [], applied: 0, stale: 1 });
    const older = await projection.applyBatch([cc(post, 0, 1, 9), cc(post, 3, 0, 2)]);
    expect(older).toEqual({ changed: [], applied: 0, stale: 2 });
    expect(await redis.hgetall(likesKey(prefix, post))).toEqual(before); // not even `at` moved

    // newer partial counts replace (not add to) the old ones, also for a decrease (unlikes)
    const newer = await projection.applyBatch([cc(post, 0, 3, 11), cc(post, 0, 1, 8), cc(post, 3, 4, 8)]);
    expect(newer.applied).toBe(2);
    expect(newer.stale).toBe(1);
    expect(newer.changed[0].count).toBe(7);
    expect(Number(newer.changed[0].asOf)).toBeGreaterThan(Number(before.at));
    expect(await reader.getCount(post)).toEqual({ postId: post, count: 7, asOf: newer.changed[0].asOf });
  });

  it('keeps asOf strictly increasing per post even when the clock does not move', async () => {
    const frozen = new LikesProjection(redis, prefix, () => 1_000);
    const a = await frozen.applyBatch([cc('clock', 0, 1, 1)]);
    const b = await frozen.applyBatch([cc('clock', 0, 2, 2)]);
    expect(b.changed[0].asOf).toBeGreaterThan(a.changed[0].asOf);
  });

  it('reads an unknown post as 0, and 100 posts in one round trip', async () => {
    const posts = Array.from({ length: 100 }, (_, i) => `many-${i}`);
    await projection.applyBatch(posts.slice(0, 99).map((p, i) => cc(p, i % 12, i + 1, i)));
    // one Redis: one socket write carrying the script call; a cluster: at most one pipeline per master
    const connections = isCluster(redis) ? redis.nodes('master') : [redis];
    const writes = connections.map((c) => jest.spyOn((c as unknown as { stream: { write: (...a: unknown[]) => boolean } }).stream, 'write'));
    const write = { mockRestore: () => writes.forEach((w) => w.mockRestore()) };
    try {
      const counts = await reader.getMany(posts);
      if (isCluster(redis)) {
        // pointers, then the posts in one pipeline per master, then the pointers again
        const total = writes.reduce((n, w) => n + w.mock.calls.length, 0);
        expect(total).toBeLessThanOrEqual(connections.length + 2);
      } else {
        expect(writes[0]).toHaveBeenCalledTimes(1);
      }
      expect(counts).toHaveLength(100);
      counts.slice(0, 99).forEach((c, i) => expect(c).toEqual({ postId: posts[i], count: i + 1, asOf: expect.any(Number) }));
      expect(counts[99]).toEqual({ postId: 'many-99', count: 0, asOf: null });
    } finally {
      write.mockRestore();
    }
    await expect(reader.getCount('never-liked')).resolves.toEqual({ postId: 'never-liked', count: 0, asOf: null });
    await expect(reader.getMany([...posts, 'one-too-many'])).rejects.toThrow(ReadRequestError);
    await expect(reader.getMany(['ok', 'bad}id'])).rejects.toThrow(ReadRequestError);
    await expect(reader.getCount('')).rejects.toThrow(ReadRequestError);
  });

  it('LiveCounts: one subscription per post shared by its viewers, released by the last one', async () => {
    const live = new LiveCounts({ url: target.url, prefix, reader });
    const numsub = async (postId: string) => {
      let n = 0; // on a cluster each node counts its own subscribers: sum over the masters
      for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
        const reply = (await node.call('PUBSUB', 'NUMSUB', `${prefix}likes:changed:{${postId}}`)) as [string, number];
        n += Number(reply[1]);
      }
      return n;
    };
    try {
      await projection.applyBatch([cc('live-a', 0, 3, 1)]);
      const a1 = live.watch('live-a');
      const a2 = live.watch('live-a');
      const b1 = live.watch('live-b');
      // the current count arrives at once, before any change
      await expect(a1.next()).resolves.toMatchObject({ count: 3 });
      await expect(a2.next()).resolves.toMatchObject({ count: 3 });
      await expect(b1.next()).resolves.toEqual({ postId: 'live-b', count: 0, asOf: null });
      await waitFor('subscriptions', async () => (await numsub('live-a')) === 1 && (await numsub('live-b')) === 1);
      expect(live.stats()).toEqual({ channels: 2, viewers: 3 });

      await projection.applyBatch([cc('live-a', 1, 4, 1)]);
      const got: CountUpdate[] = await Promise.all([a1.next(), a2.next()]) as CountUpdate[];
      expect(got.map((u) => u.count)).toEqual([7, 7]);

      // a viewer that does not read keeps only the newest value
      for (let i = 2; i <= 30; i++) await projection.applyBatch([cc('live-a', 1, 4 + i, i)]);
      await waitFor('last update delivered', () => a1.pending?.count === 37);
      expect(a1.superseded).toBeGreaterThan(0);
      await expect(a1.next()).resolves.toMatchObject({ count: 37 });

      a1.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(await numsub('live-a')).toBe(1); // a2 still watches
      a2.close();
      b1.close();
      await waitFor('unsubscribed', async () => (await numsub('live-a')) === 0 && (await numsub('live-b')) === 0);
      expect(live.stats()).toEqual({ channels: 0, viewers: 0 });
    } finally {
      await live.close();
    }
  });
});
