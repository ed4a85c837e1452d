import { delta, evolve, type LikeFact } from './decider';
import { likeKey } from './keys';

/** What the store knows before a batch, for the keys and posts the batch touches. */
export interface KnownState {
  /** likeKey → member; a key missing from the map is not a member */
  readonly membership: ReadonlyMap<string, boolean>;
  /** postId → partial count of this partition; missing = 0 */
  readonly counts: ReadonlyMap<string, number>;
}

/** One CountChanged: the absolute partial count of a post in one likes.events partition. */
export interface CountChange {
  postId: string;
  partition: number;
  count: number;
  /** the last likes.events offset this count includes */
  sourceOffset: number;
}

export interface BatchFold {
  /** membership changes to write: likeKey → member (false = delete) */
  readonly edits: Map<string, boolean>;
  /** absolute partial counts of the posts whose count changed */
  readonly counts: Map<string, number>;
  /**
   * One CountChanged per post the batch TOUCHED (changed or not), stamped with the batch's last
   * offset: a batch that nets to zero on a post still says "as of this offset the count is n", so it
   * supersedes anything an earlier owner of the partition published at a lower offset.
   */
  readonly changes: CountChange[];
  /** events that changed a membership */
  readonly applied: number;
  /** events that changed nothing (LIKE of a member, UNLIKE of a non-member) */
  readonly noOps: number;
}

/**
 * The whole batch rule, pure: (known state, events in offset order, last offset) → edits, counts,
 * CountChanged. Events inside the batch see each other's effects. `keys[i]`, when given, is
 * `likeKey` of `events[i]` (the aggregator has it already: the record's key), so it is not built again.
 */
export function foldBatch(
  known: KnownState,
  events: readonly LikeFact[],
  partition: number,
  lastOffset: number,
  keys?: readonly string[],
): BatchFold {
  if (keys !== undefined && keys.length !== events.length)
    throw new Error(`foldBatch: ${keys.length} keys for ${events.length} events`);
  const current = new Map<string, boolean>();
  const net = new Map<string, number>();
  let applied = 0;
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    const key = keys === undefined ? likeKey(event.postId, event.userId) : keys[i];
    const member = current.get(key) ?? known.membership.get(key) ?? false;
    const d = delta(member, event);
    if (d === 0) {
      if (!current.has(key)) current.set(key, member);
      if (!net.has(event.postId)) net.set(event.postId, 0);
      continue;
    }
    applied++;
    current.set(key, evolve(member, event));
    net.set(event.postId, (net.get(event.postId) ?? 0) + d);
  }
  const edits = new Map<string, boolean>();
  for (const [key, member] of current) if (member !== (known.membership.get(key) ?? false)) edits.set(key, member);
  const counts = new Map<string, number>();
  const changes: CountChange[] = [];
  for (const [postId, d] of net) {
    const count = (known.counts.get(postId) ?? 0) + d;
    if (count < 0) throw new Error(`post ${postId} would have a negative count in partition ${partition}`);
    if (d !== 0) counts.set(postId, count);
    changes.push({ postId, partition, count, sourceOffset: lastOffset });
  }
  return { edits, counts, changes, applied, noOps: events.length - applied };
}
