import type { ChainableCommander, Cluster } from 'ioredis';
import { execPerMaster, isCluster, type Redis } from './client';
import { buildingPointerKey, generationKey, generationPointerKey, likesKeyBase, LUA_GENERATION_KEY } from './generations';
import { countChannel, readySentinelKey } from './keys';
import {
  markerForKey,
  markersByMaster,
  mastersRecordKey,
  parseMarkerRecord,
  tripMasterLoss,
} from './masters';
import {
  defineProgressCommands,
  parseProgressOutcome,
  queueProgressStep,
  runCheckedProgressStep,
  type ProgressOutcome,
  type ProgressStep,
  type UsedGenerations,
} from './progress';

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
const LUA_APPLY_FUNCTIONS = `
local function apply(key, orEqual)
  local applied = 0
  local total = tonumber(redis.call('HGET', key, 'total') or '0')
  for i = FIRST_TRIPLE, #ARGV, 3 do
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
`;

/**
 * What both apply scripts do once their prelude has set `key` (the hash written: the served
 * generation's, or the target's in target mode), `other` (live: the building generation's hash, if
 * any; target: the served one, whose `at` is the floor; nil when the same as key) and `mayPublish()`.
 */
const LUA_APPLY_BODY = `
if ARGV[5] ~= '' then
  local applied, total = apply(key, true)
  if applied == 0 then return {0, string.format('%d', total), redis.call('HGET', key, 'at') or '0'} end
  local totalText, atText = stamp(key, other, total)
  return {applied, totalText, atText}
end
local applied, total = apply(key, false)
if applied == 0 then
  if other then
    local a2, t2 = apply(other, false)
    if a2 > 0 then stamp(other, key, t2) end
  end
  return {0, string.format('%d', total), redis.call('HGET', key, 'at') or '0'}
end
local totalText, atText = stamp(key, nil, total)
if mayPublish() then redis.call('PUBLISH', ARGV[2], '{"postId":' .. cjson.encode(ARGV[3]) .. ',"count":' .. totalText .. ',"asOf":' .. atText .. '}') end
if other then
  local a2, t2 = apply(other, false)
  if a2 > 0 then stamp(other, key, t2) end
end
return {applied, totalText, atText}
`;

/**
 * Guarded apply for ONE post, atomic, on ONE Redis. KEYS[1] = generation pointer, KEYS[2] = pointer
 * of the generation being built (see generations.ts), KEYS[3] = the read side's completeness
 * sentinel (progress.ts); the post's hash key is resolved INSIDE the script,
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
export const APPLY_COUNTS_LUA = `local FIRST_TRIPLE = 6
${LUA_GENERATION_KEY}${LUA_APPLY_FUNCTIONS}
local base, postId = ARGV[4], ARGV[3]
local served = genKey(base, redis.call('GET', KEYS[1]), postId)
local key, other = served, nil
if ARGV[5] ~= '' then
  key = genKey(base, ARGV[5], postId)
  if key ~= served then other = served end
else
  local building = redis.call('GET', KEYS[2])
  if building and genKey(base, building, postId) ~= key then other = genKey(base, building, postId) end
end
local function mayPublish() return redis.call('EXISTS', KEYS[3]) == 1 end
${LUA_APPLY_BODY}`;

/**
 * The same apply on a Redis Cluster (ADR 0017): every key is one post's (one slot, `{<postId>}`),
 * the client resolved the generations. KEYS[1] = the hash written (served generation, or the target),
 * KEYS[2] = `other` above (= KEYS[1] when there is none). ARGV as APPLY_COUNTS_LUA, except ARGV[4] =
 * '1' when the sentinel existed when the client read the pointers (then a change is PUBLISHed), and
 * ARGV[6] = the marker of the post's master (ADR 0025; '' = none), the triples from ARGV[7]: when
 * the marker is gone that master lost its data, and nothing is written or announced ({-1}: the
 * projection trips the heal). The marker is another slot of the same master, hence the flag
 * (Redis >= 7: `allow-cross-slot-keys` lets a script read a local key of another slot).
 */
export const APPLY_POST_LUA = `#!lua flags=allow-cross-slot-keys
local FIRST_TRIPLE = 7
if ARGV[6] ~= '' and redis.call('EXISTS', ARGV[6]) == 0 then return {-1, '', ''} end
${LUA_APPLY_FUNCTIONS}
local key, other = KEYS[1], nil
if KEYS[2] ~= KEYS[1] then other = KEYS[2] end
local function mayPublish() return ARGV[4] == '1' end
${LUA_APPLY_BODY}`;

const COMMAND = 'dtApplyLikeCounts';
const POST_COMMAND = 'dtApplyPostCounts';
type ApplyReply = [number, string, string];
interface WithApply {
  [COMMAND](pointer: string, building: string, ready: string, ...args: string[]): Promise<ApplyReply>;
  [POST_COMMAND](key: string, other: string, ...args: string[]): Promise<ApplyReply>;
}

