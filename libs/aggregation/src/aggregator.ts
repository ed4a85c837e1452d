import type { Assignment, BatchContext, BatchHandler, ConsumedRecord, Kafka } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { PartitionStore } from '@doubletap/store';
import type { AggregatorMetrics } from './metrics';
import { OwnershipListener } from './ownership';
import { QueryService, type PartitionStatus } from './queries';
import type { ChangelogIO } from './changelog';
import type { OpenSender } from './record-collector';
import { StandbyManager } from './standby';
import type { StandbyChoice } from './standby-choice';
import { PartitionTask } from './task';
import type {
  AggregatorCodec,
  AggregatorTopics,
  InputTopicView,
  LikeQuery,
  OwnershipRegistry,
  PartitionControl,
  Refusal,
} from './types';

export interface AggregatorDeps {
  topics: AggregatorTopics;
  /** the pinned partition count of the input topic (TOPIC_PARTITIONS): keys are routed over it */
  partitions: number;
  dataDir: string;
  codec: AggregatorCodec;
  kafka: Kafka;
  /**
   * Prefix of the per-partition transactional ids (`<prefix>-p<partition>`): the aggregator group's
   * id, so every owner of a partition — another replica, a restart, the state-rebuild tool — shares
   * it and the newest fences the rest.
   */
  transactionalIdPrefix: string;
  /** how output producers are opened (default: kafkajs transactional producers on `kafka`); tests pass fakes */
  openSender?: OpenSender;
  input: InputTopicView;
  /**
   * The store changelog: every batch's store changes go out in its output transaction, and a
   * partition that moves restores from it instead of replaying the input. Unset: not logged.
   */
  changelog?: { io: ChangelogIO; topic: string };
  /**
   * A state rebuild: stores are recomputed from the input log even where a changelog could restore
   * them, and each partition's changelog is rewritten from the recomputed store.
   */
  rebuild?: boolean;
  /**
   * Standby stores of partitions this process does not own, following their changelog (ADR 0018):
   * none, all of them, or up to n. Needs the changelog.
   */
  standbys?: StandbyChoice;
  logger: Logger;
  metrics: AggregatorMetrics;
  ownership?: OwnershipRegistry;
  /** a failure the process cannot continue from (a store that cannot be opened) */
  onFatal?: (error: Error) => void;
  progressEveryMs?: number;
  backoffMs?: { initial: number; max: number };
  /** fault injection for crash tests (counts are per process) */
  faults?: AggregatorFaults;
}

/** Crash-test hooks: called with the partition and how many such points this process passed. */
export interface AggregatorFaults {
  /** after a batch's output transaction committed, before its store write */
  afterOutput?: (partition: number, count: number) => void;
  /** after a batch's atomic store write */
  afterCommit?: (partition: number, count: number) => void;
}

/**
 * The stateful aggregator of one process, as the consumer sees it (a BatchHandler): assignments go
 * to the {@link OwnershipListener}, batches to the owning {@link PartitionTask}, reads to the
 * {@link QueryService}. Everything about one partition lives in its task.
 */
export class Aggregator implements BatchHandler {
  private readonly listener: OwnershipListener;
  readonly queries: QueryService;
  readonly standbys?: StandbyManager;
  private control?: PartitionControl;
  private fatal?: Error;
  private outputs = 0;
  private commits = 0;

  constructor(private readonly deps: AggregatorDeps) {
    const choice = deps.standbys ?? 'none';
    if (choice !== 'none' && deps.changelog && !deps.rebuild)
      this.standbys = new StandbyManager({
        dataDir: deps.dataDir,
        partitions: deps.partitions,
        choice,
        seed: deps.dataDir,
        changelog: deps.changelog.io,
        tail: deps.changelog.io.openTail(),
        logger: deps.logger,
        metrics: deps.metrics,
      });
    this.listener = new OwnershipListener({
      standbys: this.standbys,
      input: deps.input,
      changelog: deps.changelog?.io,
      createTask: (p) => this.createTask(p),
      logger: deps.logger,
      metrics: deps.metrics,
      registry: deps.ownership,
      onFatal: (e) => {
        this.fatal ??= e;
        deps.onFatal?.(e);
      },
    });
    this.queries = new QueryService(this.listener.tasks, deps.partitions);
  }

  /** The consumer is created after the handler: connect them before start. */
  attach(control: PartitionControl): void {
    this.control = control;
  }

  /** partition → last applied offset of local stores this process holds but does not own (assignment hints) */
  get warmPartitions(): Record<number, number> {
    const warm = this.listener.warm;
    // a standby's state is as far as the last changelog transaction it applied (ADR 0018)
    for (const [p, offset] of Object.entries(this.standbys?.warm ?? {})) warm[Number(p)] = Math.max(warm[Number(p)] ?? -1, offset);
    return warm;
  }

