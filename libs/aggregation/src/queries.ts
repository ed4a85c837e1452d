import { homePartition } from '@doubletap/likes';
import type { PartitionStore } from '@doubletap/store';
import type { PartitionTask } from './task';
import type { LikeQuery } from './types';

export interface PartitionStatus {
  partition: number;
  storedOffset: number | null;
  phase: 'opening' | 'catching-up' | 'live' | 'stopped' | 'closed';
  /** catching up: fraction done */
  progress?: number;
  /** stopped: why */
  stopped?: { code: string; reason: string; since: string };
  /** waiting for a dependency */
  blocked?: { waitingFor: string; since: string; error?: string };
  storeBytes: number;
  /** posts whose CountChanged is still to publish (catching up), counted up to 1000 */
  dirty: number;
}

/**
 * Interactive queries against the stores this process owns (Kafka Streams' interactive queries):
 * read-only, answered from the owning task's store, never from a partition that is catching up or
 * stopped (those answer "restoring" / "stopped" so the caller can say so).
 */
export class QueryService {
  constructor(
    private readonly tasks: ReadonlyMap<number, PartitionTask>,
    private readonly partitions: number,
  ) {}

  async like(partition: number, postId: string, userId: string): Promise<LikeQuery> {
    return (await this.likes([{ partition, postId, userId }]))[0];
  }

  /**
   * Many questions at once, answered in the order asked, each as like() answers it: every question
   * is read from its partition's store synchronously, in this turn (the api batches concurrent viewers).
   */
  async likes(queries: readonly { partition: number; postId: string; userId: string }[]): Promise<LikeQuery[]> {
    const answers = new Array<LikeQuery>(queries.length);
    // partition → its store and the indexes of the questions it answers
    const reads = new Map<number, { store: PartitionStore; indexes: number[] }>();
    for (let i = 0; i < queries.length; i++) {
      const { partition, postId, userId } = queries[i];
      const task = this.tasks.get(partition);
      const store = task?.openStore;
      if (!task || !store) {
        answers[i] = { kind: 'not-owner' };
        continue;
      }
      const expected = homePartition(postId, userId, this.partitions);
      if (expected !== partition) {
        answers[i] = { kind: 'wrong-partition', expected };
        continue;
      }
      const phase = task.phase;
      if (phase.kind === 'stopped') answers[i] = { kind: 'stopped', reason: phase.refusal.reason };
      else if (phase.kind === 'catching-up') answers[i] = { kind: 'restoring', progress: phase.progress.ratio };
      else if (phase.kind !== 'live') answers[i] = { kind: 'restoring', progress: 0 };
      else {
        const read = reads.get(partition);
        if (read) read.indexes.push(i);
        else reads.set(partition, { store, indexes: [i] });
      }
    }
    for (const { store, indexes } of reads.values()) {
      const liked = store.areLiked(indexes.map((i) => queries[i]));
      // read in the same turn as the answers (synchronous reads): what they are as of, exactly
      const asOfOffset = store.lastOffset() ?? null;
      indexes.forEach((i, k) => (answers[i] = { kind: 'ok', liked: liked[k], asOfOffset }));
    }
    return answers;
  }

  async count(partition: number, postId: string): Promise<{ count: number; asOfOffset: number | null } | undefined> {
    const task = this.tasks.get(partition);
    const store = task?.openStore;
    if (!task || !store || !task.isServing) return undefined;
    return { count: await store.getCount(postId), asOfOffset: store.lastOffset() ?? null };
  }

  async status(partition: number): Promise<PartitionStatus | undefined> {
    const task = this.tasks.get(partition);
    const store = task?.openStore;
    if (!task || !store) return undefined;
    const phase = task.phase;
    return {
      partition,
      storedOffset: store.lastOffset() ?? null,
      phase: phase.kind,
      progress: phase.kind === 'catching-up' ? Number(phase.progress.ratio.toFixed(4)) : undefined,
      stopped:
        phase.kind === 'stopped'
          ? { code: phase.refusal.code, reason: phase.refusal.reason, since: new Date(phase.since).toISOString() }
          : undefined,
      blocked: task.blocked
        ? { waitingFor: task.blocked.what, since: new Date(task.blocked.since).toISOString(), error: task.blocked.error }
        : undefined,
      storeBytes: await store.sizeBytes(),
      dirty: await store.dirtyCount(1000),
    };
  }
}
