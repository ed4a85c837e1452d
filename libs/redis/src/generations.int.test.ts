import {
  createRedis,
  deleteKeysWithPrefix,
  generationKey,
  GenerationWriter,
  likesKey,
  LikesProjection,
  LikesReader,
  markReadSideComplete,
  ReadSideGenerations,
  redisReady,
  type Redis,
} from '@doubletap/redis';
import { redisTargets, uniqueName } from '@doubletap/testing';

describe.each(redisTargets())('read-side generations on $name Redis', (target) => {
  const prefix = `${uniqueName('tg')}:`;
  let redis: Redis;
  let subscriber: Redis;

  beforeAll(async () => {
    redis = createRedis({ url: target.url, name: 'generations-test' });
    subscriber = createRedis({ url: target.url, name: 'generations-test-sub' });
    await Promise.all([redisReady(redis), redisReady(subscriber)]);
    await markReadSideComplete(redis, prefix, 4); // no projector here: the read side is declared complete
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(redis, prefix);
    await Promise.all([redis.quit(), subscriber.quit()]);
  });

  const cc = (postId: string, partition: number, count: number, sourceOffset: number) => ({ postId, partition, count, sourceOffset });

  it('builds a new generation beside the served one, dual-writes live applies into it, switches atomically', async () => {
    const gens = new ReadSideGenerations(redis, prefix);
    const live = new LikesProjection(redis, prefix);
    const reader = new LikesReader(redis, prefix);
    const published: string[] = [];
    await subscriber.psubscribe(`${prefix}likes:changed:*`);
    subscriber.on('pmessage', (_p, _c, message: string) => published.push(message));

    await live.applyBatch([cc('a', 0, 3, 10), cc('a', 1, 2, 4), cc('b', 0, 1, 11)]);
    expect(await gens.current()).toBe(0);
    expect(await redis.hget(likesKey(prefix, 'a'), 'total')).toBe('5'); // generation 0 = the pre-generation keys

    await gens.beginBuild(1);
    await expect(gens.beginBuild(1)).rejects.toThrow(/another read-side rebuild/);
    const writer = new GenerationWriter(redis, prefix, 1);
    const before = published.length;
    await writer.applyBatch([cc('a', 0, 3, 10)]); // the rebuild has read only part of the log
    await live.applyBatch([cc('a', 1, 4, 5)]); // a live change while building: applied to both generations
    expect((await reader.getCount('a')).count).toBe(7); // readers still see generation 0, complete
    expect(await redis.hget(generationKey(prefix, 1, 'a'), 'total')).toBe('7');
    await writer.applyBatch([cc('a', 1, 2, 4), cc('b', 0, 1, 11)]); // older record: the dual write wins
    expect(await redis.hget(generationKey(prefix, 1, 'a'), 'total')).toBe('7');

    // the writer never publishes; the live apply published once (from the served generation)
    await new Promise((r) => setTimeout(r, 100));
    expect(published.slice(before).map((m) => (JSON.parse(m) as { count: number }).count)).toEqual([7]);

    const atBefore = (await reader.getCount('a')).asOf!;
    await gens.switchTo(0, 1);
    expect(await gens.current()).toBe(1);
    expect(await gens.building()).toBeUndefined();
    const after = await reader.getMany(['a', 'b', 'nope']);
    expect(after.map((c) => c.count)).toEqual([7, 1, 0]);
    expect(after[0].asOf).toBeGreaterThanOrEqual(atBefore); // asOf never goes backwards over a switch
    await expect(gens.switchTo(0, 2)).rejects.toThrow(/generation is 1/);

    expect(await gens.deleteGeneration(0)).toBe(2);
    await expect(gens.deleteGeneration(1)).rejects.toThrow(/being served/);
    await live.applyBatch([cc('b', 0, 2, 12)]);
    expect((await reader.getCount('b')).count).toBe(2);
    expect(await redis.exists(likesKey(prefix, 'b'))).toBe(0);
  });

  it('lets a rebuild record with the same source offset replace the stored one (the later record wins)', async () => {
    const writer = new GenerationWriter(redis, prefix, 7);
    await writer.applyBatch([cc('same', 2, 9, 100)]);
    const r = await writer.applyBatch([cc('same', 2, 4, 100)]);
    expect(r.applied).toBe(1);
    expect(await redis.hget(generationKey(prefix, 7, 'same'), 'total')).toBe('4');
    const live = new LikesProjection(redis, `${prefix}x:`);
    await live.applyBatch([cc('same', 2, 9, 100)]);
    expect((await live.applyBatch([cc('same', 2, 4, 100)])).applied).toBe(0); // the live guard stays strict
  });

  it('of two records with EQUAL source offsets in ONE batch, a rebuild keeps the later one', async () => {
    const writer = new GenerationWriter(redis, prefix, 8);
    const r = await writer.applyBatch([cc('tie', 2, 9, 100), cc('tie', 2, 4, 100)]);
    expect(r.applied).toBe(1);
    expect(await redis.hget(generationKey(prefix, 8, 'tie'), 'total')).toBe('4');
    expect(await redis.hget(generationKey(prefix, 8, 'tie'), 'c:2')).toBe('4');
  });
});