  /** Looks at the stores left on disk by an earlier run, so the first join can claim them. */
  async scanStores(): Promise<void> {
    const found = new Map<number, number>();
    for (let p = 0; p < this.deps.partitions; p++) {
      try {
        const offset = await PartitionStore.peekOffset(this.deps.dataDir, p);
        if (offset !== undefined) found.set(p, offset);
      } catch (e) {
        this.deps.logger.warn({ err: e, partition: p }, 'cannot read a store left on disk; not claiming it');
      }
    }
    this.listener.remember(found);
  }

  get ownedPartitions(): number[] {
    return this.listener.owned;
  }

  /** partitions catching up to the log end (not serving queries yet) */
  get restoringPartitions(): number[] {
    return this.tasksWhere((t) => t.phase.kind === 'catching-up' || t.phase.kind === 'opening');
  }

  /** partitions that refuse to apply their log, with why */
  get stoppedPartitions(): Array<{ partition: number } & Refusal> {
    const out: Array<{ partition: number } & Refusal> = [];
    for (const t of this.listener.tasks.values())
      if (t.phase.kind === 'stopped') out.push({ partition: t.partition, ...t.phase.refusal });
    return out.sort((a, b) => a.partition - b.partition);
  }

  /** partitions waiting for a dependency, with what and since when */
  get blockedPartitions(): Array<{ partition: number; what: string; since: number; error?: string }> {
    const out: Array<{ partition: number; what: string; since: number; error?: string }> = [];
    for (const t of this.listener.tasks.values()) if (t.blocked) out.push({ partition: t.partition, ...t.blocked });
    return out.sort((a, b) => a.partition - b.partition);
  }

  get hasAssignment(): boolean {
    return this.listener.assignedOnce;
  }

  get fatalError(): Error | undefined {
    return this.fatal;
  }

  get memberInfo(): { memberId: string; generation: number } | undefined {
    return this.listener.member;
  }

  onAssignment(a: Assignment): Promise<void> {
    return this.listener.onAssignment(a);
  }

  async handleBatch(partition: number, records: ConsumedRecord[], ctx: BatchContext): Promise<void> {
    const task = this.listener.tasks.get(partition);
    if (!task || ctx.isStale()) {
      ctx.holdOffsets(); // not ours (any more): nothing applied, nothing to commit
      return;
    }
    await task.handle(records, ctx);
  }

  /** Finishes work in flight, closes every store (standbys too), withdraws ownership. */
  async close(): Promise<void> {
    await this.standbys?.stop();
    await this.listener.releaseAll();
  }

  queryLike(partition: number, postId: string, userId: string): Promise<LikeQuery> {
    return this.queries.like(partition, postId, userId);
  }

  /** queryLike of many questions, answered in order (one store read per partition). */
  queryLikes(queries: readonly { partition: number; postId: string; userId: string }[]): Promise<LikeQuery[]> {
    return this.queries.likes(queries);
  }

  queryCount(partition: number, postId: string): Promise<{ count: number; asOfOffset: number | null } | undefined> {
    return this.queries.count(partition, postId);
  }

  partitionStatus(partition: number): Promise<PartitionStatus | undefined> {
    return this.queries.status(partition);
  }

  /** Refreshes the store size gauges (called at scrape time). */
  async refreshStoreSizes(): Promise<void> {
    await Promise.all(
      [...this.listener.tasks.values()].map(async (t) => {
        const store = t.openStore;
        if (!store) return;
        try {
          this.deps.metrics.storeSize.set({ partition: String(t.partition) }, await store.sizeBytes());
        } catch {
          // closed meanwhile
        }
      }),
    );
  }

  private tasksWhere(pred: (t: PartitionTask) => boolean): number[] {
    return [...this.listener.tasks.values()]
      .filter(pred)
      .map((t) => t.partition)
      .sort((a, b) => a - b);
  }

  private createTask(partition: number): PartitionTask {
    const d = this.deps;
    return new PartitionTask({
      partition,
      pinned: d.partitions,
      dataDir: d.dataDir,
      topics: d.topics,
      codec: d.codec,
      kafka: d.kafka,
      openSender: d.openSender,
      transactionalId: `${d.transactionalIdPrefix}-p${partition}`,
      input: d.input,
      changelog: d.changelog?.io,
      changelogTopic: d.changelog?.topic,
      rebuild: d.rebuild,
      control: () => this.control,
      logger: d.logger,
      metrics: d.metrics,
      progressEveryMs: d.progressEveryMs,
      backoffMs: d.backoffMs,
      faults: d.faults && {
        afterOutput: d.faults.afterOutput && ((p) => d.faults!.afterOutput!(p, ++this.outputs)),
        afterCommit: d.faults.afterCommit && ((p) => d.faults!.afterCommit!(p, ++this.commits)),
      },
    });
  }
}
