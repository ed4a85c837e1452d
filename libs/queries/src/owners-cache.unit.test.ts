import { OwnersCache } from './owners-cache';

describe('OwnersCache (the owners map until something says it changed)', () => {
  it('one read serves every lookup until invalidated or older than maxAgeMs; concurrent lookups share it', async () => {
    let t = 0;
    let reads = 0;
    const map = new Map([
      [0, 'http://a'],
      [1, 'http://b'],
    ]);
    const cache = new OwnersCache(
      async () => (reads++, new Map(map)),
      1000,
      () => t,
    );
    expect(await Promise.all([cache.owner(0), cache.owner(1), cache.owner(2)])).toEqual([
      'http://a',
      'http://b',
      undefined,
    ]);
    expect(reads).toBe(1);
    map.set(0, 'http://c');
    expect(await cache.owner(0)).toBe('http://a');
    cache.invalidate();
    expect(await cache.owner(0)).toBe('http://c');
    expect(reads).toBe(2);
    map.set(1, 'http://d');
    t += 1000;
    expect(await cache.owner(1)).toBe('http://d');
    expect(reads).toBe(3);
  });

  it('a failed read is not kept', async () => {
    let fail = true;
    const cache = new OwnersCache(async () => {
      if (fail) throw new Error('redis down');
      return new Map([[0, 'http://a']]);
    }, 60_000);
    await expect(cache.owner(0)).rejects.toThrow('redis down');
    fail = false;
    await expect(cache.owner(0)).resolves.toBe('http://a');
  });
});
