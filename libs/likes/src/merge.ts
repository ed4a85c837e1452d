/**
 * The CountChanged merge rule, the reference for the Redis scripts (libs/redis) that apply it
 * atomically: per (post, partition) the record with the highest source offset wins; a post's total
 * is the sum of its partitions' partial counts.
 *
 * `orEqual` is the rebuild mode (ADR 0005): replaying the log, of two records with the SAME source
 * offset the later one in the log wins (a state rebuild re-publishes counts at offsets already
 * seen). The live projector is strict: a redelivery changes nothing.
 */
export interface PartialCount {
  readonly count: number;
  readonly sourceOffset: number;
}

export function supersedes(incoming: PartialCount, stored: PartialCount | undefined, orEqual = false): boolean {
  if (stored === undefined) return true;
  return incoming.sourceOffset > stored.sourceOffset || (orEqual && incoming.sourceOffset === stored.sourceOffset);
}

export interface KeyedPartial extends PartialCount {
  readonly postId: string;
  readonly partition: number;
}

/**
 * The record that survives per (post, partition) among `changes` in log order — what the scripts
 * would keep if applied one by one: the highest offset; on equal offsets the first (strict) or the
 * last (orEqual).
 */
export function newestPerPartition<T extends KeyedPartial>(changes: readonly T[], orEqual = false): Map<string, Map<number, T>> {
  const byPost = new Map<string, Map<number, T>>();
  for (const c of changes) {
    let parts = byPost.get(c.postId);
    if (!parts) byPost.set(c.postId, (parts = new Map<number, T>()));
    if (supersedes(c, parts.get(c.partition), orEqual)) parts.set(c.partition, c);
  }
  return byPost;
}

/** A post's total: the sum of its partial counts. */
export function totalOf(partials: Iterable<PartialCount>): number {
  let total = 0;
  for (const p of partials) total += p.count;
  return total;
}
