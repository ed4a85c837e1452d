/**
 * patches/kafkajs+2.2.4.patch (applied by patch-package on every npm install) replaces kafkajs's
 * quadratic per-partition grouping of a produce batch with a linear one (ADR 0014). These tests
 * prove the patch is in place and that the grouping keeps kafkajs's contract: every message in the
 * partition its partitioner chose, in the order given.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const group = require('kafkajs/src/producer/groupMessagesPerPartition') as (args: {
  topic: string;
  partitionMetadata: Array<{ partitionId: number }>;
  messages: Array<{ key: string; n: number }>;
  partitioner: (args: { message: { key: string; n: number } }) => number;
}) => Record<string, Array<{ key: string; n: number }>>;

describe('kafkajs produce grouping (patched)', () => {
  const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId }));
  const partitioner = ({ message }: { message: { n: number } }) => (message.n * 7) % 4;

  it('is the linear version from patches/', () => {
    expect(group.toString()).not.toContain('[...current');
  });

  it('puts every message in its partition, in the order given', () => {
    const messages = Array.from({ length: 50_000 }, (_, n) => ({ key: `k${n}`, n }));
    const grouped = group({ topic: 't', partitionMetadata, messages, partitioner });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2', '3']);
    for (const [p, list] of Object.entries(grouped)) {
      const expected = messages.filter((m) => partitioner({ message: m }) === Number(p));
      expect(list).toEqual(expected);
    }
  });

  it('returns nothing for a topic without partition metadata', () => {
    expect(group({ topic: 't', partitionMetadata: [], messages: [{ key: 'a', n: 1 }], partitioner })).toEqual({});
  });
});
