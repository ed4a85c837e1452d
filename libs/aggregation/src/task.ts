import { describeError, type BatchContext, type ConsumedRecord, type Kafka, type PartitionOffsets, type TopicIdentity, type TxRecord } from '@doubletap/kafka';
import { foldBatch, likeKey } from '@doubletap/likes';
import type { Logger } from '@doubletap/observability';
import type { PartitionStore } from '@doubletap/store';
import { Backoff } from './backoff';
import type { ChangelogIO, ChangelogState } from './changelog';
import { DecodeBlockedError, RecordDecoder } from './decode';
import type { AggregatorMetrics } from './metrics';
import { CatchUpProgress } from './progress';
import { PartitionLostError, RecordCollector, type OpenSender, type OwnershipGuard } from './record-collector';
import { StateManager } from './state-manager';
import { continuity } from './take-plan';
import type { AggregatorCodec, AggregatorTopics, InputTopicView, PartitionControl, Refusal } from './types';

export type Phase =
  | { kind: 'opening' }
  /** applying the log up to `target - 1` (the log end when the partition was taken); output deferred */
  | { kind: 'catching-up'; progress: CatchUpProgress }
  | { kind: 'live' }
  | { kind: 'stopped'; refusal: Refusal; since: number }
  | { kind: 'closed' };

export interface TaskDeps {
  partition: number;
  /** the partition count of the input topic that keys are routed over */
  pinned: number;
  dataDir: string;
  topics: AggregatorTopics;
  codec: AggregatorCodec;
  kafka: Kafka;
  /** how output producers are opened (default: kafkajs transactional producers on `kafka`) */
  openSender?: OpenSender;
  /** the partition's transactional id: the same for every owner, so a new owner fences the old */
  transactionalId: string;
  input: InputTopicView;
  /** the store changelog (unset: the store is not logged; tools that only replay) */
  changelog?: ChangelogIO;
  changelogTopic?: string;
  /** recompute the store from the input log and rewrite the changelog (a state rebuild) */
  rebuild?: boolean;
  control: () => PartitionControl | undefined;
  logger: Logger;
  metrics: AggregatorMetrics;
  /** dirty posts published per transaction when a catch-up ends */
  flushChunk?: number;
  progressEveryMs?: number;
  backoffMs?: { initial: number; max: number };
  /** fault injection for crash tests */
  faults?: { afterOutput?: (partition: number) => void; afterCommit?: (partition: number) => void };
}

/** What one batch did: applied (offsets may be committed) or held (not applied; do not commit). */
export type BatchOutcome = 'applied' | 'held';

/**
 * One input partition owned by this process (Kafka Streams' stream task): continuity → decode and
 * route → fold → output transaction → atomic store write, per batch, in offset order.
 *
 * While it catches up to the log end it saw when it took the partition, it publishes no
 * CountChanged per batch (those would be older than what the previous owner published); it marks
 * the posts it touched dirty in the same store write, and publishes their counts, stamped with the
 * final offset, when it is caught up. Dead letters go out in every phase, before the store moves
 * past them. A partition it must not apply (recreated, truncated, re-partitioned log) is stopped
 * with a reason, paused, and reported — never skipped and never looped over.
 */
export class PartitionTask {
  phase: Phase = { kind: 'opening' };
  /** what the task waits for right now (a dependency that is down), with since when */
  blocked?: { what: string; since: number; error?: string };
  private readonly state: StateManager;
  private readonly collector: RecordCollector;
  private readonly decoder: RecordDecoder;
  private chain: Promise<unknown> = Promise.resolve();
  private closing = false;
  private expectedStart = 0;
  private gapSeeks = 0;
  private lastIdentityCheck = 0;
  private readonly labels: { partition: string };

  constructor(private readonly deps: TaskDeps) {
    this.labels = { partition: String(deps.partition) };
    this.decoder = new RecordDecoder(deps.codec, deps.partition, deps.pinned);
    this.collector = new RecordCollector({
      kafka: deps.kafka,
      openSender: deps.openSender,
      transactionalId: deps.transactionalId,
      partition: deps.partition,
      topics: deps.topics,
      codec: deps.codec,
      logger: deps.logger,
      metrics: deps.metrics,
      backoffMs: deps.backoffMs,
      onBlocked: (what, error) => this.setBlocked(what, error),
    });
    this.state = new StateManager({
      partition: deps.partition,
      pinned: deps.pinned,
      dataDir: deps.dataDir,
      changelog: deps.changelog,
      changelogTopic: deps.changelogTopic,
      rebuild: deps.rebuild,
      logger: deps.logger,
      metrics: deps.metrics,
      chunk: deps.flushChunk,
      encodeCount: (c) => deps.codec.encodeCount(c),
      countsTopic: deps.topics.counts,
    });
  }

