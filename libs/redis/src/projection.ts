import type { ChainableCommander, Redis } from 'ioredis';
import { buildingPointerKey, generationPointerKey, likesKeyBase, LUA_GENERATION_KEY } from './generations';
import { countChannel, readySentinelKey } from './keys';
import { defineProgressCommands, parseProgressOutcome, queueProgressStep, type ProgressOutcome, type ProgressStep } from './progress';

/** One CountChanged as the projection needs it (structurally the same as @doubletap/events CountChanged). */
export interface CountChange {
  postId: string;
  partition: number;
  /** absolute partial count of the post in that likes.events partition */
  count: number;
  /** last likes.events offset that partial count includes */
  sourceOffset: number;
}

/** A post whose total changed in a batch: the value that was also PUBLISHed on its channel. */
export interface ChangedPost {
  postId: string;
  count: number;
  /** epoch ms of the change; strictly increasing per post (a version as well as a time) */
  asOf: number;
}

export interface ApplyResult {
  /** posts whose total changed, one entry per post */
  changed: ChangedPost[];
  /** records that were newer than the stored offset of their (post, partition) and were applied */
  applied: number;
  /** records that changed nothing: older or repeated offsets (including in-batch duplicates) */
  stale: number;
  /** the outcome of the batch's progress step, when one was given (progress.ts) */
  progress?: ProgressOutcome;
}

/**
 * Guarded apply for ONE post, atomic. KEYS[1] = generation pointer, KEYS[2] = pointer of the
 * generation being built (see generations.ts), KEYS[3] = the read side's completeness sentinel
 * (progress.ts); the post's hash key is resolved INSIDE the script,
 * so an apply can never straddle a generation switch. For each (partition, count, offset) triple,
 * apply only when offset > stored `o:<p>` (missing = -1); total += count - old `c:<p>`. When
 * anything changed: `at` = max(now, previous at + 1) (strictly increasing per post, so a reader can
 * order values by it), and the new total is PUBLISHed on the post's channel inside the same script,
 * so "applied" and "announced" cannot diverge — but only while the sentinel exists: during a heal
 * the totals are partial, and live viewers must not see them any more than readers do (they are
 * refreshed when the sentinel comes back, see LiveCounts).
 *
 * ARGV: now, channel, postId, key base (`<prefix>likes:`), target, then triples.
 * target '' (the live projector): apply to the current generation and publish; while a rebuild is
 * building another generation, apply to that one too (dual write, no publish), so the new
 * generation never knows less than the served one. target '<g>' (a rebuild): apply to generation g
 * only, never publish, and let a record with the SAME offset replace the stored one (later in the
 * log wins: a state rebuild re-publishes a partition's counts at offsets already seen).
 * Returns {applied, total, at} of the generation written (the current one for target '').
 */
export const APPLY_COUNTS_LUA = `${LUA_GENERATION_KEY}
local function apply(key, orEqual)
  local applied = 0
  local total = tonumber(redis.call('HGET', key, 'total') or '0')
  for i = 6, #ARGV, 3 do
    local p = ARGV[i]
    local offset = tonumber(ARGV[i + 2])
    local stored = redis.call('HMGET', key, 'o:' .. p, 'c:' .. p)
    local was = tonumber(stored[1] or '-1')
    if offset > was or (orEqual and offset == was) then
      total = total + tonumber(ARGV[i + 1]) - tonumber(stored[2] or '0')
      redis.call('HSET', key, 'c:' .. p, ARGV[i + 1], 'o:' .. p, ARGV[i + 2])
      applied = applied + 1
    end
  end
  return applied, total
end
local function stamp(key, floorKey, total)
  local prev = tonumber(redis.call('HGET', key, 'at') or '0')
  if floorKey then
    local floor = tonumber(redis.call('HGET', floorKey, 'at') or '0')
    if floor > prev then prev = floor end
  end
  local at = tonumber(ARGV[1])
  if at <= prev then at = prev + 1 end
  local totalText = string.format('%d', total)
  local atText = string.format('%d', at)
  redis.call('HSET', key, 'total', totalText, 'at', atText)
  return totalText, atText
end
local base, postId = ARGV[4], ARGV[3]
local current = redis.call('GET', KEYS[1])
local key = genKey(base, current, postId)
if ARGV[5] ~= '' then
  local target = genKey(base, ARGV[5], postId)
  local applied, total = apply(target, true)
  if applied == 0 then return {0, string.format('%d', total), redis.call('HGET', target, 'at') or '0'} end
  local floorKey = nil
  if target ~= key then floorKey = key end
  local totalText, atText = stamp(target, floorKey, total)
  return {applied, totalText, atText}
end
local applied, total = apply(key, false)
local building = redis.call('GET', KEYS[2])
local nextKey = nil
if building and genKey(base, building, postId) ~= key then
  nextKey = genKey(base, building, postId)
end
if applied == 0 then
  if nextKey then
    local a2, t2 = apply(nextKey, false)
    if a2 > 0 then stamp(nextKey, key, t2) end
  end
  return {0, string.format('%d', total), redis.call('HGET', key, 'at') or '0'}
end
local totalText, atText = stamp(key, nil, total)
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PUBLISH', ARGV[2], '{"postId":' .. cjson.encode(postId) .. ',"count":' .. totalText .. ',"asOf":' .. atText .. '}') end
if nextKey then
  local a2, t2 = apply(nextKey, false)
  if a2 > 0 then stamp(nextKey, key, t2) end
end
return {applied, totalText, atText}
`;

