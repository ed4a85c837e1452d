import type { PartitionOffsets, TopicIdentity } from '@doubletap/kafka';
import type { SourceIdentity } from '@doubletap/store';
import type { Refusal } from './types';

export interface TakeInput {
  partition: number;
  /** the partition count keys are routed over (TOPIC_PARTITIONS) */
  pinned: number;
  /** the input topic as Kafka describes it now */
  identity: TopicIdentity;
  offsets: PartitionOffsets;
  /** the store's last applied offset, undefined for an empty store */
  stored: number | undefined;
  /** the input topic the store was built from, if it recorded it */
  source: SourceIdentity | undefined;
}

export type TakePlan =
  | { kind: 'refuse'; refusal: Refusal }
  /** read from `from`; until `target - 1` is applied the partition is catching up (output deferred) */
  | { kind: 'consume'; from: number; target: number; source: SourceIdentity };

/**
 * What a task may do with a partition it was just given, from what the store holds and what Kafka
 * says now. Pure, so every refusal is tested without a broker. The answers:
 * - the topic has another partition count than the pinned one: refuse (keys moved; counting on
 *   would count (post, user) pairs twice);
 * - the store was built from another topic id (the topic was recreated): refuse;
 * - the store's offset is at or past the log end (a recreated or truncated topic): refuse;
 * - records after the stored offset were deleted (log start moved past it): refuse;
 * - an empty store and a log that no longer starts at 0: refuse (the history is gone, the exact
 *   counts cannot be rebuilt from what is left);
 * - otherwise read from the stored offset + 1 (or 0), catching up to the log end seen now.
 */
export function planTake(input: TakeInput): TakePlan {
  const { partition: p, pinned, identity, offsets, stored, source } = input;
  const refuse = (code: Refusal['code'], reason: string): TakePlan => ({ kind: 'refuse', refusal: { code, reason } });
  if (identity.partitions !== pinned)
    return refuse(
      'partition-count-changed',
      `${identity.topic} has ${identity.partitions} partitions but ${pinned} are pinned (TOPIC_PARTITIONS): (post, user) pairs would move between partitions and count twice`,
    );
  if (p >= pinned) return refuse('partition-count-changed', `partition ${p} is beyond the ${pinned} pinned partitions`);
  if (source && source.topicId !== identity.topicId)
    return refuse(
      'topic-recreated',
      `the store of partition ${p} was built from ${identity.topic} with topic id ${source.topicId}; the topic now has id ${identity.topicId} (recreated): delete the store to rebuild it from the new log`,
    );
  if (source && source.partitions !== identity.partitions)
    return refuse(
      'partition-count-changed',
      `the store of partition ${p} was built when ${identity.topic} had ${source.partitions} partitions; it has ${identity.partitions}`,
    );
  const here = { topicId: identity.topicId, partitions: identity.partitions };
  if (stored === undefined) {
    if (offsets.low > 0)
      return refuse(
        'no-history',
        `partition ${p} starts at offset ${offsets.low}: records 0..${offsets.low - 1} were deleted, so an empty store cannot be rebuilt exactly (restore it from a changelog or a copy of the store)`,
      );
    return { kind: 'consume', from: 0, target: offsets.high, source: here };
  }
  if (stored >= offsets.high)
    return refuse(
      'store-ahead-of-log',
      `the store of partition ${p} applied offset ${stored} but the log ends at ${offsets.high} (was the topic recreated or truncated?): delete the store to rebuild it`,
    );
  if (stored + 1 < offsets.low)
    return refuse(
      'log-truncated',
      `records ${stored + 1}..${offsets.low - 1} of partition ${p} were deleted before the store applied them (log start ${offsets.low}): the counts would miss them`,
    );
  return { kind: 'consume', from: stored + 1, target: offsets.high, source: here };
}

export type ContinuityVerdict =
  /** the batch continues the store: apply these records */
  | { kind: 'apply'; from: number }
  /** everything is already applied (a redelivery after a rebalance or restart) */
  | { kind: 'redelivery' }
  /** records between the store and the batch are missing from the batch: re-position the consumer */
  | { kind: 'gap'; expected: number; got: number };

/** Does a batch continue the store? (first offset of the batch, last offset of it, stored offset) */
export function continuity(first: number, last: number, stored: number | undefined, expectedStart: number): ContinuityVerdict {
  const expected = stored === undefined ? expectedStart : stored + 1;
  if (last < expected) return { kind: 'redelivery' };
  if (first > expected) return { kind: 'gap', expected, got: first };
  return { kind: 'apply', from: expected };
}

export interface ChangelogInput {
  /** the store's last applied offset (undefined for an empty store) */
  stored: number | undefined;
  /** the changelog partition's state */
  changelog: { low: number; high: number; offset?: number; epochStart?: number; source?: SourceIdentity };
  identity: TopicIdentity;
  /** an existing store this far behind the changelog is replaced by a restore instead of catching up */
  restoreThreshold: number;
}

export type ChangelogPlan =
  /** restore the (empty or replaced) store from the changelog, then catch up after its offset */
  | { kind: 'restore'; offset: number; epochStart: number; source: SourceIdentity | undefined; replaceStore: boolean }
  /** the changelog holds the store's history: keep writing every batch's changes to it */
  | { kind: 'append'; epochStart: number }
  /** the changelog is empty, partial or stale: catch up without it, then empty it and write the whole store */
  | { kind: 'rewrite' }
  | { kind: 'refuse'; refusal: Refusal };

/**
 * How a task uses the changelog when it takes a partition (pure). A changelog is usable when its
 * latest meta/offset exists, no record of its current epoch was deleted, and it was built from this
 * input topic (meta/source). An empty store
 * restores from a usable changelog instead of replaying the input from offset 0 (the point of a
 * changelog: a moved partition restores from current state, not from history). A store far behind
 * a usable changelog is replaced the same way. A usable changelog at or behind the store is appended
 * to. Anything else is rewritten from the store once it has caught up.
 */
export function planChangelog(input: ChangelogInput): ChangelogPlan {
  const { stored, changelog: cl, identity, restoreThreshold } = input;
  const foreign = cl.source !== undefined && cl.source.topicId !== identity.topicId;
  // records of the current epoch deleted (log start moved past its start): the state is incomplete
  const complete = cl.epochStart !== undefined && cl.low <= cl.epochStart;
  const usable = cl.offset !== undefined && complete && !foreign;
  if (stored === undefined) {
    if (foreign)
      return {
        kind: 'refuse',
        refusal: {
          code: 'topic-recreated',
          reason: `the changelog was built from ${identity.topic} with topic id ${cl.source!.topicId}; the topic now has id ${identity.topicId} (recreated): empty the changelog to rebuild from the new log`,
        },
      };
    if (usable) return { kind: 'restore', offset: cl.offset!, epochStart: cl.epochStart!, source: cl.source, replaceStore: false };
    return { kind: 'rewrite' };
  }
  if (usable && cl.offset! > stored + restoreThreshold)
    return { kind: 'restore', offset: cl.offset!, epochStart: cl.epochStart!, source: cl.source, replaceStore: true };
  if (usable && cl.offset! >= stored) return { kind: 'append', epochStart: cl.epochStart! };
  return { kind: 'rewrite' };
}