  get partition(): number {
    return this.deps.partition;
  }

  /** the store's last applied offset (undefined before the first batch of an empty store) */
  storedOffset(): number | undefined {
    return this.state.isOpen ? this.state.store.lastOffset() : undefined;
  }

  get isServing(): boolean {
    return this.phase.kind === 'live' && !this.closing;
  }

  /**
   * Fences every earlier owner of the partition (opens its output producer). Done for all added
   * partitions BEFORE the input and changelog are looked at, so nothing an earlier owner can still
   * write lands after what this task reads as their ends.
   */
  fence(): Promise<void> {
    return this.serialize(() => this.collector.open(this.localGuard()));
  }

  /**
   * Takes the partition: opens (or restores) the store, checks it against the log (identity,
   * offsets) and positions the consumer. `view` is what Kafka said about the input topic and the
   * changelog after the fence.
   */
  take(view: { identity: TopicIdentity; offsets: PartitionOffsets; changelog?: ChangelogState }): Promise<void> {
    return this.serialize(async () => {
      const { partition: p, logger, metrics } = this.deps;
      const plan = await this.state.open(view);
      if (plan.kind === 'refuse') {
        this.stop(plan.refusal);
        return;
      }
      this.expectedStart = plan.from;
      const stored = this.state.store.lastOffset();
      if (stored !== undefined) metrics.storedOffset.set(this.labels, stored);
      this.deps.control()?.seek(p, plan.from);
      if (plan.target > plan.from) {
        this.phase = {
          kind: 'catching-up',
          progress: new CatchUpProgress(p, plan.from, plan.target, logger, metrics, this.deps.progressEveryMs),
        };
        logger.info({ partition: p, from: plan.from, to: plan.target - 1, records: plan.target - plan.from }, 'catching up from the log');
      } else {
        metrics.restoreProgress.set(this.labels, 1);
        await this.state.finishCatchUp(this.publisher(this.localGuard()), () => this.deps.faults?.afterOutput?.(p));
        this.phase = { kind: 'live' };
        logger.info({ partition: p, resumeAt: plan.from }, 'partition taken, up to date');
      }
    });
  }

  /** Applies one batch (records of this partition in offset order). */
  handle(records: readonly ConsumedRecord[], ctx: BatchContext): Promise<BatchOutcome> {
    return this.serialize(async () => {
      try {
        return await this.apply(records, ctx);
      } catch (e) {
        // the partition was lost or given up meanwhile: nothing of the batch was applied
        if (e instanceof PartitionLostError) {
          this.deps.logger.warn({ partition: this.partition, err: e }, 'batch not applied: the partition is no longer ours');
          return 'held';
        }
        throw e;
      }
    });
  }

  /** Gives the partition up: the batch in flight finishes (or is abandoned), then the store closes. */
  release(): Promise<void> {
    this.closing = true;
    return this.serialize(async () => {
      await this.collector.close();
      await this.state.close();
      const { metrics } = this.deps;
      for (const g of [metrics.restoreProgress, metrics.storedOffset, metrics.lag, metrics.storeSize]) g.remove(this.labels);
      if (this.phase.kind === 'stopped') metrics.stopped.remove({ ...this.labels, reason: this.phase.refusal.code });
      this.setBlocked(undefined);
      this.phase = { kind: 'closed' };
    });
  }

  /** Read access for interactive queries (undefined unless the store is open). */
  get openStore(): PartitionStore | undefined {
    return this.state.isOpen ? this.state.store : undefined;
  }

  // ------------------------------------------------------------------ one batch