const COMMAND = 'dtApplyLikeCounts';
type ApplyReply = [number, string, string];
interface WithApply {
  [COMMAND](pointer: string, building: string, ready: string, ...args: string[]): Promise<ApplyReply>;
}

/** ioredis sends EVALSHA and falls back to EVAL per connection, so a restarted Redis needs nothing. */
function defineApply(client: Redis): void {
  if (typeof (client as unknown as Partial<WithApply>)[COMMAND] !== 'function') {
    client.defineCommand(COMMAND, { numberOfKeys: 3, lua: APPLY_COUNTS_LUA });
  }
}

/**
 * The record to send per (post, partition): the one with the highest source offset — the rest of
 * the batch would be stale anyway. Of records with EQUAL offsets, `laterWinsTies` (target mode, a
 * rebuild: ADR 0005, the later record in the log is the authoritative one) keeps the last; the live
 * mode keeps the first, as its strict guard would if the records came one by one.
 */
export function newestPerPartition(
  changes: readonly CountChange[],
  laterWinsTies = false,
): Map<string, Map<number, CountChange>> {
  const byPost = new Map<string, Map<number, CountChange>>();
  for (const c of changes) {
    let parts = byPost.get(c.postId);
    if (!parts) byPost.set(c.postId, (parts = new Map<number, CountChange>()));
    const seen = parts.get(c.partition);
    if (!seen || c.sourceOffset > seen.sourceOffset || (laterWinsTies && c.sourceOffset === seen.sourceOffset)) {
      parts.set(c.partition, c);
    }
  }
  return byPost;
}

/**
 * One pipeline of per-post script calls; `target` '' = live (follow the pointers), else a generation.
 * A progress step, when given, is queued after the applies on the same connection (so Redis runs it
 * after them: progress never runs ahead of the data it describes).
 */
async function applyCounts(
  client: Redis,
  prefix: string,
  changes: readonly CountChange[],
  now: number,
  target: string,
  step?: ProgressStep,
): Promise<ApplyResult> {
  const byPost = newestPerPartition(changes, target !== '');
  if (byPost.size === 0 && !step) return { changed: [], applied: 0, stale: changes.length };
  const pipeline = client.pipeline() as ChainableCommander & WithApply;
  const posts = [...byPost.keys()];
  const pointer = generationPointerKey(prefix);
  const building = buildingPointerKey(prefix);
  const ready = readySentinelKey(prefix);
  const base = likesKeyBase(prefix);
  for (const postId of posts) {
    const args: string[] = [String(now), countChannel(prefix, postId), postId, base, target];
    for (const c of byPost.get(postId)!.values()) {
      args.push(String(c.partition), String(c.count), String(c.sourceOffset));
    }
    void pipeline[COMMAND](pointer, building, ready, ...args);
  }
  if (step) queueProgressStep(pipeline, prefix, step);
  const replies = await pipeline.exec();
  if (!replies) throw new Error('redis pipeline was discarded');

  const changed: ChangedPost[] = [];
  let applied = 0;
  replies.slice(0, posts.length).forEach(([err, reply], i) => {
    if (err) throw err;
    const [n, total, at] = reply as ApplyReply;
    if (Number(n) > 0) {
      applied += Number(n);
      changed.push({ postId: posts[i], count: Number(total), asOf: Number(at) });
    }
  });
  const result: ApplyResult = { changed, applied, stale: changes.length - applied };
  if (step) {
    const [err, reply] = replies[posts.length];
    if (err) throw err;
    result.progress = parseProgressOutcome(reply as (string | null)[]);
  }
  return result;
}

/**
 * Applies batches of CountChanged records to the Redis read model: one guarded script call per
 * changed post, all of a batch in ONE pipeline (one round trip). Each script resolves the read-side
 * generation itself (generations.ts), so it needs a non-cluster Redis. Idempotent: replaying any record, or any older record after a
 * newer one, changes nothing. Throws if Redis fails; the caller retries the whole batch (safe).
 */
export class LikesProjection {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    defineApply(client);
    defineProgressCommands(client);
  }

  /**
   * Applies a batch; with `step` (the projector, ADR 0008) also moves the partition's progress by
   * compare-and-set, after the data: see `ApplyResult.progress` for what Redis held.
   */
  async applyBatch(changes: readonly CountChange[], step?: ProgressStep): Promise<ApplyResult> {
    return applyCounts(this.client, this.prefix, changes, this.now(), '', step);
  }
}

/**
 * Applies CountChanged records to ONE explicit generation (a read-side rebuild building it): no
 * PUBLISH (viewers must not see a generation that is not served), and a record with the same source
 * offset as the stored one replaces it (the later record in the log wins). `changed` lists the
 * post totals of that generation.
 */
export class GenerationWriter {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    readonly generation: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isSafeInteger(generation) || generation < 0) throw new Error(`generation ${generation} is not a generation number`);
    defineApply(client);
  }

  async applyBatch(changes: readonly CountChange[]): Promise<ApplyResult> {
    return applyCounts(this.client, this.prefix, changes, this.now(), String(this.generation));
  }
}
