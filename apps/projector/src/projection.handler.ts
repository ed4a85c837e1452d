import type { CountChanged } from '@doubletap/events';
import { InvalidEventError } from '@doubletap/events';
import type { Assignment, BatchContext, BatchHandler, ConsumedRecord } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import type { ApplyResult, CountChange, ProgressStep } from '@doubletap/redis';
import type { ProjectorMetrics } from './metrics';
import { type BatchPlan, type LogEnds, type PartitionControl, type ProgressStore, ProgressTracker } from './progress-tracker';

export interface ProjectionHandlerDeps {
  decode(value: Buffer): Promise<CountChanged>;
  /** the guarded apply of a batch plus its progress step (libs/redis LikesProjection.applyBatch) */
  apply(changes: CountChange[], step: ProgressStep): Promise<ApplyResult>;
  /** the progress in Redis (libs/redis ReadSideProgress) */
  progress: ProgressStore;
  /** the consumer, for seek / pause / resume */
  control: PartitionControl;
  /** log start and high watermark per partition of likes.counts */
  logEnds: LogEnds;
  /** P, the partition count of likes.counts */
  partitions: () => number;
  metrics: ProjectorMetrics;
  logger: Logger;
  /** first and largest pause between retries while Redis (or the registry) is unavailable, ms */
  backoffMs?: { initial: number; max: number };
}

/** The batch was given up without applying it (stop or rebalance): its offsets are not committed. */
export class BatchAbandonedError extends Error {
  constructor(why: string) {
    super(`batch abandoned: ${why}`);
    this.name = 'BatchAbandonedError';
  }
}

/** The partition was re-positioned while the batch waited: the batch is dropped, the new position rules. */
class ObsoleteBatch extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Consumes likes.counts batches: decode (an undecodable record of this derived topic is logged,
 * counted and skipped), then ONE pipeline to Redis with the guarded apply and the partition's
 * progress step (ADR 0008: the progress lives in Redis; the ProgressTracker decides where each
 * partition reads from and whether it heals, and re-seeks when Redis holds other progress).
 * handleBatch resolves only once Redis has applied the batch. While Redis is down it keeps retrying
 * with backoff and heartbeating (the partition is effectively paused, nothing is skipped); a
 * repeated apply after a failure mid-pipeline is harmless thanks to the offset guard, and the
 * progress step accepts its own repeat.
 */
export class ProjectionHandler implements BatchHandler {
  private joinedGeneration = 0;
  private readonly initialBackoff: number;
  private readonly maxBackoff: number;
  readonly tracker: ProgressTracker;

  constructor(private readonly deps: ProjectionHandlerDeps) {
    this.initialBackoff = deps.backoffMs?.initial ?? 100;
    this.maxBackoff = deps.backoffMs?.max ?? 2000;
    this.tracker = new ProgressTracker({
      store: deps.progress,
      control: deps.control,
      logEnds: deps.logEnds,
      partitions: deps.partitions,
      metrics: deps.metrics,
      logger: deps.logger,
      backoffMs: deps.backoffMs,
    });
  }

  /** the consumer has joined its group at least once */
  get joined(): boolean {
    return this.joinedGeneration > 0;
  }

  /**
   * Pauses every owned partition and positions it from Redis in the background: awaiting Redis here
   * would hold every batch (and the heartbeats) for as long as Redis is down.
   */
  async onAssignment(assignment: Assignment): Promise<void> {
    this.joinedGeneration = assignment.generation;
    for (const p of assignment.revoked) this.deps.metrics.lag.remove(String(p));
    void this.tracker.assign(assignment.partitions, assignment.revoked);
  }

  async handleBatch(partition: number, records: ConsumedRecord[], ctx: BatchContext): Promise<void> {
    // synchronously, in the tick the consumer checked the batch against pending seeks. The batch's
    // last offset counts the commit markers after its records (likes.counts is written in
    // transactions): progress moves past them, and a heal whose target is a marker completes.
    const plan = ctx.isStale() ? undefined : this.tracker.plan(partition, ctx.lastOffset);
    if (!plan) {
      // being positioned (a seek follows), or every record is below the progress already
      this.deps.metrics.records.inc({ outcome: 'skipped' }, records.length);
      return;
    }
    try {
      await this.project(plan, records, ctx);
    } catch (e) {
      if (!(e instanceof ObsoleteBatch)) throw e;
      this.deps.metrics.records.inc({ outcome: 'skipped' }, records.length);
    } finally {
      this.tracker.release(plan);
    }
  }

