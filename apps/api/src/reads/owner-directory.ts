/** An aggregator that answers interactive queries for one partition. */
export interface PartitionOwner {
  url: string;
}

/**
 * Which aggregator owns a partition of likes.events, for "did I like it" (likedByViewer): the
 * owners map the aggregators publish, and the topic's partition count the producer's partitioner
 * uses (a question must go where the viewer's events went).
 */
export interface OwnerDirectory {
  /** the partition count of likes.events; 0 while not known yet */
  readonly partitions: number;
  /** the owner of one partition, undefined when none has claimed it; throws when the map cannot be read */
  owner(partition: number): Promise<PartitionOwner | undefined>;
  /** the owner of `partition` said it is not (or is gone): the next lookup must not trust what is known */
  invalidate(partition: number): void;
}

/** Injection token of the OwnerDirectory (production: AggregatorOwnerDirectory). */
export const OwnerDirectory = Symbol('OwnerDirectory');
