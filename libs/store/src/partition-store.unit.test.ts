import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartitionStore, StoreOpenError, storePath } from '@doubletap/store';

describe('PartitionStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('given a new store, when opened, then it has no offset, no members and an empty outbox', async () => {
    const store = await PartitionStore.open(dir, 3);
    expect(store.path).toBe(storePath(dir, 3));
    expect(store.path.endsWith('p-3')).toBe(true);
    expect(store.lastOffset()).toBeUndefined();
    expect(await store.getMembership(['a/u1', 'a/u2'])).toEqual(new Map([['a/u1', false], ['a/u2', false]]));
    expect(await store.readOutbox()).toEqual([]);
    await store.close();
  });

  it('given a committed batch, when reopened, then membership, counts, outbox and offset all survived', async () => {
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
      outbox: [
        { postId: 'a', partition: 0, count: 2, sourceOffset: 9 },
        { postId: 'b', partition: 0, count: 1, sourceOffset: 9 },
      ],
      offset: 9,
    });
    await store.commitBatch({
      membership: new Map([['a/u2', false]]),
      counts: new Map([['a', 1]]),
      outbox: [{ postId: 'a', partition: 0, count: 1, sourceOffset: 12 }],
      offset: 12,
    });
    await store.close();

    const again = await PartitionStore.open(dir, 0);
    expect(again.lastOffset()).toBe(12);
    expect(await again.getMembership(['a/u1', 'a/u2', 'b/u1'])).toEqual(
      new Map([
        ['a/u1', true],
        ['a/u2', false],
        ['b/u1', true],
      ]),
    );
    expect(await again.allCounts()).toEqual(new Map([['a', 1], ['b', 1]]));
    const state = await again.getState(['a/u1', 'c/u9'], ['a', 'c']);
    expect(state.membership).toEqual(new Map([['a/u1', true], ['c/u9', false]]));
    expect(state.counts).toEqual(new Map([['a', 1], ['c', 0]]));
    // the outbox keeps only the latest CountChanged per post
    expect(await again.readOutbox()).toEqual([
      { postId: 'a', partition: 0, count: 1, sourceOffset: 12 },
      { postId: 'b', partition: 0, count: 1, sourceOffset: 9 },
    ]);
    await again.close();
  });

  it('when clearing the outbox, then only entries still equal to what was sent are removed', async () => {
    const store = await PartitionStore.open(dir, 1);
    const sentA = { postId: 'a', partition: 1, count: 1, sourceOffset: 0 };
    const sentB = { postId: 'b', partition: 1, count: 1, sourceOffset: 0 };
    await store.commitBatch({ membership: new Map(), counts: new Map(), outbox: [sentA, sentB], offset: 0 });
    const newerB = { postId: 'b', partition: 1, count: 2, sourceOffset: 1 };
    await store.commitBatch({ membership: new Map(), counts: new Map(), outbox: [newerB], offset: 1 });
    expect(await store.clearOutbox([sentA, sentB])).toBe(1);
    expect(await store.readOutbox()).toEqual([newerB]);
    await store.close();
  });

  it('rejects a batch that does not move the offset forward, and negative counts', async () => {
    const store = await PartitionStore.open(dir, 2);
    await store.commitBatch({ membership: new Map(), counts: new Map(), outbox: [], offset: 5 });
    await expect(store.commitBatch({ membership: new Map(), counts: new Map(), outbox: [], offset: 5 })).rejects.toThrow(
      /offset 5 is not after the stored offset 5/,
    );
    await expect(
      store.commitBatch({ membership: new Map(), counts: new Map([['a', -1]]), outbox: [], offset: 6 }),
    ).rejects.toThrow(/negative count/);
    expect(store.lastOffset()).toBe(5);
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

  it('reports an approximate size', async () => {
    const store = await PartitionStore.open(dir, 5);
    expect(await store.sizeBytes()).toBeGreaterThanOrEqual(0);
    await store.close();
  });
});
