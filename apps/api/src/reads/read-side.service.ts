import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Gauge, type HealthRegistry, type Logger, type Registry } from '@doubletap/observability';
import { ViewerLikeClient, type ViewerLikeUnknownReason } from '@doubletap/queries';
import {
  type LiveSubscription,
  LiveCounts,
  ReadRequestError,
  ReadSideHealingError,
  ReadUnavailableError,
} from '@doubletap/redis';
import { ProblemException } from '../http/problem';
import { readSideHealing, unavailable } from '../http/problem-types';
import { HEALTH, LOGGER, METRICS } from '../platform/tokens';
import { CountRepository } from './count.repository';
import { toView } from './count-view';
import { OwnerDirectory } from './owner-directory';
import type { PostCount } from './reads.dto';

/** Why likedByViewer is null although a token was sent (the X-Liked-By-Viewer-Unavailable header). */
export type ViewerUnknownReason = ViewerLikeUnknownReason | 'starting';

export type ViewerAnswer = { liked: boolean } | { liked: null; reason: ViewerUnknownReason };

/** How long "did I like it" may take in total before it is answered null/timeout. */
const VIEWER_QUERY_TIMEOUT_MS = 250;
/** Retry-After of a read refused while the read side heals (a heal of likes.counts takes seconds). */
const HEALING_RETRY_AFTER_S = 2;

/**
 * The read side of one api process: count reads (Redis down is a 503 at once; a read side that is
 * healing after a Redis data loss is a 503 too, never a partial total — ADR 0008), the live-count
 * hub shared by every SSE viewer, and the interactive "did I like it" query to the aggregator
 * owning partition(postId/userId).
 */
@Injectable()
export class ReadSide implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly viewerLikes: ViewerLikeClient;
  private stopped = false;
  /** open SSE responses, ended before the HTTP server closes (it would wait for them otherwise) */
  private readonly streams = new Set<() => void>();

  constructor(
    @Inject(CountRepository) private readonly counts: CountRepository,
    @Inject(OwnerDirectory) private readonly owners: OwnerDirectory,
    @Inject(LiveCounts) readonly live: LiveCounts,
    @Inject(LOGGER) logger: Logger,
    @Inject(METRICS) metrics: Registry,
    @Inject(HEALTH) health: HealthRegistry,
  ) {
    // not ready while reads would be refused: a load balancer sends them to a replica that can
    // answer (every replica shares the one Redis, so during a heal none is ready; startup waits)
    health.register('read-side', async () => {
      const reason = await this.counts.healing();
      if (reason !== undefined) throw new Error(reason);
    });
    this.viewerLikes = new ViewerLikeClient({
      lookupOwner: (partition) => this.owners.owner(partition),
      onStaleOwner: (partition) => this.owners.invalidate(partition),
      timeoutMs: VIEWER_QUERY_TIMEOUT_MS,
      logger,
    });
    const streams = this.streams;
    new Gauge({
      name: 'doubletap_api_live_streams',
      help: 'open SSE count streams',
      registers: [metrics],
      collect() {
        this.set(streams.size);
      },
    });
    new Gauge({
      name: 'doubletap_api_live_channels',
      help: 'posts with at least one live viewer in this process (Redis channels subscribed)',
      registers: [metrics],
      collect() {
        this.set(live.stats().channels);
      },
    });
  }

  /** Ends every open stream (clients reconnect to another replica after the retry hint). */
  beforeApplicationShutdown(): void {
    this.stopped = true;
    for (const end of [...this.streams]) end();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.viewerLikes.close();
    await this.live.close();
  }

  get acceptingStreams(): boolean {
    return !this.stopped;
  }

  trackStream(end: () => void): () => void {
    this.streams.add(end);
    return () => void this.streams.delete(end);
  }

  count(postId: string): Promise<PostCount> {
    // the hot path (mostly answered from memory): no async wrappers beyond the one promise
    return this.counts.count(postId).then(toView, mapReadError);
  }

  async many(postIds: readonly string[]): Promise<PostCount[]> {
    return (await this.counts.counts(postIds).catch(mapReadError)).map(toView);
  }

  /** A live view of one post; the current count first (see LiveCounts.watch). */
  watch(postId: string, current: PostCount): LiveSubscription {
    const sub = this.live.watch(postId);
    // the snapshot just read goes out at once; the hub's own post-SUBSCRIBE read is then only
    // delivered if it is newer (subscriptions ignore updates not newer than the last offered)
    sub.offer({
      postId,
      count: current.count,
      asOf: current.asOf === null ? null : Date.parse(current.asOf),
    });
    return sub;
  }

  /** Never throws and never waits longer than VIEWER_QUERY_TIMEOUT_MS (plus a tick). */
  async likedByViewer(postId: string, userId: string): Promise<ViewerAnswer> {
    const partitions = this.owners.partitions;
    if (partitions < 1) return { liked: null, reason: 'starting' };
    const answer = await this.viewerLikes.likedByViewer(postId, userId, partitions);
    return answer.liked === null ? { liked: null, reason: answer.reason } : { liked: answer.liked };
  }
}

/** The read side's errors as the api answers them. */
function mapReadError(e: unknown): never {
  if (e instanceof ReadRequestError) throw new ProblemException(400, 'bad-request', e.message);
  if (e instanceof ReadSideHealingError) throw readSideHealing(e.message, e, HEALING_RETRY_AFTER_S);
  if (e instanceof ReadUnavailableError) throw unavailable(`the read model (Redis) cannot answer: ${e.message}`, 1);
  throw e;
}
