import { Partitioners } from 'kafkajs';
import { partitionForKey } from '@doubletap/likes';

describe('partitionForKey', () => {
  it('agrees with kafkajs DefaultPartitioner (Java-compatible murmur2) for many keys', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 12 }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    for (let i = 0; i < 5000; i++) {
      const key = `post-${i % 37}/user_${i}${'x'.repeat(i % 7)}`;
      const expected = partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
      expect(partitionForKey(key, 12)).toBe(expected);
    }
  });
});
