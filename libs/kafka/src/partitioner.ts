import { Partitioners } from 'kafkajs';

// Kafka's murmur2 key partitioning is the likes domain's routing rule (@doubletap/likes); the
// producer's partitioner uses it from there.
export { murmur2, partitionForKey } from '@doubletap/likes';

/**
 * The partition kafkajs's DefaultPartitioner (Java's DefaultPartitioner: toPositive(murmur2(key)) mod
 * the partition count) gives a key, computed by kafkajs itself: an oracle for tests of other clients.
 */
export function kafkajsPartition(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
    partitionId: i,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  return Partitioners.DefaultPartitioner()({ topic: '', partitionMetadata, message: { key, value: null } });
}
