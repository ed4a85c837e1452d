import type { CountChanged, LikeEvent } from '@doubletap/events';
import type { PartitionOffsets, TopicIdentity } from '@doubletap/kafka';

export interface AggregatorTopics {
  events: string;
  counts: string;
  deadLetter: string;
}

/**
 * What the aggregator needs of the wire format (EventCodec implements it). Decoding throws
 * InvalidEventError when the BYTES are poison; any other error means the record could not be judged
 * now (the schema registry is unreachable) and is retried, never dead-lettered.
 */
export interface AggregatorCodec {
  /** the event without a promise when the writer schema is cached; undefined when it must be fetched */
  decodeLikeSync(value: Buffer | null): LikeEvent | undefined;
  /** caches the writer schemas of these ids (RegistryUnavailableError when the registry cannot answer) */
  prefetch(schemaIds: Iterable<number>): Promise<void>;
  encodeCount(change: CountChanged): Promise<Buffer>;
  /** the same bytes without a promise; undefined when only encodeCount can say why it cannot */
  encodeCountNow?(change: CountChanged): Buffer | undefined;
}

/** The consumer's controls a partition task uses (BatchConsumer implements them). */
export interface PartitionControl {
  seek(partition: number, offset: number): void;
  pause(partitions: number[]): void;
  resume(partitions: number[]): void;
  /**
   * Asks the group coordinator now whether this member still owns `partition` in the generation that
   * assigned it: false = not ours; throws when it cannot be asked (the coordinator is unreachable).
   */
  confirmOwnership(partition: number): Promise<boolean>;
}

/** Where the aggregator announces which partitions it owns (Redis owners map in production). */
export interface OwnershipRegistry {
  publish(partitions: number[], owner: { memberId: string; generation: number }): Promise<void>;
  withdraw(partitions: number[], owner: { memberId: string }): Promise<void>;
}

/** What Kafka says about the input topic: offsets per partition and its identity. */
export interface InputTopicView {
  offsets(): Promise<PartitionOffsets[]>;
  identity(): Promise<TopicIdentity | undefined>;
}

export type DeadLetterReason = 'undecodable' | 'invalid' | 'wrong-partition';

export const DEAD_LETTER_HEADERS = ['reason', 'detail', 'source-topic', 'source-partition', 'source-offset'] as const;

/** Why a partition refuses to apply its log (a stable code for metrics, a sentence for people). */
export interface Refusal {
  code: 'partition-count-changed' | 'topic-recreated' | 'log-truncated' | 'store-ahead-of-log' | 'no-history';
  reason: string;
}

export type LikeQuery =
  | { kind: 'ok'; liked: boolean; asOfOffset: number | null }
  | { kind: 'not-owner' }
  | { kind: 'restoring'; progress: number }
  | { kind: 'stopped'; reason: string }
  | { kind: 'wrong-partition'; expected: number };
