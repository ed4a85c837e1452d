import type { Assignment, PartitionOffsets, TopicIdentity } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { Backoff } from './backoff';
import type { ChangelogIO, ChangelogState } from './changelog';
import type { AggregatorMetrics } from './metrics';
import { PartitionLostError } from './record-collector';
import type { PartitionTask } from './task';
import type { InputTopicView, OwnershipRegistry } from './types';

interface TakeView {
  identity: TopicIdentity;
  offsets: PartitionOffsets;
  changelog?: ChangelogState;
}

export interface OwnershipDeps {
  input: InputTopicView;
  /** the store changelog (its state is read for every added partition, after the fence) */
  changelog?: ChangelogIO;
  createTask(partition: number): PartitionTask;
  logger: Logger;
  metrics: AggregatorMetrics;
  registry?: OwnershipRegistry;
  /** standby stores (ADR 0018): handed over before a task opens them, re-chosen after every assignment */
  standbys?: { release(partitions: readonly number[]): Promise<void>; update(owned: readonly number[]): Promise<void> };
  /** a failure the process cannot continue from (a store that cannot be opened) */
  onFatal(error: Error): void;
}

/**
 * Turns the consumer group's assignments into partition tasks (Kafka Streams' rebalance listener):
 * revoked partitions are released (the batch in flight finishes, the store closes) and withdrawn from
 * the owners map; added ones are taken — all with one look at the input topic (identity and offsets)
 * — and announced, so the api can route "did I like it" to this process.
 */
export class OwnershipListener {
  readonly tasks = new Map<number, PartitionTask>();
  /** partition → last applied offset of a local store this process holds but does not own now */
  private readonly kept = new Map<number, number>();
  member?: { memberId: string; generation: number };
  assignedOnce = false;

  constructor(private readonly deps: OwnershipDeps) {}

  /** Local stores this process holds for partitions it does not own (what it tells the group leader). */
  get warm(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const [p, offset] of this.kept) if (!this.tasks.has(p)) out[p] = offset;
    return out;
  }

  /** Records the stores found on disk at start (a restarted process can resume them). */
  remember(stores: ReadonlyMap<number, number>): void {
    for (const [p, offset] of stores) this.kept.set(p, offset);
  }

  get owned(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  async onAssignment(a: Assignment): Promise<void> {
    const { logger, registry, metrics } = this.deps;
    const previous = this.member;
    this.member = { memberId: a.memberId, generation: a.generation };
    // the assignment's partitions are the truth, not its diff: a partition whose take was given up
    // (ownership not confirmed during a rebalance) has no task, and is taken again if it is still ours
    const now = new Set(a.partitions);
    const revoked = this.owned.filter((p) => !now.has(p));
    if (revoked.length > 0) {
      await Promise.all(revoked.map((p) => this.release(p)));
      if (registry && previous) await this.safely('withdraw ownership', () => registry.withdraw(revoked, previous));
    }
    const added = a.partitions.filter((p) => !this.tasks.has(p));
    if (added.length > 0) {
      // a standby of an added partition stops following its changelog and closes its store: the
      // task opens it and promotes it
      if (this.deps.standbys) await this.deps.standbys.release(added);
      // fence first: what the input and the changelog hold is read after no earlier owner can write
      const tasks = added.map((p) => this.create(p));
      const fenced = (await Promise.all(tasks.map((t) => this.guarded(t, () => t.fence())))).filter((t) => t !== undefined);
      const view = await this.look(fenced.map((t) => t.partition));
      if (view === undefined) return;
      await Promise.all(fenced.map((t) => this.guarded(t, () => t.take(view.for(t.partition)))));
    }
    this.assignedOnce = true;
    metrics.ownedPartitions.set(this.tasks.size);
    if (registry && this.member && this.tasks.size > 0) {
      const member = this.member;
      await this.safely('publish ownership', () => registry.publish(this.owned, member));
    }
    logger.info({ partitions: this.owned, added, revoked, generation: a.generation }, 'assignment applied');
    // revoked stores become standbys; in the background (an assignment never waits for a standby)
    this.deps.standbys?.update(this.owned).catch((e: unknown) => logger.warn({ err: e }, 'standbys not updated'));
  }

  /** Releases every partition (shutdown). */
  async releaseAll(): Promise<void> {
    const owned = this.owned;
    await Promise.all(owned.map((p) => this.release(p)));
    if (this.deps.registry && this.member && owned.length > 0) {
      const member = this.member;
      await this.safely('withdraw ownership', () => this.deps.registry!.withdraw(owned, member));
    }
    this.deps.metrics.ownedPartitions.set(0);
  }

  private create(p: number): PartitionTask {
    const task = this.deps.createTask(p);
    this.tasks.set(p, task);
    return task;
  }

  /** Runs a step of taking `task`; a failure other than losing the partition meanwhile is fatal. */
  private async guarded(task: PartitionTask, step: () => Promise<void>): Promise<PartitionTask | undefined> {
    try {
      await step();
      return task;
    } catch (e) {
      if (e instanceof PartitionLostError) {
        // given up while taking it: no task keeps it, so the next assignment that names it takes it again
        this.deps.logger.warn({ partition: task.partition, err: e }, 'partition not taken: it is no longer ours');
        await this.release(task.partition);
        return undefined;
      }
      const error = e instanceof Error ? e : new Error(String(e));
      this.deps.logger.fatal({ err: error, partition: task.partition }, 'cannot take the assigned partition');
      this.deps.onFatal(error);
      return undefined;
    }
  }

  private async release(p: number): Promise<void> {
    const task = this.tasks.get(p);
    if (!task) return;
    this.tasks.delete(p);
    const stored = task.storedOffset();
    await task.release();
    if (stored !== undefined) this.kept.set(p, stored);
    else this.kept.delete(p);
    this.deps.logger.info({ partition: p, storedOffset: stored ?? null }, 'partition released, store closed');
  }

  /** The input topic's identity and offsets and the changelog's state, retried while Kafka cannot answer. */
  private async look(partitions: number[]): Promise<{ for(p: number): TakeView } | undefined> {
    const backoff = new Backoff(200, 5000);
    for (let attempt = 1; ; attempt++) {
      try {
        const [identity, offsets, changelog] = await Promise.all([
          this.deps.input.identity(),
          this.deps.input.offsets(),
          this.deps.changelog?.inspect(partitions),
        ]);
        if (!identity) throw new Error('the input topic does not exist');
        return {
          for: (p) => ({
            identity,
            offsets: offsets.find((o) => o.partition === p) ?? { partition: p, low: 0, high: 0 },
            changelog: changelog?.get(p),
          }),
        };
      } catch (e) {
        if (attempt === 1 || attempt % 10 === 0) this.deps.logger.warn({ err: e, attempt }, 'cannot read the input topic; retrying');
        if (attempt >= 60) {
          this.deps.onFatal(e instanceof Error ? e : new Error(String(e)));
          return undefined;
        }
        await backoff.wait();
      }
    }
  }

  private async safely(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      this.deps.logger.warn({ err: e }, `${what} failed`);
    }
  }
}
