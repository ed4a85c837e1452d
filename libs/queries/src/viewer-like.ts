import { isValidId, likeKey } from '@doubletap/events';
import { partitionForKey } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { Batcher } from './batcher';
import { HttpJsonError, JsonHttpClient } from './http-json';

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
  /** called when the owner of a partition answered "not the owner" or is gone (re-read the owners map) */
  onStaleOwner?: (partition: number) => void;
  /** most questions in one request to an aggregator (default 256) */
  maxBatch?: number;
  /** most requests in flight to one aggregator; more questions wait and leave together (default 4) */
  maxInFlight?: number;
}

/** Status codes an aggregator uses for "not the owner (any more) / still restoring". */
const NOT_OWNER = new Set([404, 409, 421, 425, 503]);

/** One "did I like it" question to the owner of `partition`. */
export interface ViewerQuery {
  partition: number;
  postId: string;
  userId: string;
}

type OwnerAnswer = { liked: boolean; asOfOffset: number } | { liked: null; reason: ViewerLikeUnknownReason };

/** The batch endpoint of the aggregator (apps/aggregator/src/http/server.ts). */
export const VIEWER_BATCH_PATH = '/internal/likes/query';

/**
 * Asks the aggregator that owns partition(postId/userId) whether the viewer likes the post.
 * Uses the producer's partitioner, so the question goes where the viewer's events went. Never
 * throws and never takes longer than timeoutMs: an unknown answer is `liked: null` with the
 * reason, never a guess.
 *
 * Questions to the same aggregator that are asked concurrently leave as ONE request (Batcher: the
 * batch endpoint, many (partition, post, user) at once; a lone question uses the single-question
 * endpoint), on keep-alive connections (JsonHttpClient). An aggregator without the batch endpoint
 * (an older one during a rolling upgrade: 404 for the route) is asked one question at a time.
 */
export class ViewerLikeClient {
  private readonly timeoutMs: number;
  private readonly http = new JsonHttpClient();
  private readonly batcher: Batcher<ViewerQuery, OwnerAnswer>;
  /** owners that answered 404 to the batch endpoint, until when (ms) */
  private readonly noBatch = new Map<string, number>();

  constructor(private readonly options: ViewerLikeClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 300;
    this.batcher = new Batcher({
      send: (url, queries) => this.send(url, queries),
      maxBatch: options.maxBatch ?? 256,
      maxInFlight: options.maxInFlight ?? 4,
    });
  }

  async likedByViewer(postId: string, userId: string, partitions: number): Promise<ViewerLike> {
    if (!isValidId(postId) || !isValidId(userId) || !Number.isInteger(partitions) || partitions < 1) {
      return { liked: null, reason: 'error' };
    }
    const partition = partitionForKey(likeKey(postId, userId), partitions);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ViewerLike>((resolve) => {
      timer = setTimeout(() => resolve({ liked: null, reason: 'timeout', partition }), this.timeoutMs);
    });
    try {
      return await Promise.race([this.ask({ partition, postId, userId }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.http.close();
  }

  private async ask(query: ViewerQuery): Promise<ViewerLike> {
    const { partition } = query;
    let owner: { url: string } | undefined;
    try {
      owner = await this.options.lookupOwner(partition);
    } catch (err) {
      this.options.logger?.warn({ err, partition }, 'viewer like: owner lookup failed');
      return { liked: null, reason: 'error', partition };
    }
    if (!owner) return { liked: null, reason: 'no-owner', partition };
    let answer: OwnerAnswer;
    try {
      answer = await this.batcher.ask(owner.url.replace(/\/+$/, ''), query);
    } catch (err) {
      answer = this.failed(err, owner.url);
    }
    if (answer.liked === null) {
      if (answer.reason === 'rebalancing') this.options.onStaleOwner?.(partition);
      return { liked: null, reason: answer.reason, partition };
    }
    return { liked: answer.liked, partition, asOfOffset: answer.asOfOffset };
  }

  /**
   * One request to one owner for a batch of questions (bounded by timeoutMs). The deadline is a
   * timer cleared when the answer is in: AbortSignal.timeout's timer would fire after every batch
   * and build an abort error for a request long finished (about 2 % of the api's CPU under viewer load).
   */
  private async send(url: string, queries: readonly ViewerQuery[]): Promise<OwnerAnswer[]> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
    try {
      return await this.sendUntil(url, queries, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async sendUntil(url: string, queries: readonly ViewerQuery[], signal: AbortSignal): Promise<OwnerAnswer[]> {
    if (queries.length === 1 || (this.noBatch.get(url) ?? 0) > Date.now()) {
      return Promise.all(queries.map((q) => this.one(url, q, signal).catch((err: unknown) => this.failed(err, url))));
    }
    const res = await this.http.send(`${url}${VIEWER_BATCH_PATH}`, { method: 'POST', body: { queries }, signal });
    if (res.status === 404) {
      this.noBatch.set(url, Date.now() + 60_000);
      this.options.logger?.info({ url }, 'viewer like: the owner has no batch endpoint; asking one question at a time');
      return this.sendUntil(url, queries, signal);
    }
    if (res.status !== 200) return queries.map(() => this.byStatus(res.status));
    const answers = (res.body as { answers?: unknown } | undefined)?.answers;
    if (!Array.isArray(answers) || answers.length !== queries.length) {
      this.options.logger?.warn({ url, queries: queries.length }, 'viewer like: the owner answered the batch with something else');
      return queries.map(() => ({ liked: null, reason: 'error' }));
    }
    return queries.map((q, i) => this.check(q, answers[i], url));
  }

  private async one(url: string, q: ViewerQuery, signal: AbortSignal): Promise<OwnerAnswer> {
    const path =
      `${url}/internal/partitions/${q.partition}/likes/` +
      `${encodeURIComponent(q.postId)}/${encodeURIComponent(q.userId)}`;
    const res = await this.http.send(path, { method: 'GET', signal });
    return res.status === 200 ? this.check(q, { ...(res.body as object), status: 200 }, url) : this.byStatus(res.status);
  }

  /** One answer, checked against its question (an answer to something else is an error, never used). */
  private check(q: ViewerQuery, raw: unknown, url: string): OwnerAnswer {
    const body = (raw ?? {}) as Record<string, unknown>;
    const status = typeof body.status === 'number' ? body.status : 200;
    if (status !== 200) return this.byStatus(status);
    if (typeof body.liked !== 'boolean' || body.partition !== q.partition || body.postId !== q.postId || body.userId !== q.userId) {
      this.options.logger?.warn({ url, body }, 'viewer like: owner answered something else');
      return { liked: null, reason: 'error' };
    }
    return { liked: body.liked, asOfOffset: typeof body.asOfOffset === 'number' ? body.asOfOffset : -1 };
  }

  private byStatus(status: number): OwnerAnswer {
    return { liked: null, reason: NOT_OWNER.has(status) ? 'rebalancing' : 'error' };
  }

  private failed(err: unknown, url: string): OwnerAnswer {
    const code = err instanceof HttpJsonError ? err.code : undefined;
    if (code === 'ABORT_ERR') return { liked: null, reason: 'timeout' };
    // nobody listens at the advertised address: the owner died and the group has not moved on yet
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET') return { liked: null, reason: 'rebalancing' };
    this.options.logger?.warn({ err, url }, 'viewer like: query failed');
    return { liked: null, reason: 'error' };
  }
}
