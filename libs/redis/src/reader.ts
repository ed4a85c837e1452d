import type { Redis } from 'ioredis';
import { isValidId } from '@doubletap/events';
import { likesKey } from './keys';

/** The count of one post as the read side knows it. */
export interface CountSnapshot {
  postId: string;
  count: number;
  /** epoch ms of the last change; null for a post nobody has liked yet (count 0) */
  asOf: number | null;
}

/** Most posts getMany answers in one call (the api's `GET /v1/likes?posts=` limit). */
export const MAX_POSTS_PER_READ = 100;

/** Redis could not answer: the api maps this to 503 with Retry-After. */
export class ReadUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`read model unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ReadUnavailableError';
  }
}

/** A caller error (bad id, too many posts): the api maps this to 400. */
export class ReadRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReadRequestError';
  }
}

function snapshot(postId: string, total: string | null, at: string | null): CountSnapshot {
  if (total === null) return { postId, count: 0, asOf: null };
  return { postId, count: Number(total), asOf: at === null ? null : Number(at) };
}

function checkId(postId: string): void {
  if (!isValidId(postId)) throw new ReadRequestError(`postId ${JSON.stringify(postId)} does not match ^[A-Za-z0-9_-]{1,64}$`);
}

/** O(1) count reads from the projection. An unknown post has count 0. */
export class LikesReader {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
  ) {}

  async getCount(postId: string): Promise<CountSnapshot> {
    checkId(postId);
    let reply: (string | null)[];
    try {
      reply = await this.client.hmget(likesKey(this.prefix, postId), 'total', 'at');
    } catch (e) {
      throw new ReadUnavailableError(e);
    }
    return snapshot(postId, reply[0], reply[1]);
  }

  /**
   * Counts of up to MAX_POSTS_PER_READ posts in ONE round trip (one pipelined write, one read of the
   * replies). Duplicates are answered once; the order of first appearance is kept.
   */
  async getMany(postIds: readonly string[]): Promise<CountSnapshot[]> {
    const unique = [...new Set(postIds)];
    if (unique.length > MAX_POSTS_PER_READ)
      throw new ReadRequestError(`at most ${MAX_POSTS_PER_READ} posts per read (got ${unique.length})`);
    unique.forEach(checkId);
    if (unique.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const postId of unique) pipeline.hmget(likesKey(this.prefix, postId), 'total', 'at');
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (e) {
      throw new ReadUnavailableError(e);
    }
    if (!replies) throw new ReadUnavailableError(new Error('pipeline discarded'));
    return unique.map((postId, i) => {
      const [err, reply] = replies[i];
      if (err) throw new ReadUnavailableError(err);
      const [total, at] = reply as (string | null)[];
      return snapshot(postId, total, at);
    });
  }
}
