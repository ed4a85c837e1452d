import type { ChainableCommander, Redis } from 'ioredis';
import { countChannel, likesKey } from './keys';

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
}

/**
 * Guarded apply for ONE post (KEYS[1] = its hash), atomic: for each (partition, count, offset)
 * triple, apply only when offset > stored `o:<p>` (missing = -1); total += count - old `c:<p>`.
 * When anything changed: `at` = max(now, previous at + 1) (strictly increasing per post, so a
 * reader can order values by it), and the new total is PUBLISHed on the post's channel inside the
 * same script, so "applied" and "announced" cannot diverge.
 * ARGV: now, channel, postId, then triples. Returns {applied, total, at} as strings.
 */
export const APPLY_COUNTS_LUA = `
local key = KEYS[1]
local applied = 0
local total = tonumber(redis.call('HGET', key, 'total') or '0')
for i = 4, #ARGV, 3 do
  local p = ARGV[i]
  local offset = tonumber(ARGV[i + 2])
  local stored = redis.call('HMGET', key, 'o:' .. p, 'c:' .. p)
  if offset > tonumber(stored[1] or '-1') then
    total = total + tonumber(ARGV[i + 1]) - tonumber(stored[2] or '0')
    redis.call('HSET', key, 'c:' .. p, ARGV[i + 1], 'o:' .. p, ARGV[i + 2])
    applied = applied + 1
  end
end
local prev = redis.call('HGET', key, 'at') or '0'
if applied == 0 then
  return {0, string.format('%d', total), prev}
end
local at = tonumber(ARGV[1])
if at <= tonumber(prev) then at = tonumber(prev) + 1 end
local totalText = string.format('%d', total)
local atText = string.format('%d', at)
redis.call('HSET', key, 'total', totalText, 'at', atText)
redis.call('PUBLISH', ARGV[2], '{"postId":' .. cjson.encode(ARGV[3]) .. ',"count":' .. totalText .. ',"asOf":' .. atText .. '}')
return {applied, totalText, atText}
`;

const COMMAND = 'dtApplyLikeCounts';
type ApplyReply = [number, string, string];
interface WithApply {
  [COMMAND](key: string, ...args: string[]): Promise<ApplyReply>;
}

/** ioredis sends EVALSHA and falls back to EVAL per connection, so a restarted Redis needs nothing. */
function defineApply(client: Redis): void {
  if (typeof (client as unknown as Partial<WithApply>)[COMMAND] !== 'function') {
    client.defineCommand(COMMAND, { numberOfKeys: 1, lua: APPLY_COUNTS_LUA });
  }
}

/**
 * Applies batches of CountChanged records to the Redis read model: one guarded script call per
 * changed post, all of a batch in ONE pipeline (one round trip; cluster-safe because every script
 * touches only its post's hash). Idempotent: replaying any record, or any older record after a
 * newer one, changes nothing. Throws if Redis fails; the caller retries the whole batch (safe).
 */
export class LikesProjection {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    defineApply(client);
  }

  async applyBatch(changes: readonly CountChange[]): Promise<ApplyResult> {
    // newest record per (post, partition) only: the rest of the batch would be stale anyway
    const byPost = new Map<string, Map<number, CountChange>>();
    for (const c of changes) {
      let parts = byPost.get(c.postId);
      if (!parts) byPost.set(c.postId, (parts = new Map<number, CountChange>()));
      const seen = parts.get(c.partition);
      if (!seen || c.sourceOffset > seen.sourceOffset) parts.set(c.partition, c);
    }
    if (byPost.size === 0) return { changed: [], applied: 0, stale: changes.length };

    const now = String(this.now());
    const pipeline = this.client.pipeline() as ChainableCommander & WithApply;
    const posts = [...byPost.keys()];
    for (const postId of posts) {
      const args: string[] = [now, countChannel(this.prefix, postId), postId];
      for (const c of byPost.get(postId)!.values()) {
        args.push(String(c.partition), String(c.count), String(c.sourceOffset));
      }
      void pipeline[COMMAND](likesKey(this.prefix, postId), ...args);
    }
    const replies = await pipeline.exec();
    if (!replies) throw new Error('redis pipeline was discarded');

    const changed: ChangedPost[] = [];
    let applied = 0;
    replies.forEach(([err, reply], i) => {
      if (err) throw err;
      const [n, total, at] = reply as ApplyReply;
      if (Number(n) > 0) {
        applied += Number(n);
        changed.push({ postId: posts[i], count: Number(total), asOf: Number(at) });
      }
    });
    return { changed, applied, stale: changes.length - applied };
  }
}
