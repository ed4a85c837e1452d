import {
  countChannel,
  createRedis,
  deleteKeysWithPrefix,
  LikesProjection,
  LikesReader,
  LiveCounts,
  markReadSideComplete,
  progressKey,
  readyChannel,
  ReadSideHealingError,
  ReadSideProgress,
  readSideStatus,
  readySentinelKey,
  ReadUnavailableError,
  redisReady,
  type ProgressStep,
  type Redis,
} from '@doubletap/redis';
import { redisTargets, uniqueName, waitFor } from '@doubletap/testing';

const cc = (postId: string, partition: number, count: number, sourceOffset: number) => ({ postId, partition, count, sourceOffset });

describe.each(redisTargets())('read-side progress in Redis (scripts against the real Redis) on $name Redis', (target) => {
  let redis: Redis;
  let subscriber: Redis;
  const prefixes: string[] = [];
  const fresh = () => {
    const p = `${uniqueName('tp')}:`;
    prefixes.push(p);
    return p;
  };

  beforeAll(async () => {
    redis = createRedis({ url: target.url, name: 'progress-test' });
    subscriber = createRedis({ url: target.url, name: 'progress-test-sub' });
    await Promise.all([redisReady(redis), redisReady(subscriber)]);
  });
  afterAll(async () => {
    for (const p of prefixes) await deleteKeysWithPrefix(redis, p);
    await Promise.all([redis.quit(), subscriber.quit()]);
  });

  const step = (s: Partial<ProgressStep> & Pick<ProgressStep, 'partition' | 'mode' | 'expected' | 'next'>): ProgressStep => ({
    target: 0,
    partitions: 2,
    ...s,
  });

  it('readers refuse without the sentinel (ReadSideHealingError, a ReadUnavailableError) and report how far the heal got', async () => {
    const prefix = fresh();
    const reader = new LikesReader(redis, prefix);
    const progress = new ReadSideProgress(redis, prefix, 2);
    const err = await reader.getCount('p1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReadSideHealingError);
    expect(err).toBeInstanceOf(ReadUnavailableError);
    expect((err as Error).message).toBe('read side healing: no partition restored yet (no projector has recorded its progress)');
    expect(await readSideStatus(redis, prefix)).toEqual({ complete: false, restored: 0, partitions: null });

    expect(await progress.startHeal(0, 0, 0)).toEqual({ kind: 'healed', next: 0 }); // empty partition
    expect(await progress.startHeal(1, 0, 5)).toEqual({ kind: 'heal', from: 0 });
    await expect(reader.getMany(['p1', 'p2'])).rejects.toMatchObject({ restored: 1, partitions: 2, message: 'read side healing: 1 of 2 partitions restored' });
    expect(await readSideStatus(redis, prefix)).toEqual({ complete: false, restored: 1, partitions: 2 });
  });

  it('a heal: h:<n> chain by compare-and-set, p:<n> only at the target, the sentinel (and its announcement) from the last partition', async () => {
    const prefix = fresh();
    const projection = new LikesProjection(redis, prefix);
    const progress = new ReadSideProgress(redis, prefix, 2);
    const reader = new LikesReader(redis, prefix);
    const announced: string[] = [];
    await subscriber.subscribe(readyChannel(prefix));
    subscriber.on('message', (channel: string, m: string) => channel === readyChannel(prefix) && announced.push(m));

    expect(await progress.startHeal(0, 0, 4)).toEqual({ kind: 'heal', from: 0 });
    expect(await progress.startHeal(1, 0, 2)).toEqual({ kind: 'heal', from: 0 });
    const r1 = await projection.applyBatch([cc('x', 0, 3, 10)], step({ partition: 0, mode: 'heal', expected: 0, next: 2, target: 4 }));
    expect(r1.progress).toEqual({ status: 'ok' });
    expect(await redis.hgetall(progressKey(prefix))).toEqual({ partitions: '2', 'h:0': '2', 'h:1': '0' });
    // the same step again (a retry after a lost reply) is accepted; a wrong expectation is not
    expect((await projection.applyBatch([], step({ partition: 0, mode: 'heal', expected: 0, next: 2, target: 4 }))).progress).toEqual({ status: 'ok' });
    expect((await projection.applyBatch([], step({ partition: 0, mode: 'heal', expected: 1, next: 3, target: 4 }))).progress).toEqual({
      status: 'moved',
      next: null,
      heal: 2,
    });
    // a live step on a healing partition is refused (no p:0)
    expect((await projection.applyBatch([], step({ partition: 0, mode: 'live', expected: 0, next: 3 }))).progress).toEqual({
      status: 'moved',
      next: null,
      heal: 2,
    });

    expect((await projection.applyBatch([cc('x', 0, 5, 11)], step({ partition: 0, mode: 'heal', expected: 2, next: 4, target: 4 }))).progress).toEqual({
      status: 'healed',
    });
    expect(await redis.hget(progressKey(prefix), 'p:0')).toBe('4');
    expect(await redis.hexists(progressKey(prefix), 'h:0')).toBe(0);
    expect(await redis.exists(readySentinelKey(prefix))).toBe(0);
    await expect(reader.getCount('x')).rejects.toThrow(ReadSideHealingError);

    expect((await projection.applyBatch([cc('x', 1, 2, 7)], step({ partition: 1, mode: 'heal', expected: 0, next: 2, target: 2 }))).progress).toEqual({
      status: 'healed',
    });
    expect(await redis.get(readySentinelKey(prefix))).toBe('2');
    expect(await reader.getCount('x')).toMatchObject({ count: 7 });
    await waitFor('the announcement', () => announced.length === 1);
    expect(announced).toEqual(['2']);
    await subscriber.unsubscribe(readyChannel(prefix));
  });

  it('live steps: compare-and-set on p:<n>, its own repeat accepted, anything else answered with what Redis holds', async () => {
    const prefix = fresh();
    const projection = new LikesProjection(redis, prefix);
    const progress = new ReadSideProgress(redis, prefix, 2);
    await markReadSideComplete(redis, prefix, 2);
    expect(await progress.positions([0, 1])).toEqual(new Map([[0, { next: 0, heal: null }], [1, { next: 0, heal: null }]]));
    expect((await projection.applyBatch([cc('y', 0, 1, 1)], step({ partition: 0, mode: 'live', expected: 0, next: 5 }))).progress).toEqual({ status: 'ok' });
    expect((await projection.applyBatch([cc('y', 0, 1, 1)], step({ partition: 0, mode: 'live', expected: 0, next: 5 }))).progress).toEqual({ status: 'ok' });
    // a zombie that still thinks p:0 is 0 and wants to write 3: refused, told 5
    expect((await projection.applyBatch([], step({ partition: 0, mode: 'live', expected: 0, next: 3 }))).progress).toEqual({
      status: 'moved',
      next: 5,
      heal: null,
    });
    expect(await redis.hget(progressKey(prefix), 'p:0')).toBe('5');
    // the data is lost (as by FLUSHALL): the next step finds nothing, and writes nothing
    await deleteKeysWithPrefix(redis, prefix);
    expect((await projection.applyBatch([cc('y', 0, 1, 9)], step({ partition: 0, mode: 'live', expected: 5, next: 7 }))).progress).toEqual({
      status: 'moved',
      next: null,
      heal: null,
    });
    expect(await redis.exists(progressKey(prefix), readySentinelKey(prefix))).toBe(0);
  });

  it('the idle check keeps the sentinel equal to "every p:<n> exists", both ways; a heal start resumes from h:<n>', async () => {
    const prefix = fresh();
    const progress = new ReadSideProgress(redis, prefix, 3);
    await redis.hset(progressKey(prefix), 'p:0', '4', 'p:1', '2', 'p:2', '0', 'partitions', '3');
    expect(await redis.exists(readySentinelKey(prefix))).toBe(0);
    await progress.positions([0]);
    expect(await redis.get(readySentinelKey(prefix))).toBe('3'); // repaired: every p:<n> is there
    await redis.hdel(progressKey(prefix), 'p:2');
    expect(await progress.positions([0, 2])).toEqual(new Map([[0, { next: 4, heal: null }], [2, { next: null, heal: null }]]));
    expect(await redis.exists(readySentinelKey(prefix))).toBe(0); // p:2 is gone: not complete

    await redis.hset(progressKey(prefix), 'h:2', '7');
    expect(await progress.startHeal(2, 3, 10)).toEqual({ kind: 'heal', from: 7 }); // resumes where it stopped
    expect(await progress.startHeal(2, 8, 10)).toEqual({ kind: 'heal', from: 8 }); // the log start moved past it
    expect(await progress.startHeal(2, 0, 8)).toEqual({ kind: 'healed', next: 8 }); // already at the target
    expect(await redis.get(readySentinelKey(prefix))).toBe('3');
    expect(await progress.startHeal(1, 0, 10)).toEqual({ kind: 'live', next: 2 }); // nothing to heal
  });

  it('nothing is PUBLISHed while the read side heals; live viewers are refreshed when it is complete again', async () => {
    const prefix = fresh();
    const projection = new LikesProjection(redis, prefix);
    const reader = new LikesReader(redis, prefix);
    const progress = new ReadSideProgress(redis, prefix, 1);
    const live = new LiveCounts({ url: target.url, prefix, reader });
    const published: string[] = [];
    const onMessage = (channel: string, m: string) => channel === countChannel(prefix, 'z') && published.push(m);
    subscriber.on('message', onMessage);
    await subscriber.subscribe(countChannel(prefix, 'z'));
    try {
      await markReadSideComplete(redis, prefix, 1);
      await projection.applyBatch([cc('z', 0, 4, 1)]);
      const viewer = live.watch('z');
      await expect(viewer.next()).resolves.toMatchObject({ count: 4 });
      await waitFor('the first publication', () => published.length === 1);

      await deleteKeysWithPrefix(redis, prefix); // the loss
      expect(await progress.startHeal(0, 0, 3)).toEqual({ kind: 'heal', from: 0 });
      await projection.applyBatch([cc('z', 0, 2, 0)], step({ partition: 0, mode: 'heal', expected: 0, next: 1, target: 3, partitions: 1 }));
      await new Promise((r) => setTimeout(r, 100));
      expect(published).toHaveLength(1); // the partial total 2 was not announced
      expect(viewer.pending).toBeUndefined();

      await projection.applyBatch([cc('z', 0, 6, 2)], step({ partition: 0, mode: 'heal', expected: 1, next: 3, target: 3, partitions: 1 }));
      await expect(viewer.next()).resolves.toMatchObject({ count: 6 }); // the refresh after the heal
      expect(published).toHaveLength(1);
    } finally {
      subscriber.off('message', onMessage);
      await subscriber.unsubscribe(countChannel(prefix, 'z'));
      await live.close();
    }
  });
});
