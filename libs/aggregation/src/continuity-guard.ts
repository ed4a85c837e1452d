import type { ConsumedRecord, TopicIdentity } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import type { SourceIdentity } from '@doubletap/store';
import type { AggregatorMetrics } from './metrics';
import { continuity } from './take-plan';
import type { InputTopicView, Refusal } from './types';

export type Judgement =
  /** apply these records (the ones that continue the store) */
  | { kind: 'apply'; records: readonly ConsumedRecord[] }
  /** everything was applied already: nothing to do, the offsets may be committed */
  | { kind: 'redelivery' }
  /** not applied, not committed: the consumer was re-positioned at `seek` */
  | { kind: 'reposition'; seek: number }
  /** the partition must stop */
  | { kind: 'refuse'; refusal: Refusal };

/**
 * Does a batch continue the store? Re-deliveries (a rebalance, a restart) are skipped — but offsets
 * going backwards are also what a topic deleted and created again looks like, so they trigger a look
 * at the topic's identity. A gap is either records deleted under the store (refuse) or a consumer
 * positioned wrong (re-position, pausing longer each time so a gap that persists is never a hot loop).
 */
export class ContinuityGuard {
  private gapSeeks = 0;
  private lastIdentityCheck = 0;

  constructor(
    private readonly deps: {
      partition: number;
      pinned: number;
      input: InputTopicView;
      logger: Logger;
      metrics: AggregatorMetrics;
      /** the identity of the input topic the store belongs to */
      source: () => SourceIdentity | undefined;
      /** ms to pause before re-positioning after the n-th gap in a row */
      gapPauseMs?: (n: number) => number;
    },
    /** where an empty store starts (the plan's first offset) */
    private expectedStart = 0,
  ) {}

  startAt(offset: number): void {
    this.expectedStart = offset;
  }

  async judge(records: readonly ConsumedRecord[], stored: number | undefined): Promise<Judgement> {
    const verdict = continuity(records[0].offset, records[records.length - 1].offset, stored, this.expectedStart);
    if (verdict.kind === 'redelivery') {
      // offsets going backwards: a rebalance or restart, or the topic created again (always looked at)
      const refusal = await this.checkIdentity(true);
      return refusal ? { kind: 'refuse', refusal } : { kind: 'redelivery' };
    }
    if (verdict.kind === 'gap') return this.onGap(verdict.expected, verdict.got);
    // records that continue the store are applied only while the topic is still the one the store
    // was built from, with the pinned partition count (looked at every 2 s at most)
    const refusal = await this.checkIdentity(false);
    if (refusal) return { kind: 'refuse', refusal };
    this.gapSeeks = 0;
    return { kind: 'apply', records: verdict.from === records[0].offset ? records : records.filter((r) => r.offset >= verdict.from) };
  }

  private async onGap(expected: number, got: number): Promise<Judgement> {
    const { partition: p, metrics, logger } = this.deps;
    const offsets = (await this.deps.input.offsets()).find((o) => o.partition === p);
    if (offsets && offsets.low > expected)
      return {
        kind: 'refuse',
        refusal: {
          code: 'log-truncated',
          reason: `records ${expected}..${offsets.low - 1} of partition ${p} were deleted before the store applied them (log start ${offsets.low}): the counts would miss them`,
        },
      };
    const refusal = await this.checkIdentity(true);
    if (refusal) return { kind: 'refuse', refusal };
    this.gapSeeks++;
    metrics.continuitySeeks.inc({ partition: String(p) });
    logger.warn({ partition: p, expected, got, attempt: this.gapSeeks }, 'batch does not continue the store: not applied, seeking back');
    const pause = this.deps.gapPauseMs?.(this.gapSeeks) ?? Math.min(5000, 100 * 2 ** Math.min(this.gapSeeks, 6));
    await new Promise((r) => setTimeout(r, pause));
    return { kind: 'reposition', seek: expected };
  }

  /** Re-reads the input topic's identity (at most every 2 s unless forced): recreated or re-partitioned refuses. */
  private async checkIdentity(force: boolean): Promise<Refusal | undefined> {
    const now = Date.now();
    if (!force && now - this.lastIdentityCheck < 2000) return undefined;
    this.lastIdentityCheck = now;
    let identity: TopicIdentity | undefined;
    try {
      identity = await this.deps.input.identity();
    } catch {
      return undefined; // Kafka unreachable: nothing learned
    }
    if (!identity) return { code: 'topic-recreated', reason: 'the input topic no longer exists' };
    const source = this.deps.source();
    if (source && source.topicId !== identity.topicId)
      return {
        code: 'topic-recreated',
        reason: `${identity.topic} was recreated (topic id ${source.topicId} is now ${identity.topicId}): the store belongs to the old log; delete it to rebuild from the new one`,
      };
    if (identity.partitions !== this.deps.pinned)
      return {
        code: 'partition-count-changed',
        reason: `${identity.topic} has ${identity.partitions} partitions but ${this.deps.pinned} are pinned (TOPIC_PARTITIONS)`,
      };
    return undefined;
  }
}
