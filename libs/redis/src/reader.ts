import type { Redis } from 'ioredis';
import { isValidId } from '@doubletap/events';
import { generationPointerKey, likesKeyBase, LUA_GENERATION_KEY } from './generations';

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

/**
 * KEYS[1] = generation pointer; ARGV = key base, postIds. Resolves the served generation and reads
 * every post's `total` and `at` in ONE atomic script, so a read never mixes two generations and
 * never sees one that is still being built. Returns total, at pairs (nil for an unknown post).
 */
export const READ_COUNTS_LUA = `${LUA_GENERATION_KEY}
local g = redis.call('GET', KEYS[1])
local out = {}
for i = 2, #ARGV do
  local v = redis.call('HMGET', genKey(ARGV[1], g, ARGV[i]), 'total', 'at')
  out[2 * i - 3] = v[1]
  out[2 * i - 2] = v[2]
end
return out
`;

const COMMAND = 'dtReadLikeCounts';
interface WithRead {
  [COMMAND](pointer: string, base: string, ...postIds: string[]): Promise<(string | null)[]>;
}

/**
 * O(1) count reads from the projection, through the generation pointer (one script call = one round
 * trip; ioredis sends EVAL the first time per connection, EVALSHA after). An unknown post has count 0.
 */
export class LikesReader {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
  ) {
    if (typeof (client as unknown as Partial<WithRead>)[COMMAND] !== 'function') {
      client.defineCommand(COMMAND, { numberOfKeys: 1, lua: READ_COUNTS_LUA });
    }
  }

  private read(postIds: readonly string[]): Promise<(string | null)[]> {
    return (this.client as unknown as WithRead)[COMMAND](generationPointerKey(this.prefix), likesKeyBase(this.prefix), ...postIds);
  }

  async getCount(postId: string): Promise<CountSnapshot> {
    checkId(postId);
    let reply: (string | null)[];
    try {
      reply = await this.read([postId]);
    } catch (e) {
      throw new ReadUnavailableError(e);
    }
    return snapshot(postId, reply[0] ?? null, reply[1] ?? null);
  }

  /**
   * Counts of up to MAX_POSTS_PER_READ posts in ONE round trip (one script call, one generation).
   * Duplicates are answered once; the order of first appearance is kept.
   */
  async getMany(postIds: readonly string[]): Promise<CountSnapshot[]> {
    const unique = [...new Set(postIds)];
    if (unique.length > MAX_POSTS_PER_READ)
      throw new ReadRequestError(`at most ${MAX_POSTS_PER_READ} posts per read (got ${unique.length})`);
    unique.forEach(checkId);
    if (unique.length === 0) return [];
    let reply: (string | null)[];
    try {
      reply = await this.read(unique);
    } catch (e) {
      throw new ReadUnavailableError(e);
    }
    return unique.map((postId, i) => snapshot(postId, reply[2 * i] ?? null, reply[2 * i + 1] ?? null));
  }
}
