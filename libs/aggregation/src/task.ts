import type { BatchContext, ConsumedRecord, PartitionOffsets, TopicIdentity, TxRecord } from '@doubletap/kafka';
import { foldBatch } from '@doubletap/likes';
import type { PartitionStore } from '@doubletap/store';
import { BlockedState, untilDecoded } from './blocked';
import type { ChangelogState } from './changelog';
import { ContinuityGuard } from './continuity-guard';
import { RecordDecoder } from './decode';
import { recordBatch } from './metrics';
import { CatchUpProgress } from './progress';
import { OwnershipGuards } from './ownership-guards';
import { PartitionLostError, RecordCollector, type OwnershipGuard } from './record-collector';
import { StateManager } from './state-manager';
import type { BatchOutcome, Phase, TaskDeps } from './task-types';
import type { Refusal } from './types';

export type { BatchOutcome, Phase, TaskDeps } from './task-types';

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
  private readonly blocking: BlockedState;
  private readonly continuity: ContinuityGuard;
  private readonly state: StateManager;
  private readonly collector: RecordCollector;
  private readonly decoder: RecordDecoder;
  private readonly guards: OwnershipGuards;
  private chain: Promise<unknown> = Promise.resolve();
  /** aborted by release(): every wait of the task (a backoff, the coordinator) ends at once */
  private readonly giving = new AbortController();
  private readonly labels: { partition: string };
  /** when the partition was assigned here (the task is created then): its takeover ends when it is live */
  private readonly assignedAt = process.hrtime.bigint();

  private get closing(): boolean {
    return this.giving.signal.aborted;
  }

  constructor(private readonly deps: TaskDeps) {
    this.labels = { partition: String(deps.partition) };
    this.blocking = new BlockedState(deps.partition, deps.metrics);
    this.continuity = new ContinuityGuard({
      partition: deps.partition,
      pinned: deps.pinned,
      input: deps.input,
      logger: deps.logger,
      metrics: deps.metrics,
      source: () => this.state.sourceIdentity(),
    });
    this.decoder = new RecordDecoder(deps.codec, deps.partition, deps.pinned);
    this.guards = new OwnershipGuards(deps.partition, deps.control, this.giving.signal, deps.logger, deps.backoffMs);
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
      stopping: this.giving.signal,
      onBlocked: (what, error) => this.blocking.set(what, error),
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
      encodeCountNow: (c) => deps.codec.encodeCountNow?.(c),
      countsTopic: deps.topics.counts,
    });
  }

  get partition(): number {
    return this.deps.partition;
  }

  /** what the task waits for right now (a dependency that is down), with since when */
  get blocked(): { what: string; since: number; error?: string } | undefined {
    return this.blocking.current;
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
    return this.serialize(() => this.collector.open(this.guards.local()));
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
      this.continuity.startAt(plan.from);
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
        await this.state.finishCatchUp(this.publisher(this.guards.local()), () => this.deps.faults?.afterOutput?.(p));
        this.phase = { kind: 'live' };
        logger.info({ partition: p, resumeAt: plan.from, takeoverSeconds: this.tookOver() }, 'partition taken, up to date');
      }
    });
  }

  /** Applies one batch (records of this partition in offset order). */
  handle(records: readonly ConsumedRecord[], ctx: BatchContext): Promise<BatchOutcome> {
    return this.serialize(async () => {
      try {
        return await this.apply(records, ctx);
      } catch (e) {
        // the partition was lost or given up meanwhile: nothing of the batch was applied. The
        // consumer is sent back to the batch's start: if the partition is still ours (the
        // coordinator merely could not be asked) the batch comes again, and no later batch need
        // arrive for the gap to be noticed (a client that moves on past a held batch left it
        // unapplied until the next record of the partition came, or for good on a quiet post)
        if (e instanceof PartitionLostError) {
          this.deps.logger.warn({ partition: this.partition, err: e }, 'batch not applied: the partition is no longer ours');
          if (!this.closing && records.length > 0) this.deps.control()?.seek(this.partition, records[0].offset);
          return 'held';
        }
        throw e;
      }
    });
  }

  /**
   * Gives the partition up: the batch in flight finishes, or is abandoned at once when it waits for a
   * dependency that is down (a backoff never delays a revocation); then the store closes.
   */
  release(): Promise<void> {
    this.giving.abort();
    return this.serialize(async () => {
      await this.collector.close();
      await this.state.close();
      const { metrics } = this.deps;
      for (const g of [metrics.restoreProgress, metrics.storedOffset, metrics.lag, metrics.storeSize]) g.remove(this.labels);
      if (this.phase.kind === 'stopped') metrics.stopped.remove({ ...this.labels, reason: this.phase.refusal.code });
      this.blocking.set(undefined);
      this.phase = { kind: 'closed' };
    });
  }

  /** Read access for interactive queries (undefined unless the store is open). */
  get openStore(): PartitionStore | undefined {
    return this.state.isOpen ? this.state.store : undefined;
  }

  // ------------------------------------------------------------------ one batch

  private async apply(records: readonly ConsumedRecord[], ctx: BatchContext): Promise<BatchOutcome> {
    const { partition: p } = this.deps;
    const phase = this.phase;
    if (this.closing || !this.state.isOpen || phase.kind === 'opening' || phase.kind === 'closed' || phase.kind === 'stopped') {
      if (phase.kind === 'stopped') this.deps.control()?.pause([p]);
      ctx.holdOffsets();
      return 'held';
    }
    const started = process.hrtime.bigint();
    const store = this.state.store;
    const judged = await this.continuity.judge(records, store.lastOffset());
    if (judged.kind === 'redelivery') return 'applied';
    ctx.holdOffsets();
    if (judged.kind === 'refuse') return this.stop(judged.refusal);
    if (judged.kind === 'reposition') {
      this.deps.control()?.seek(p, judged.seek);
      return 'held';
    }
    const fresh = judged.records;
    const lastOffset = fresh[fresh.length - 1].offset;
    const guard = this.guards.forBatch(ctx);
    const decoded = await untilDecoded(() => this.decoder.decode(fresh), ctx, {
      blocked: this.blocking,
      logger: this.deps.logger,
      partition: p,
      stopping: this.giving.signal,
      backoffMs: this.deps.backoffMs,
    });
    if (decoded === undefined) return 'held';
    const { events, keys, dead } = decoded;
    const memberKeys = new Set<string>(keys);
    const posts = new Set<string>();
    for (const e of events) posts.add(e.postId);
    const fold = foldBatch(await store.getState([...memberKeys], [...posts]), events, p, lastOffset, keys);
    const catchingUp = phase.kind === 'catching-up';
    const write = { membership: fold.edits, counts: fold.counts, offset: lastOffset, dirty: catchingUp ? fold.changes.map((c) => c.postId) : undefined };
    // output first (one transaction: dead letters, changelog, CountChanged), then the store: nothing
    // applied is ever unpublished, and the changelog never lags the store
    const out: TxRecord[] = dead.map((d) => this.collector.deadLetter(d.record, d.reason, d.detail));
    out.push(...this.state.changelogFor(write));
    if (!catchingUp) out.push(...(await this.collector.countChanged(fold.changes)));
    await this.collector.send(out, guard);
    if (out.length > 0) this.deps.faults?.afterOutput?.(p);
    await this.state.commit(write);
    this.deps.faults?.afterCommit?.(p);
    recordBatch(this.deps.metrics, this.deps.logger, p, { fold, dead, catchingUp, records: fresh.length, lastOffset, highWatermark: ctx.highWatermark, started });

    if (phase.kind === 'catching-up') {
      phase.progress.at(lastOffset);
      if (phase.progress.done(lastOffset)) {
        await this.state.finishCatchUp(this.publisher(guard), () => this.deps.faults?.afterOutput?.(p));
        this.phase = { kind: 'live' };
        phase.progress.finish(this.tookOver());
      }
    }
    return 'applied';
  }

  /** The partition is live: records how long since it was assigned here, and returns it (seconds). */
  private tookOver(): number {
    const seconds = Number(process.hrtime.bigint() - this.assignedAt) / 1e9;
    this.deps.metrics.takeoverSeconds.observe(seconds);
    this.deps.metrics.lastTakeoverSeconds.set(this.labels, seconds);
    return Number(seconds.toFixed(3));
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

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
