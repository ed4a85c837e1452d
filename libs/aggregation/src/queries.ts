import { homePartition } from '@doubletap/likes';
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
    const task = this.tasks.get(partition);
    const store = task?.openStore;
    if (!task || !store) return { kind: 'not-owner' };
    const expected = homePartition(postId, userId, this.partitions);
    if (expected !== partition) return { kind: 'wrong-partition', expected };
    const phase = task.phase;
    if (phase.kind === 'stopped') return { kind: 'stopped', reason: phase.refusal.reason };
    if (phase.kind === 'catching-up') return { kind: 'restoring', progress: phase.progress.ratio };
    if (phase.kind !== 'live') return { kind: 'restoring', progress: 0 };
    return { kind: 'ok', liked: await store.isLiked(postId, userId), asOfOffset: store.lastOffset() ?? null };
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