  private async apply(records: readonly ConsumedRecord[], ctx: BatchContext): Promise<BatchOutcome> {
    const { partition: p, metrics, logger } = this.deps;
    const phase = this.phase;
    if (this.closing || !this.state.isOpen || phase.kind === 'opening' || phase.kind === 'closed') {
      ctx.holdOffsets();
      return 'held';
    }
    if (phase.kind === 'stopped') {
      this.deps.control()?.pause([p]);
      ctx.holdOffsets();
      return 'held';
    }
    const started = process.hrtime.bigint();
    const store = this.state.store;
    const stored = store.lastOffset();
    const verdict = continuity(records[0].offset, records[records.length - 1].offset, stored, this.expectedStart);
    if (verdict.kind === 'redelivery') {
      await this.checkIdentity(false);
      return 'applied';
    }
    if (verdict.kind === 'gap') return this.onGap(verdict.expected, verdict.got, ctx);
    this.gapSeeks = 0;
    const fresh = verdict.from === records[0].offset ? records : records.filter((r) => r.offset >= verdict.from);
    const lastOffset = fresh[fresh.length - 1].offset;
    const guard = this.batchGuard(ctx);

    const decoded = await this.retrying('schema-registry', ctx, () => this.decoder.decode(fresh));
    if (decoded === undefined) {
      ctx.holdOffsets();
      return 'held';
    }
    const { events, dead } = decoded;
    const memberKeys = new Set<string>();
    const posts = new Set<string>();
    for (const e of events) {
      memberKeys.add(likeKey(e.postId, e.userId));
      posts.add(e.postId);
    }
    const known = await store.getState([...memberKeys], [...posts]);
    const fold = foldBatch(known, events, p, lastOffset);
    const catchingUp = phase.kind === 'catching-up';

    const write = {
      membership: fold.edits,
      counts: fold.counts,
      offset: lastOffset,
      dirty: catchingUp ? fold.changes.map((c) => c.postId) : undefined,
    };
    // output first (one transaction: dead letters, changelog, CountChanged), then the store: nothing
    // applied is ever unpublished, and the changelog never lags the store
    const out: TxRecord[] = dead.map((d) => this.collector.deadLetter(d.record, d.reason, d.detail));
    out.push(...this.state.changelogFor(write));
    if (!catchingUp) out.push(...(await this.collector.countChanged(fold.changes)));
    await this.collector.send(out, guard);
    if (out.length > 0) this.deps.faults?.afterOutput?.(p);
    await this.state.commit(write);
    this.deps.faults?.afterCommit?.(p);

    if (fold.applied > 0) metrics.events.inc({ ...this.labels, outcome: 'applied' }, fold.applied);
    if (fold.noOps > 0) metrics.events.inc({ ...this.labels, outcome: 'noop' }, fold.noOps);
    if (dead.length > 0) {
      metrics.events.inc({ ...this.labels, outcome: 'dead_letter' }, dead.length);
      for (const d of dead) metrics.deadLetters.inc({ reason: d.reason });
      logger.warn(
        { partition: p, deadLetters: dead.length, first: { offset: dead[0].record.offset, reason: dead[0].reason, detail: dead[0].detail } },
        'records dead-lettered',
      );
    }
    if (!catchingUp) metrics.countChanged.inc(fold.changes.length);
    metrics.batchSize.observe(fresh.length);
    metrics.storedOffset.set(this.labels, lastOffset);
    metrics.lag.set(this.labels, Math.max(0, ctx.highWatermark - 1 - lastOffset));
    metrics.applyLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);

