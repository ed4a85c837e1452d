import { newestPerPartition, type CountChange } from './projection';

const cc = (postId: string, partition: number, count: number, sourceOffset: number): CountChange => ({ postId, partition, count, sourceOffset });
const picked = (m: Map<string, Map<number, CountChange>>) =>
  [...m].flatMap(([, parts]) => [...parts.values()]).sort((a, b) => a.postId.localeCompare(b.postId) || a.partition - b.partition);

describe('newestPerPartition (the record a batch sends per post and partition)', () => {
  const batch = [cc('a', 0, 5, 10), cc('a', 0, 7, 12), cc('a', 0, 6, 11), cc('a', 1, 1, 3), cc('b', 0, 9, 4)];

  it('keeps the highest source offset per (post, partition), whatever the order', () => {
    expect(picked(newestPerPartition(batch))).toEqual([cc('a', 0, 7, 12), cc('a', 1, 1, 3), cc('b', 0, 9, 4)]);
    expect(picked(newestPerPartition([...batch].reverse(), true))).toEqual([cc('a', 0, 7, 12), cc('a', 1, 1, 3), cc('b', 0, 9, 4)]);
  });

  it('target mode (a rebuild): of EQUAL source offsets the later record in the batch wins (ADR 0005)', () => {
    const ties = [cc('a', 2, 9, 100), cc('a', 2, 4, 100), cc('a', 2, 3, 99), cc('a', 2, 6, 100)];
    expect(picked(newestPerPartition(ties, true))).toEqual([cc('a', 2, 6, 100)]);
  });

  it('live mode: of equal offsets the first stays, as the strict guard keeps it when they come one by one', () => {
    const ties = [cc('a', 2, 9, 100), cc('a', 2, 4, 100)];
    expect(picked(newestPerPartition(ties))).toEqual([cc('a', 2, 9, 100)]);
  });
});
