import type { Redis } from './client';
import { scanEachMaster, unlinkKeys } from './key-admin';
import { likesKey, readSideMetaKey, readyChannel } from './keys';

/**
 * Read-side generations, for zero-downtime rebuilds of the Redis projection.
 *
 *   <prefix>likes:meta{~<prefix>}:gen        the generation readers and the live projector use ("0" when absent)
 *   <prefix>likes:meta{~<prefix>}:gen:next   the generation being built by a rebuild (absent otherwise)
 *   <prefix>likes:meta{~<prefix>}:rebuild    the rebuild's checkpoint: generation and next offset per partition
 *
 * The hash of a post in generation g is `<prefix>likes:{<postId>}` for g = 0 (the keys that existed
 * before generations, so nothing changes for an installation that never rebuilt) and
 * `<prefix>likes:g<g>:{<postId>}` for g > 0 (same hash tag: a post's hashes share one cluster slot).
 *
 * On one Redis, scripts resolve the pointers INSIDE Redis, so a switch can never interleave with a
 * read or an apply. On a Redis Cluster the pointers (one slot, the `{~<prefix>}` tag) and a post's
 * hashes (the `{<postId>}` tag) are on different masters: the client reads the pointers, works on
 * the post hashes, then reads the pointers again and retries when they moved (ADR 0017).
 */
export const generationPointerKey = (prefix: string): string => readSideMetaKey(prefix, 'gen');
export const buildingPointerKey = (prefix: string): string => readSideMetaKey(prefix, 'gen:next');
export const rebuildCheckpointKey = (prefix: string): string => readSideMetaKey(prefix, 'rebuild');
/** The common start of every post hash key; the scripts append the generation part and `{postId}`. */
export const likesKeyBase = (prefix: string): string => `${prefix}likes:`;

export function generationKey(prefix: string, generation: number, postId: string): string {
  return generation === 0 ? likesKey(prefix, postId) : `${prefix}likes:g${generation}:{${postId}}`;
}

/** Every key of a generation starts with this (used with SCAN MATCH, glob characters escaped). */
export function generationKeyStart(prefix: string, generation: number): string {
  return generation === 0 ? `${prefix}likes:{` : `${prefix}likes:g${generation}:{`;
}

/** Lua: the key of post ARGV-postId in generation g (false/nil/'0' = generation 0). */
export const LUA_GENERATION_KEY = `
local function genKey(base, g, postId)
  if g == nil or g == false or g == '0' then return base .. '{' .. postId .. '}' end
  return base .. 'g' .. g .. ':{' .. postId .. '}'
end
`;

/**
 * KEYS: pointer, next pointer. ARGV: expected current, new generation, announcement channel. Atomic
 * switch, announced in the same script (`generation:<g>`): nothing is published for the counts that
 * change with the switch, so whoever caches counts learns it here.
 */
const SWITCH_LUA = `
local cur = redis.call('GET', KEYS[1]) or '0'
if cur ~= ARGV[1] then return redis.error_reply('generation is ' .. cur .. ', expected ' .. ARGV[1]) end
local nxt = redis.call('GET', KEYS[2])
if nxt ~= ARGV[2] then return redis.error_reply('generation ' .. ARGV[2] .. ' is not the one being built (' .. tostring(nxt) .. ')') end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[3], 'generation:' .. ARGV[2])
return ARGV[2]
`;

const GLOB_SPECIAL = /[*?[\]\\]/g;

function parseGeneration(raw: string | null, what: string): number | undefined {
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} holds "${raw}", not a generation number`);
  return n;
}

export interface RebuildCheckpoint {
  generation: number;
  startedAt: number;
  /** next offset to read per likes.counts partition */
  offsets: Map<number, number>;
}

/** Pointer administration for rebuild tools. The projection and the reader only follow the pointers. */
export class ReadSideGenerations {
  constructor(
    private readonly client: Redis,
    readonly prefix: string,
  ) {}

  /** The generation served now (0 when no rebuild ever switched). */
  async current(): Promise<number> {
    return parseGeneration(await this.client.get(generationPointerKey(this.prefix)), generationPointerKey(this.prefix)) ?? 0;
  }

  /** The generation being built, if a rebuild is in progress (or was interrupted). */
  async building(): Promise<number | undefined> {
    return parseGeneration(await this.client.get(buildingPointerKey(this.prefix)), buildingPointerKey(this.prefix));
  }

  /**
   * Announces that `generation` is being built: from now on the live projector applies every record
   * to it as well (dual write), so it can never fall behind what the current generation has seen.
   * Fails if another build is announced.
   */
  async beginBuild(generation: number): Promise<void> {
    const ok = await this.client.set(buildingPointerKey(this.prefix), String(generation), 'NX');
    if (ok !== 'OK') throw new Error(`another read-side rebuild is in progress (generation ${await this.building()})`);
  }

  /** Atomically: current := generation, no build in progress. Fails if either pointer moved meanwhile. */
  async switchTo(expectedCurrent: number, generation: number): Promise<void> {
    await this.client.eval(
      SWITCH_LUA,
      2,
      generationPointerKey(this.prefix),
      buildingPointerKey(this.prefix),
      String(expectedCurrent),
      String(generation),
      readyChannel(this.prefix),
    );
  }

  /** Gives up a build: the projector stops writing to it (its keys are left to deleteGeneration). */
  async abandonBuild(generation: number): Promise<boolean> {
    const n = await this.client.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2]) end return 0",
      2,
      buildingPointerKey(this.prefix),
      rebuildCheckpointKey(this.prefix),
      String(generation),
    );
    return Number(n) > 0;
  }

  /** Counts the post hashes of a generation (SCAN, for dry runs and reports). */
  async countKeys(generation: number): Promise<number> {
    let n = 0;
    await this.scan(generation, async (keys) => {
      n += keys.length;
    });
    return n;
  }

  /** Deletes every post hash of a generation (SCAN + UNLINK in chunks); refuses the current one. */
  async deleteGeneration(generation: number): Promise<number> {
    if (generation === (await this.current())) throw new Error(`refusing to delete generation ${generation}: it is being served`);
    let deleted = 0;
    await this.scan(generation, async (keys) => {
      deleted += await unlinkKeys(this.client, keys);
    });
    return deleted;
  }

  private async scan(generation: number, each: (keys: string[]) => Promise<void>): Promise<void> {
    const match = `${generationKeyStart(this.prefix, generation).replace(GLOB_SPECIAL, (c) => `\\${c}`)}*`;
    await scanEachMaster(this.client, match, each);
  }

  async saveCheckpoint(checkpoint: RebuildCheckpoint): Promise<void> {
    const key = rebuildCheckpointKey(this.prefix);
    const fields: string[] = ['generation', String(checkpoint.generation), 'startedAt', String(checkpoint.startedAt)];
    for (const [p, o] of checkpoint.offsets) fields.push(`next:${p}`, String(o));
    await this.client.multi().del(key).hset(key, ...fields).exec();
  }

  async loadCheckpoint(): Promise<RebuildCheckpoint | undefined> {
    const raw = await this.client.hgetall(rebuildCheckpointKey(this.prefix));
    if (raw.generation === undefined) return undefined;
    const offsets = new Map<number, number>();
    for (const [k, v] of Object.entries(raw)) if (k.startsWith('next:')) offsets.set(Number(k.slice(5)), Number(v));
    return { generation: Number(raw.generation), startedAt: Number(raw.startedAt ?? 0), offsets };
  }

  async clearCheckpoint(): Promise<void> {
    await this.client.del(rebuildCheckpointKey(this.prefix));
  }
}
