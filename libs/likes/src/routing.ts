import { likeKey } from './keys';

/**
 * Kafka's default partitioner for keyed records: murmur2 of the key bytes, sign bit cleared,
 * modulo the partition count — the same function as the Java client and kafkajs's
 * DefaultPartitioner, so every process (the api producing, the aggregator checking that a record
 * sits on its home partition, the api asking which aggregator owns a key) agrees.
 */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= data[whole + 2] << 16;
  if (tail >= 2) h ^= data[whole + 1] << 8;
  if (tail >= 1) {
    h ^= data[whole];
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

export function partitionForKey(key: string | Buffer, partitions: number): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}

/** The partition of likes.events that holds every action of `userId` on `postId`. */
export function homePartition(postId: string, userId: string, partitions: number): number {
  return partitionForKey(likeKey(postId, userId), partitions);
}
