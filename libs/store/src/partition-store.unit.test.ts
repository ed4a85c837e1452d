import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { PartitionStore, StoreOpenError, storePath } from '@doubletap/store';

describe('PartitionStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('given a new store, when opened, then it has no offset, no source, no members and nothing dirty', async () => {
    const store = await PartitionStore.open(dir, 3);
    expect(store.path).toBe(storePath(dir, 3));
    expect(store.path.endsWith('p-3')).toBe(true);
    expect(store.lastOffset()).toBeUndefined();
    expect(store.source()).toBeUndefined();
    expect(await store.getState(['a/u1', 'a/u2'], ['a'])).toEqual({ membership: new Map(), counts: new Map() });
    expect(await store.dirtyPosts(10)).toEqual([]);
    await store.close();
  });

  it('given committed batches, when reopened, then membership, counts, dirty marks, source and offset all survived', async () => {
    const store = await PartitionStore.open(dir, 0);
    await store.commitBatch({
      membership: new Map([
        ['a/u1', true],
        ['a/u2', true],
        ['b/u1', true],
      ]),
      counts: new Map([
        ['a', 2],
        ['b', 1],
      ]),
      dirty: ['a', 'b'],
      source: { topicId: 't-1', partitions: 4 },
      offset: 9,
    });
    await store.commitBatch({ membership: new Map([['a/u2', false]]), counts: new Map([['a', 1]]), clean: ['b'], offset: 12 });
    await store.close();

    const again = await PartitionStore.open(dir, 0);
    expect(again.lastOffset()).toBe(12);
    expect(again.source()).toEqual({ topicId: 't-1', partitions: 4 });
    expect(await again.allMembers()).toEqual(['a/u1', 'b/u1']);
    expect(await again.allCounts()).toEqual(new Map([['a', 1], ['b', 1]]));
    const state = await again.getState(['a/u1', 'c/u9'], ['a', 'c']);
    expect(state.membership).toEqual(new Map([['a/u1', true]]));
    expect(state.counts).toEqual(new Map([['a', 1]]));
    expect(await again.dirtyPosts(10)).toEqual([{ postId: 'a', count: 1 }]);
    // the interactive queries' reads (synchronous): one pair, or many, in the order asked
    expect(again.areLiked([{ postId: 'a', userId: 'u1' }])).toEqual([true]);
    expect(again.areLiked([{ postId: 'a', userId: 'u2' }])).toEqual([false]);
    expect(
      again.areLiked([
        { postId: 'a', userId: 'u2' },
        { postId: 'b', userId: 'u1' },
        { postId: 'a', userId: 'u1' },
        { postId: 'c', userId: 'u9' },
      ]),
    ).toEqual([false, true, true, false]);
    expect(again.areLiked([])).toEqual([]);
    await again.clean(['a']);
    expect(await again.dirtyCount()).toBe(0);
    await again.close();
  });

  it('reads a batch state the same way whatever its size (a few keys synchronously, many in one multi-get)', async () => {
    const store = await PartitionStore.open(dir, 0);
    const members = Array.from({ length: 300 }, (_, i) => `p${i % 7}/u${i}`);
    await store.commitBatch({
      membership: new Map(members.filter((_, i) => i % 3 === 0).map((k) => [k, true])),
      counts: new Map([['p1', 5], ['p4', 9]]),
      offset: 1,
    });
    const expected = (keys: string[], posts: string[]) => ({
      membership: new Map(keys.filter((k) => members.indexOf(k) % 3 === 0).map((k) => [k, true])),
      counts: new Map(posts.filter((p) => p === 'p1' || p === 'p4').map((p) => [p, p === 'p1' ? 5 : 9])),
    });
    for (const n of [1, 10, 60, 61, 62, 200, 300]) {
      const keys = members.slice(0, n);
      const posts = ['p0', 'p1', 'p4', 'p9'];
      expect(await store.getState(keys, posts)).toEqual(expected(keys, posts));
    }
    await store.close();
  });

  it('rejects a batch that does not move the offset forward, and negative counts', async () => {
    const store = await PartitionStore.open(dir, 2);
    await store.commitBatch({ membership: new Map(), counts: new Map(), offset: 5 });
    await expect(store.commitBatch({ membership: new Map(), counts: new Map(), offset: 5 })).rejects.toThrow(
      /offset 5 is not after the stored offset 5/,
    );
    await expect(store.commitBatch({ membership: new Map(), counts: new Map([['a', -1]]), offset: 6 })).rejects.toThrow(/negative count/);
    expect(store.lastOffset()).toBe(5);
    await store.close();
  });

  it('restores raw entries (a changelog) and dumps the state entries back', async () => {
    const store = await PartitionStore.open(dir, 6);
    await store.restoreEntries(
      [
        { key: 'm/a/u1', value: '1' },
        { key: 'm/a/u2', value: '1' },
        { key: 'c/a', value: '2' },
      ],
      undefined,
    );
    await store.restoreEntries([{ key: 'm/a/u2', value: null }, { key: 'c/a', value: '1' }], 41, { topicId: 't', partitions: 1 });
    expect(store.lastOffset()).toBe(41);
    const entries = [];
    for await (const e of store.stateEntries()) entries.push(e);
    expect(entries).toEqual([
      { key: 'c/a', value: '1' },
      { key: 'm/a/u1', value: '1' },
    ]);
    await store.close();
  });

  it('answers dirtyCount again without iterating until the store is written, and exactly after every write', async () => {
    const store = await PartitionStore.open(dir, 0);
    const commit = (offset: number, dirty: string[], clean: string[] = []) =>
      store.commitBatch({ membership: new Map(), counts: new Map(), offset, dirty, clean });
    expect(await store.dirtyCount()).toBe(0);
    await commit(1, ['a', 'b', 'c']);
    expect(await store.dirtyCount()).toBe(3);
    expect(await store.dirtyCount(2)).toBe(2);
    const keys = jest.spyOn((store as unknown as { db: ClassicLevel<string, string> }).db, 'keys');
    expect(await store.dirtyCount(2)).toBe(2); // kept: no write since
    expect(keys).not.toHaveBeenCalled();
    keys.mockRestore();
    await store.clean(['a']);
    expect(await store.dirtyCount(2)).toBe(2);
    expect(await store.dirtyCount()).toBe(2);
    await commit(2, ['d'], ['b', 'c']);
    expect(await store.dirtyCount()).toBe(1);
    await store.restoreEntries([{ key: 'd/e', value: '1' }]);
    expect(await store.dirtyCount()).toBe(2);
    await store.close();
  });

  it('turns the outbox of an older store into dirty marks (their CountChanged may be unsent)', async () => {
    const db = new ClassicLevel<string, string>(storePath(dir, 8), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.batch([
      { type: 'put', key: 'm/p/u', value: '1' },
      { type: 'put', key: 'c/p', value: '1' },
      { type: 'put', key: 'o/p', value: JSON.stringify({ postId: 'p', partition: 8, count: 1, sourceOffset: 3 }) },
      { type: 'put', key: 'meta/offset', value: '3' },
    ]);
    await db.close();
    const store = await PartitionStore.open(dir, 8);
    expect(store.lastOffset()).toBe(3);
    expect(await store.dirtyPosts(10)).toEqual([{ postId: 'p', count: 1 }]);
    await store.close();
  });

  it('names the partition and the path when a store cannot be opened', async () => {
    const first = await PartitionStore.open(dir, 4); // holds the LevelDB lock
    await expect(PartitionStore.open(dir, 4)).rejects.toThrow(StoreOpenError);
    await expect(PartitionStore.open(dir, 4)).rejects.toThrow(`partition 4 at ${storePath(dir, 4)}`);
    await first.close();
    // a file where the directory should be
    await mkdir(join(dir, 'x'), { recursive: true });
    await writeFile(join(dir, 'x', 'p-7'), 'not a directory');
    await expect(PartitionStore.open(join(dir, 'x'), 7)).rejects.toThrow(/partition 7 at .*p-7/);
  });

  it('destroy removes a closed store; an approximate size is reported', async () => {
    const store = await PartitionStore.open(dir, 5);
    expect(await store.sizeBytes()).toBeGreaterThanOrEqual(0);
    await store.commitBatch({ membership: new Map([['a/b', true]]), counts: new Map([['a', 1]]), offset: 0 });
    await store.close();
    await PartitionStore.destroy(dir, 5);
    const fresh = await PartitionStore.open(dir, 5);
    expect(fresh.lastOffset()).toBeUndefined();
    await fresh.close();
  });
});