/** ioredis sends EVALSHA and falls back to EVAL per connection, so a restarted Redis needs nothing. */
function defineApply(client: Redis): void {
  if (typeof (client as unknown as Partial<WithApply>)[COMMAND] !== 'function') {
    client.defineCommand(COMMAND, { numberOfKeys: 3, lua: APPLY_COUNTS_LUA });
    client.defineCommand(POST_COMMAND, { numberOfKeys: 2, lua: APPLY_POST_LUA });
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
  onMasterLost?: () => void,
): Promise<ApplyResult> {
  if (isCluster(client)) return applyCountsCluster(client, prefix, changes, now, target, step, onMasterLost);
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

/** The records of one post as the apply scripts take them (ARGV from 6 on). */
function triples(parts: Map<number, CountChange>): string[] {
  const args: string[] = [];
  for (const c of parts.values()) args.push(String(c.partition), String(c.count), String(c.sourceOffset));
  return args;
}

/** Attempts of a batch whose generation pointers moved while it ran (a switch or an announcement). */
const MAX_GENERATION_RETRIES = 5;

/**
 * applyCounts on a Redis Cluster (ADR 0017). The pointers and the sentinel (one slot) are read
 * first; then one APPLY_POST_LUA per post, in one pipeline per master; then, after those have
 * answered (so progress never runs ahead of its data), the progress step — which writes only if
 * the pointers still hold what the applies used — or, without a step, a second read of the
 * pointers. When they moved, the whole batch runs again (the guarded apply makes that harmless):
 * the re-check is what the single-Redis script gets from resolving the pointers inside Redis.
 */
async function applyCountsCluster(
  client: Cluster,
  prefix: string,
  changes: readonly CountChange[],
  now: number,
  target: string,
  step?: ProgressStep,
  onMasterLost?: () => void,
): Promise<ApplyResult> {
  const byPost = newestPerPartition(changes, target !== '');
  if (byPost.size === 0 && !step) return { changed: [], applied: 0, stale: changes.length };
  const posts = [...byPost.keys()];
  const pointers = [
    generationPointerKey(prefix),
    buildingPointerKey(prefix),
    readySentinelKey(prefix),
    mastersRecordKey(prefix),
  ];
  const changed = new Map<string, ChangedPost>();
  let applied: number | undefined;
  for (let attempt = 1; ; attempt++) {
    const [current, building, ready, masters] = await client.mget(...pointers);
    // the live projector writes nothing to a master that lost its data (ADR 0025); a rebuild checks nothing
    const record = target === '' ? parseMarkerRecord(masters) : undefined;
    const byMaster = record && markersByMaster(record.markers, client.slots);
    const used: UsedGenerations = { current: current ?? '0', building: building ?? '' };
    const served = Number(used.current);
    const calls = posts.map((postId) => {
      let key = generationKey(prefix, served, postId);
      let other = key;
      if (target !== '') {
        key = generationKey(prefix, Number(target), postId);
      } else if (used.building !== '') {
        other = generationKey(prefix, Number(used.building), postId);
      }
      const marker = markerForKey(client, byMaster, key);
      const args = [
        String(now),
        countChannel(prefix, postId),
        postId,
        ready !== null ? '1' : '0',
        target,
        marker,
        ...triples(byPost.get(postId)!),
      ];
      return { key, other, args };
    });
    const replies = await execPerMaster(
      client,
      calls,
      (c) => c.key,
      (pipeline, c) => void (pipeline as unknown as WithApply)[POST_COMMAND](c.key, c.other, ...c.args),
    );
    let n = 0;
    let lost = false;
    replies.forEach(([err, reply], i) => {
      if (err) throw err;
      const [count, total, at] = reply as ApplyReply;
      if (Number(count) < 0) lost = true;
      else if (Number(count) > 0) {
        n += Number(count);
        changed.set(posts[i], { postId: posts[i], count: Number(total), asOf: Number(at) });
      }
    });
    if (lost) {
      // a master lost its data: the read side heals as after a full loss (the progress goes, so the
      // step of the next attempt answers 'moved' and the partition heals); then the batch again
      if (masters !== null && (await tripMasterLoss(client, prefix, masters))) onMasterLost?.();
      if (attempt >= MAX_GENERATION_RETRIES)
        throw new Error(`a Redis Cluster master lost its data during ${attempt} attempts of a batch`);
      continue;
    }
    applied ??= n; // a retry finds the records applied by the first attempt
    const result = (): ApplyResult => ({ changed: [...changed.values()], applied: applied!, stale: changes.length - applied! });
    if (target !== '') return result(); // a rebuild writes its own generation: the pointers only gave the `at` floor
    let outcome: ProgressOutcome | 'regen' | undefined;
    if (step) {
      outcome = await runCheckedProgressStep(client, prefix, step, used);
    } else {
      const [c2, b2] = await client.mget(pointers[0], pointers[1]);
      if ((c2 ?? '0') !== used.current || (b2 ?? '') !== used.building) outcome = 'regen';
    }
    if (outcome !== 'regen') return { ...result(), ...(outcome ? { progress: outcome } : {}) };
    if (attempt >= MAX_GENERATION_RETRIES) throw new Error(`read-side generation pointers moved during ${attempt} attempts of a batch`);
  }
}

/**
 * Applies batches of CountChanged records to the Redis read model: one guarded script call per
 * changed post, all of a batch in ONE pipeline (one round trip). Each script resolves the read-side
 * generation itself (generations.ts); on a Redis Cluster the client does, and re-checks (ADR 0017:
 * a pipeline per master, then the progress step). Idempotent: replaying any record, or any older record after a
 * newer one, changes nothing. Throws if Redis fails; the caller retries the whole batch (safe).
 */
export class LikesProjection {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
    /** Redis Cluster (ADR 0025): a batch found a master that lost its data and removed the progress for it */
    private readonly onMasterLost?: () => void,
  ) {
    defineApply(client);
    defineProgressCommands(client);
  }

  /**
   * Applies a batch; with `step` (the projector, ADR 0008) also moves the partition's progress by
   * compare-and-set, after the data: see `ApplyResult.progress` for what Redis held.
   */
  async applyBatch(changes: readonly CountChange[], step?: ProgressStep): Promise<ApplyResult> {
    return applyCounts(this.client, this.prefix, changes, this.now(), '', step, this.onMasterLost);
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
