import { isValidId, likeKey } from '@doubletap/events';
import { buildJsonPost, buildRequest, type NoAnswer, PipelinedClient } from '@doubletap/http-pipeline';
import { partitionForKey } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { Batcher } from './batcher';

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

/** An HTTP answer (status and body text), or why there was none. */
type Reply = { status: number; body: string } | { error: NoAnswer };

/** Where one request's answer goes (the pipelined client's per-request context: no closure kept). */
type Answered = (status: number, body: string, error: NoAnswer | undefined) => void;

/** The pipelined connections to one aggregator and the Host header its requests carry. */
interface Pipe {
  client: PipelinedClient<Answered>;
  host: string;
}

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
 * endpoint), on `maxInFlight` keep-alive connections per aggregator with pre-built requests and
 * answers parsed in place (PipelinedClient, ADR 0029: node:http's client cost the api about a
 * sixth of its CPU per viewer read). A request whose connection failed under it (an aggregator
 * closing an idle keep-alive connection as we wrote) is sent once more: the questions only read. An
 * aggregator without the batch endpoint (an older one during a rolling upgrade: 404 for the route)
 * is asked one question at a time.
 */
export class ViewerLikeClient {
  private readonly timeoutMs: number;
  /** one pipelined client per aggregator origin */
  private readonly pipes = new Map<string, Pipe>();
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

  /** Closes the connections to the aggregators (questions still out are answered `rebalancing`). */
  close(): void {
    for (const pipe of this.pipes.values()) pipe.client.close();
    this.pipes.clear();
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
      this.options.logger?.warn({ err, url: owner.url }, 'viewer like: query failed');
      answer = { liked: null, reason: 'error' };
    }
    if (answer.liked === null) {
      if (answer.reason === 'rebalancing') this.options.onStaleOwner?.(partition);
      return { liked: null, reason: answer.reason, partition };
    }
    return { liked: answer.liked, partition, asOfOffset: answer.asOfOffset };
  }

  /** One request to one owner for a batch of questions (each request bounded by timeoutMs). */
  private async send(url: string, queries: readonly ViewerQuery[]): Promise<OwnerAnswer[]> {
    if (queries.length === 1 || (this.noBatch.get(url) ?? 0) > Date.now()) {
      return Promise.all(queries.map((q) => this.one(url, q)));
    }
    const json = JSON.stringify({ queries });
    const res = await this.request(url, (host) => buildJsonPost(VIEWER_BATCH_PATH, host, json));
    if ('error' in res) return queries.map(() => this.failed(res.error));
    if (res.status === 404) {
      this.noBatch.set(url, Date.now() + 60_000);
      this.options.logger?.info({ url }, 'viewer like: the owner has no batch endpoint; asking one question at a time');
      return this.send(url, queries);
    }
    if (res.status !== 200) return queries.map(() => this.byStatus(res.status));
    const answers = (parse(res.body) as { answers?: unknown } | undefined)?.answers;
    if (!Array.isArray(answers) || answers.length !== queries.length) {
      this.options.logger?.warn({ url, queries: queries.length }, 'viewer like: the owner answered the batch with something else');
      return queries.map(() => ({ liked: null, reason: 'error' }));
    }
    return queries.map((q, i) => this.check(q, answers[i], url));
  }

  private async one(url: string, q: ViewerQuery): Promise<OwnerAnswer> {
    const path =
      `/internal/partitions/${q.partition}/likes/` +
      `${encodeURIComponent(q.postId)}/${encodeURIComponent(q.userId)}`;
    const res = await this.request(url, (host) => buildRequest('GET', path, host, { accept: 'application/json' }));
    if ('error' in res) return this.failed(res.error);
    if (res.status !== 200) return this.byStatus(res.status);
    const body = parse(res.body);
    return this.check(q, typeof body === 'object' && body !== null ? { ...body, status: 200 } : undefined, url);
  }

  /**
   * Sends a request to the owner at `url`; once more when its connection failed under it. Failed
   * twice: its connections are closed and forgotten (owners come and go with their addresses).
   */
  private async request(url: string, build: (host: string) => string): Promise<Reply> {
    const pipe = this.pipe(url);
    const text = build(pipe.host);
    const first = await exchange(pipe.client, text);
    if (!('error' in first) || first.error !== 'network') return first;
    const second = await exchange(pipe.client, text);
    if ('error' in second && second.error === 'network' && this.pipes.get(url) === pipe) {
      this.pipes.delete(url);
      pipe.client.close();
    }
    return second;
  }

  private pipe(url: string): Pipe {
    let pipe = this.pipes.get(url);
    if (!pipe) {
      const base = new URL(url);
      // the aggregators' internal server speaks plain HTTP (apps/aggregator/src/http/server.ts)
      if (base.protocol !== 'http:') throw new Error(`an aggregator's address must be http: (got ${url})`);
      const client = new PipelinedClient<Answered>(base, this.options.maxInFlight ?? 4, this.timeoutMs, (answered, status, body, error) =>
        answered(status, body, error),
      );
      this.pipes.set(url, (pipe = { client, host: base.host }));
    }
    return pipe;
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

  /**
   * No HTTP answer: its deadline passed (timeout), or nobody listens at the advertised address or the
   * connection broke twice (the owner died and the group has not moved on yet: rebalancing).
   */
  private failed(error: NoAnswer): OwnerAnswer {
    return { liked: null, reason: error === 'timeout' ? 'timeout' : 'rebalancing' };
  }
}

/** One request on a pipelined client, as a promise of its answer (one promise per request, not per question). */
function exchange(client: PipelinedClient<Answered>, text: string): Promise<Reply> {
  return new Promise((resolve) =>
    client.send(text, (status, body, error) => resolve(error ? { error } : { status, body })),
  );
}

/** A 200's JSON body, or undefined when it is not JSON (checked by the caller as a wrong answer). */
function parse(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}
