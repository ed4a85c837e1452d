import { compareCounts, missingIds } from './compare';
import { probeKeys } from './prober';
import { likeKey, partitionForKey } from '@doubletap/likes';

describe('compareCounts', () => {
  it('reports every post whose served counts leave the 202 range or differ from the recount', () => {
    const truth = new Map([
      ['ok', { lo: 3, hi: 3 }],
      ['range', { lo: 2, hi: 4 }],
      ['plus-one', { lo: 5, hi: 5 }],
      ['stale-api', { lo: 1, hi: 1 }],
    ]);
    const recount = new Map([
      ['ok', 3],
      ['range', 3],
      ['plus-one', 5],
      ['stale-api', 1],
      ['log-only', 2],
    ]);
    const redis = new Map([
      ['ok', 3],
      ['range', 3],
      ['plus-one', 6],
      ['stale-api', 1],
      ['log-only', 2],
    ]);
    const api = new Map([...redis, ['stale-api', 0]]);
    const out = compareCounts(truth, recount, redis, api);
    expect(out.map((m) => m.postId)).toEqual(['log-only', 'plus-one', 'stale-api']);
    expect(out.find((m) => m.postId === 'plus-one')).toEqual({
      postId: 'plus-one',
      lo: 5,
      hi: 5,
      recount: 5,
      redis: 6,
      api: 6,
      why: [
        'redis outside the 202 truth',
        'redis differs from the recount',
        'api outside the 202 truth',
        'api differs from the recount',
      ],
    });
    // in the log but never answered 202: the log holds what nobody was told was accepted
    expect(out.find((m) => m.postId === 'log-only')?.why).toEqual([
      'recount outside the 202 truth',
      'redis outside the 202 truth',
      'api outside the 202 truth',
    ]);
    expect(out.find((m) => m.postId === 'stale-api')?.why).toEqual([
      'api outside the 202 truth',
      'api differs from the recount',
    ]);
  });

  it('without api counts only Redis is compared', () => {
    expect(
      compareCounts(new Map([['p', { lo: 1, hi: 1 }]]), new Map([['p', 1]]), new Map([['p', 1]])),
    ).toEqual([]);
  });

  it('missingIds keeps the 202s absent from the log, in order', () => {
    expect(missingIds(['a', 'b', 'c', 'd'], new Set(['b', 'd']))).toEqual(['a', 'c']);
  });

  it('probeKeys finds a key homed on every partition', () => {
    const keys = probeKeys(6);
    expect(keys.map((k) => partitionForKey(likeKey(k.postId, k.userId), 6))).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
