import type { LikeEvent } from '@doubletap/events';
import type { CountSnapshot, LiveCounts, LiveSubscription } from '@doubletap/redis';
import type { CountRepository } from '../reads/count.repository';
import type { OwnerDirectory, PartitionOwner } from '../reads/owner-directory';
import type { LikeEventRepository } from '../likes/like-event.repository';
import type { RateDecision, RateLimitRepository } from '../likes/rate-limit.repository';

/** In-memory fakes of the api's repositories, for unit tests (no Kafka, no Redis). */

/** The events log: keeps what was appended; `failure` makes every append reject with it. */
export class FakeLikeEvents implements LikeEventRepository {
  ready = true;
  queueDepth = 0;
  failure?: Error;
  readonly appended: LikeEvent[] = [];

  async append(event: LikeEvent): Promise<void> {
    if (this.failure) throw this.failure;
    this.appended.push(event);
  }
}

/** Token buckets of `burst` tokens that never refill; `failure` makes every take throw it. */
export class FakeRateLimits implements RateLimitRepository {
  failure?: Error;
  readonly taken = new Map<string, number>();

  constructor(
    private readonly burst = Number.POSITIVE_INFINITY,
    private readonly retryAfterMs = 1000,
  ) {}

  async take(userId: string): Promise<RateDecision> {
    if (this.failure) throw this.failure;
    const n = (this.taken.get(userId) ?? 0) + 1;
    this.taken.set(userId, n);
    const remaining = this.burst - n;
    return remaining >= 0
      ? { allowed: true, remaining, retryAfterMs: 0 }
      : { allowed: false, remaining: 0, retryAfterMs: this.retryAfterMs };
  }
}

/** The read side as a map; `failure` makes every read throw it (e.g. a ReadSideHealingError). */
export class FakeCounts implements CountRepository {
  failure?: Error;
  healingReason?: string;
  readonly snapshots = new Map<string, CountSnapshot>();

  set(postId: string, count: number, asOf: number): void {
    this.snapshots.set(postId, { postId, count, asOf });
  }

  async count(postId: string): Promise<CountSnapshot> {
    if (this.failure) throw this.failure;
    return this.snapshots.get(postId) ?? { postId, count: 0, asOf: null };
  }

  async counts(postIds: readonly string[]): Promise<CountSnapshot[]> {
    const unique = [...new Set(postIds)];
    return Promise.all(unique.map((id) => this.count(id)));
  }

  async healing(): Promise<string | undefined> {
    return this.healingReason;
  }
}

/** Owners by partition; `partitions` 0 means the partition count is not known yet. */
export class FakeOwners implements OwnerDirectory {
  partitions = 0;
  readonly owners = new Map<number, PartitionOwner>();

  readonly invalidated: number[] = [];

  async owner(partition: number): Promise<PartitionOwner | undefined> {
    return this.owners.get(partition);
  }

  invalidate(partition: number): void {
    this.invalidated.push(partition);
  }
}

/** A live-count hub that nobody watches (SSE is tested in sse.unit.test.ts and the integration tier). */
export function fakeLiveCounts(): LiveCounts {
  const fake: Pick<LiveCounts, 'stats' | 'close' | 'watch'> = {
    stats: () => ({ channels: 0, viewers: 0 }),
    close: async () => undefined,
    watch: (): LiveSubscription => {
      throw new Error('fakeLiveCounts: watch is not faked');
    },
  };
  return fake as LiveCounts;
}