  /**
   * The consumer passed offsets holding no records for us (only transaction markers): move the
   * progress past them like an empty batch, so an idle partition whose log ends with a marker is
   * not left short of its heal target.
   */
  onPosition(partition: number, lastOffset: number): void {
    const plan = this.tracker.plan(partition, lastOffset);
    if (!plan) return;
    const ctx: BatchContext = {
      heartbeat: async () => undefined,
      isRunning: () => true,
      isStale: () => false,
      highWatermark: lastOffset + 1,
      lastOffset,
      holdOffsets: () => undefined,
    };
    void this.project(plan, [], ctx)
      .catch((e: unknown) => {
        if (!(e instanceof ObsoleteBatch)) this.deps.logger.warn({ err: e, partition }, 'could not move the progress past transaction markers');
      })
      .finally(() => this.tracker.release(plan));
  }

  private async project(plan: BatchPlan, records: ConsumedRecord[], ctx: BatchContext): Promise<void> {
    const { metrics, logger } = this.deps;
    const partition = plan.partition;
    const started = process.hrtime.bigint();
    const changes: CountChange[] = [];
    let tombstones = 0;
    let invalid = 0;
    for (const record of records) {
      if (record.value === null) {
        tombstones++;
        continue;
      }
      const value = record.value;
      const decoded = await this.retrying(ctx, plan, 'decode', metrics.decodeRetries, async () => {
        try {
          return await this.deps.decode(value);
        } catch (e) {
          if (e instanceof InvalidEventError) return e;
          throw e; // transient (registry unreachable): retry, never skip
        }
      });
      if (decoded instanceof InvalidEventError) {
        invalid++;
        logger.warn({ partition, offset: record.offset, key: record.key, reason: decoded.message }, 'skipping undecodable CountChanged');
        continue;
      }
      changes.push(decoded);
    }

    // also for a batch without changes (tombstones, poison): its progress step still moves p:<n>
    const result = await this.retrying(ctx, plan, 'apply', metrics.redisErrors, () => this.deps.apply(changes, plan.step));
    this.tracker.settle(plan, result.progress ?? { status: 'ok' }, records.length);

    const now = Date.now();
    metrics.records.inc({ outcome: 'applied' }, result.applied);
    metrics.records.inc({ outcome: 'stale' }, result.stale);
    if (invalid) metrics.records.inc({ outcome: 'invalid' }, invalid);
    if (tombstones) metrics.records.inc({ outcome: 'tombstone' }, tombstones);
    metrics.postsChanged.inc(result.changed.length);
    metrics.batches.inc();
    metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    for (const r of records) metrics.recordAgeSeconds.observe(Math.max(0, now - r.timestamp) / 1000);
    metrics.lag.set({ partition: String(partition) }, Math.max(0, ctx.highWatermark - ctx.lastOffset - 1));
  }

  /**
   * Runs fn until it succeeds; gives up (throws) only when the consumer stops, the batch went stale,
   * or the tracker re-positioned the partition meanwhile (then the batch is dropped quietly).
   */
  private async retrying<T>(
    ctx: BatchContext,
    plan: BatchPlan,
    what: string,
    errors: { inc(): void },
    fn: () => Promise<T>,
  ): Promise<T> {
    let delay = this.initialBackoff;
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await fn();
        if (attempt > 1) {
          this.deps.metrics.blocked.set(0);
          this.deps.logger.info({ what, attempts: attempt }, 'projector: recovered');
        }
        return value;
      } catch (err) {
        errors.inc();
        this.deps.metrics.blocked.set(1);
        if (attempt === 1 || attempt % 20 === 0)
          this.deps.logger.warn({ err, what, attempt }, 'projector: failed, retrying with backoff');
      }
      if (!ctx.isRunning()) throw new BatchAbandonedError('consumer stopping');
      if (this.tracker.obsolete(plan)) throw new ObsoleteBatch();
      if (ctx.isStale()) throw new BatchAbandonedError('partition reassigned');
      await sleep(delay * (0.5 + Math.random() / 2));
      delay = Math.min(this.maxBackoff, delay * 2);
      // a rebalance makes heartbeat throw: let it, kafkajs rejoins and redelivers the batch
      await ctx.heartbeat();
      if (!ctx.isRunning()) throw new BatchAbandonedError('consumer stopping');
      if (this.tracker.obsolete(plan)) throw new ObsoleteBatch();
    }
  }
}
