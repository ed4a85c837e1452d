import type { RecordMetadata } from 'kafkajs';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/**
 * The partitions a produce call wrote to that its answer does not acknowledge (no entry for them,
 * or an error code). kafkajs can resolve a send without writing some of its partitions: when a
 * retried attempt finds a partition's leader moved to a broker that already answered the first
 * attempt, it skips that broker, and the partition's records are never sent. A send is a success
 * only when this list is empty.
 */
export function unacknowledged(sent: Iterable<TopicPartition>, answer: readonly RecordMetadata[]): TopicPartition[] {
  const acked = new Set(answer.filter((a) => a.errorCode === 0).map((a) => `${a.topicName}\u0000${a.partition}`));
  const missing = new Map<string, TopicPartition>();
  for (const s of sent) {
    const id = `${s.topic}\u0000${s.partition}`;
    if (!acked.has(id)) missing.set(id, { topic: s.topic, partition: s.partition });
  }
  return [...missing.values()];
}

/** Thrown when a produce answer left partitions unacknowledged (their records may not be in the log). */
export class UnacknowledgedError extends Error {
  constructor(readonly missing: TopicPartition[]) {
    super(`the produce answer did not acknowledge ${missing.map((m) => `${m.topic}/${m.partition}`).join(', ')}: outcome unknown`);
    this.name = 'UnacknowledgedError';
  }
}
