import type { Cluster } from 'ioredis';
import { isValidId } from '@doubletap/events';
import { execPerMasterGuarded, isCluster, type Redis } from './client';
import { generationKey, generationPointerKey, likesKeyBase, LUA_GENERATION_KEY } from './generations';
import { progressKey, readySentinelKey } from './keys';
import { markerForKey, markersByMaster, mastersRecordKey, parseMarkerRecord } from './masters';
import { healingReason, LUA_HEALING_STATUS, readSideStatus } from './progress';

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
  constructor(cause: unknown, message?: string) {
    super(message ?? `read model unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ReadUnavailableError';
  }
}

/**
 * The read side is not complete (Redis lost its data, or nothing was projected yet) and is being
 * healed from likes.counts (ADR 0008): any total now could be partial, so none is given. The api
 * maps this to 503 with Retry-After; it is a ReadUnavailableError, so callers that only know that
 * one treat it the same way.
 */
export class ReadSideHealingError extends ReadUnavailableError {
  constructor(
    /** partitions of likes.counts restored so far */
    readonly restored: number,
    /** P as recorded by the projector; null when no projector recorded it yet */
    readonly partitions: number | null,
    /** Redis Cluster master markers found missing (ADR 0025): those masters lost their data */
    readonly lostMarkers: readonly string[] = [],
  ) {
    super(undefined, healingReason({ restored, partitions, lostMarkers }));
    this.name = 'ReadSideHealingError';
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
 * KEYS[1] = generation pointer, KEYS[2] = the read side's sentinel, KEYS[3] = the projector's
 * progress hash; ARGV = key base, postIds. Checks the sentinel, resolves the served generation and
 * reads every post's `total` and `at` in ONE atomic script, so a read never mixes two generations,
 * never sees one that is still being built, and never answers from a read side that is healing.
 * Returns {'ok', total, at, total, at, ...} (nil for an unknown post), or {'healing', restored, P}.
 */
export const READ_COUNTS_LUA = `${LUA_GENERATION_KEY}${LUA_HEALING_STATUS}
if redis.call('EXISTS', KEYS[2]) == 0 then return healingStatus(KEYS[3]) end
local g = redis.call('GET', KEYS[1])
local out = {'ok'}
for i = 2, #ARGV do
  local v = redis.call('HMGET', genKey(ARGV[1], g, ARGV[i]), 'total', 'at')
  out[2 * i - 2] = v[1]
  out[2 * i - 1] = v[2]
end
return out
`;

const COMMAND = 'dtReadLikeCounts';
interface WithRead {
  [COMMAND](pointer: string, ready: string, progress: string, base: string, ...postIds: string[]): Promise<(string | number | null)[]>;
}

/**
 * O(1) count reads from the projection, through the generation pointer (one script call = one round
 * trip; ioredis sends EVAL the first time per connection, EVALSHA after; on a Redis Cluster three
 * round trips, see readCluster). An unknown post has count 0.
 * While the read side heals (its sentinel is absent) every read fails with ReadSideHealingError.
 */
export class LikesReader {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
  ) {
    if (typeof (client as unknown as Partial<WithRead>)[COMMAND] !== 'function') {
      client.defineCommand(COMMAND, { numberOfKeys: 3, lua: READ_COUNTS_LUA });
    }
  }

  /** total, at pairs of the posts; throws ReadUnavailableError (ReadSideHealingError while healing). */
  private async read(postIds: readonly string[]): Promise<(string | null)[]> {
    if (isCluster(this.client)) return this.readCluster(this.client, postIds);
    let reply: (string | number | null)[];
    try {
      reply = await (this.client as unknown as WithRead)[COMMAND](
        generationPointerKey(this.prefix),
        readySentinelKey(this.prefix),
        progressKey(this.prefix),
        likesKeyBase(this.prefix),
        ...postIds,
      );
    } catch (e) {
      throw new ReadUnavailableError(e);
    }
    if (reply[0] === 'healing') {
      const p = Number(reply[2]);
      throw new ReadSideHealingError(Number(reply[1]), p > 0 ? p : null);
    }
    return reply.slice(1) as (string | null)[];
  }

  /**
   * The same read on a Redis Cluster (ADR 0017), where the pointer and the sentinel (one slot) and
   * the post hashes (their own slots) cannot be in one script: read the pointer, the sentinel and
   * the master marker record, HMGET every post in one pipeline per master, then read the three
   * again. Equal and present both times: the served generation did not change meanwhile (and a
   * switch only deletes the old generation after it happened), so the answer is that generation's,
   * complete. Else again. Each master's pipeline ends with an EXISTS of that master's marker
   * (ADR 0025): a master that lost its data since it was marked fails the read with
   * ReadSideHealingError instead of answering from what it has left; a loss that was healed
   * meanwhile changed the record (a new token), so the read runs again.
   */
  private async readCluster(client: Cluster, postIds: readonly string[]): Promise<(string | null)[]> {
    const pointers = [
      generationPointerKey(this.prefix),
      readySentinelKey(this.prefix),
      mastersRecordKey(this.prefix),
    ];
    try {
      let before = await client.mget(...pointers);
      for (let attempt = 1; ; attempt++) {
        if (attempt > 5) throw new Error(`the served generation moved during ${attempt - 1} attempts of a read`);
        if (before[1] === null) {
          const status = await readSideStatus(client, this.prefix);
          if (!status.complete) throw new ReadSideHealingError(status.restored, status.partitions);
          before = await client.mget(...pointers);
          continue;
        }
        const generation = Number(before[0] ?? '0');
        const record = parseMarkerRecord(before[2]);
        const byMaster = record && markersByMaster(record.markers, client.slots);
        const { replies, missing } = await execPerMasterGuarded(
          client,
          postIds,
          (postId) => generationKey(this.prefix, generation, postId),
          (pipeline, postId) => void pipeline.hmget(generationKey(this.prefix, generation, postId), 'total', 'at'),
          (key) => markerForKey(client, byMaster, key),
        );
        const after = await client.mget(...pointers);
        if (missing.length > 0 && after[2] === before[2]) {
          const p = Number(after[1] ?? 0); // the sentinel holds P
          throw new ReadSideHealingError(0, p > 0 ? p : null, missing);
        }
        if (after[0] === before[0] && after[1] !== null && after[2] === before[2] && missing.length === 0) {
          return replies.flatMap(([err, reply]) => {
            if (err) throw err;
            return reply as (string | null)[];
          });
        }
        before = after;
      }
    } catch (e) {
      if (e instanceof ReadUnavailableError) throw e;
      throw new ReadUnavailableError(e);
    }
  }

  async getCount(postId: string): Promise<CountSnapshot> {
    checkId(postId);
    const reply = await this.read([postId]);
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
    const reply = await this.read(unique);
    return unique.map((postId, i) => snapshot(postId, reply[2 * i] ?? null, reply[2 * i + 1] ?? null));
  }
}
