import { isValidId, likeKey } from '@doubletap/events';
import { partitionForKey } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';

/** Why "did I like it" has no answer right now (sent to clients, e.g. in a response header). */
export type ViewerLikeUnknownReason = 'rebalancing' | 'timeout' | 'no-owner' | 'error';

export type ViewerLike =
  | { liked: boolean; partition: number; asOfOffset: number }
  | { liked: null; reason: ViewerLikeUnknownReason; partition?: number };

/** The owners map lookup (see readOwner in @doubletap/redis). */
export type OwnerLookup = (partition: number) => Promise<{ url: string } | undefined>;

export interface ViewerLikeClientOptions {
  lookupOwner: OwnerLookup;
  /** bound on the whole question (owner lookup + HTTP + body), ms */
  timeoutMs?: number;
  logger?: Logger;
}

/** Status codes an aggregator uses for "not the owner (any more) / still restoring". */
const NOT_OWNER = new Set([404, 409, 421, 425, 503]);

/**
 * Asks the aggregator that owns partition(postId/userId) whether the viewer likes the post.
 * Uses the producer's partitioner, so the question goes where the viewer's events went. Never
 * throws and never takes longer than timeoutMs: an unknown answer is `liked: null` with the
 * reason, never a guess.
 */
export class ViewerLikeClient {
  private readonly timeoutMs: number;

  constructor(private readonly options: ViewerLikeClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 300;
  }

  async likedByViewer(postId: string, userId: string, partitions: number): Promise<ViewerLike> {
    if (!isValidId(postId) || !isValidId(userId) || !Number.isInteger(partitions) || partitions < 1) {
      return { liked: null, reason: 'error' };
    }
    const partition = partitionForKey(likeKey(postId, userId), partitions);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ViewerLike>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve({ liked: null, reason: 'timeout', partition });
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([this.ask(postId, userId, partition, controller.signal), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async ask(postId: string, userId: string, partition: number, signal: AbortSignal): Promise<ViewerLike> {
    const unknown = (reason: ViewerLikeUnknownReason): ViewerLike => ({ liked: null, reason, partition });
    let owner: { url: string } | undefined;
    try {
      owner = await this.options.lookupOwner(partition);
    } catch (err) {
      this.options.logger?.warn({ err, partition }, 'viewer like: owner lookup failed');
      return unknown('error');
    }
    if (!owner) return unknown('no-owner');
    const url =
      `${owner.url.replace(/\/+$/, '')}/internal/partitions/${partition}/likes/` +
      `${encodeURIComponent(postId)}/${encodeURIComponent(userId)}`;
    try {
      const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
      if (res.status !== 200) {
        await res.body?.cancel();
        return unknown(NOT_OWNER.has(res.status) ? 'rebalancing' : 'error');
      }
      const body = (await res.json()) as Record<string, unknown>;
      if (
        typeof body.liked !== 'boolean' ||
        body.partition !== partition ||
        body.postId !== postId ||
        body.userId !== userId
      ) {
        this.options.logger?.warn({ url, body }, 'viewer like: owner answered something else');
        return unknown('error');
      }
      const asOfOffset = typeof body.asOfOffset === 'number' ? body.asOfOffset : -1;
      return { liked: body.liked, partition, asOfOffset };
    } catch (err) {
      if (signal.aborted) return unknown('timeout');
      // nobody listens at the advertised address: the owner died and the group has not moved on yet
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === 'ECONNREFUSED' || code === 'ECONNRESET') return unknown('rebalancing');
      this.options.logger?.warn({ err, url }, 'viewer like: query failed');
      return unknown('error');
    }
  }
}