    if (phase.kind === 'catching-up') {
      phase.progress.at(lastOffset);
      if (phase.progress.done(lastOffset)) {
        await this.state.finishCatchUp(this.publisher(guard), () => this.deps.faults?.afterOutput?.(p));
        phase.progress.finish();
        this.phase = { kind: 'live' };
      }
    }
    return 'applied';
  }

  /**
   * The batch starts after the next offset the store needs. Either records were deleted (log start
   * moved past the store: refuse) or the consumer is positioned wrong (seek back, with a growing
   * pause so a persistent gap cannot become a hot loop).
   */
  private async onGap(expected: number, got: number, ctx: BatchContext): Promise<BatchOutcome> {
    const { partition: p, metrics, logger } = this.deps;
    ctx.holdOffsets();
    const offsets = (await this.deps.input.offsets()).find((o) => o.partition === p);
    if (offsets && offsets.low > expected)
      return this.stop({
        code: 'log-truncated',
        reason: `records ${expected}..${offsets.low - 1} of partition ${p} were deleted before the store applied them (log start ${offsets.low}): the counts would miss them`,
      });
    if (await this.checkIdentity(true)) return 'held';
    this.gapSeeks++;
    metrics.continuitySeeks.inc(this.labels);
    logger.warn({ partition: p, expected, got, attempt: this.gapSeeks }, 'batch does not continue the store: not applied, seeking back');
    await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(this.gapSeeks, 6))));
    this.deps.control()?.seek(p, expected);
    return 'held';
  }

  /**
   * Re-reads the input topic's identity (at most every 2 s unless forced): a topic recreated under
   * the same name, or re-partitioned, stops the partition. Returns true when it stopped it.
   */
  private async checkIdentity(force: boolean): Promise<boolean> {
    const now = Date.now();
    if (!force && now - this.lastIdentityCheck < 2000) return false;
    this.lastIdentityCheck = now;
    let identity: TopicIdentity | undefined;
    try {
      identity = await this.deps.input.identity();
    } catch {
      return false; // Kafka unreachable: nothing learned
    }
    const source = this.state.sourceIdentity();
    if (!identity) {
      this.stop({ code: 'topic-recreated', reason: `${this.deps.topics.events} no longer exists` });
      return true;
    }
    if (source && source.topicId !== identity.topicId) {
      this.stop({
        code: 'topic-recreated',
        reason: `${identity.topic} was recreated (topic id ${source.topicId} is now ${identity.topicId}): the store belongs to the old log; delete it to rebuild from the new one`,
      });
      return true;
    }
    if (identity.partitions !== this.deps.pinned) {
      this.stop({
        code: 'partition-count-changed',
        reason: `${identity.topic} has ${identity.partitions} partitions but ${this.deps.pinned} are pinned (TOPIC_PARTITIONS)`,
      });
      return true;
    }
    return false;
  }

  private publisher(guard: OwnershipGuard): (records: TxRecord[]) => Promise<void> {
    return (records) => this.collector.send(records, guard);
  }

  /** Stops applying this partition for good (until an operator acts): paused, reported, never skipped. */
  private stop(refusal: Refusal): 'held' {
    const { partition: p, logger, metrics } = this.deps;
    if (this.phase.kind !== 'stopped') {
      logger.error({ partition: p, code: refusal.code, reason: refusal.reason }, 'partition stopped: refusing to apply its log');
      metrics.stopped.set({ ...this.labels, reason: refusal.code }, 1);
      this.phase = { kind: 'stopped', refusal, since: Date.now() };
    }
    this.deps.control()?.pause([p]);
    return 'held';
  }

  /** Runs `fn` until it stops throwing DecodeBlockedError; undefined when the batch was given up meanwhile. */
  private async retrying<T>(what: string, ctx: BatchContext, fn: () => Promise<T>): Promise<T | undefined> {
    const backoff = new Backoff(this.deps.backoffMs?.initial ?? 100, this.deps.backoffMs?.max ?? 5000);
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await fn();
        if (attempt > 1) this.setBlocked(undefined);
        return value;
      } catch (e) {
        if (!(e instanceof DecodeBlockedError)) throw e;
        this.setBlocked(what, e);
        if (attempt === 1 || attempt % 20 === 0)
          this.deps.logger.warn({ partition: this.partition, err: e, attempt }, 'waiting for the schema registry (records are retried, never dead-lettered)');
      }
      if (this.closing || !ctx.isRunning() || ctx.isStale()) return undefined;
      await backoff.wait();
      await ctx.heartbeat(); // a rebalance makes this throw: kafkajs rejoins and redelivers
    }
  }

  private setBlocked(what: string | undefined, error?: unknown): void {
    const { metrics } = this.deps;
    if (this.blocked && this.blocked.what !== what) metrics.blocked.remove({ ...this.labels, waiting_for: this.blocked.what });
    if (what === undefined) {
      this.blocked = undefined;
      return;
    }
    const message = error === undefined ? undefined : describeError(error);
    if (this.blocked?.what !== what) this.blocked = { what, since: Date.now(), error: message };
    else this.blocked.error = message;
    metrics.blocked.set({ ...this.labels, waiting_for: what }, 1);
  }

  private batchGuard(ctx: BatchContext): OwnershipGuard {
    return {
      confirm: () => ctx.heartbeat(),
      active: () => !this.closing && ctx.isRunning() && !ctx.isStale(),
    };
  }

  /** Outside a batch (taking the partition): ownership was just granted by the assignment. */
  private localGuard(): OwnershipGuard {
    return { confirm: async () => undefined, active: () => !this.closing };
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
