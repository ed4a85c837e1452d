import type { Redis } from './client';
import { ownersChannel, ownersKey } from './keys';

/**
 * The owners map: hash `<prefix>owners`, field = partition (decimal), value = JSON OwnerRecord.
 * Written by the aggregator that owns the partition, read by the api for interactive queries.
 */
export interface OwnerRecord {
  /** base URL of the owner's internal HTTP endpoint */
  url: string;
  memberId: string;
  /** consumer-group generation as seen by the owner */
  generation: number;
  /** ISO-8601 time of the write */
  updatedAt: string;
}

/** HDEL the field only if it still names this member (a new owner may already have written it). */
const WITHDRAW = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local ok, rec = pcall(cjson.decode, v)
if ok and type(rec) == 'table' and rec.memberId == ARGV[2] and rec.url == ARGV[3] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`;

export async function publishOwners(
  redis: Redis,
  prefix: string,
  partitions: readonly number[],
  owner: Omit<OwnerRecord, 'updatedAt'>,
): Promise<void> {
  if (partitions.length === 0) return;
  const value = JSON.stringify({ ...owner, updatedAt: new Date().toISOString() } satisfies OwnerRecord);
  const fields: string[] = [];
  for (const p of partitions) fields.push(String(p), value);
  // announced so readers that cache the map (the api) re-read it at once; the hash is the truth
  await redis.hset(ownersKey(prefix), ...fields);
  await redis.publish(ownersChannel(prefix), partitions.join(','));
}

/** Withdraws the fields of `partitions` still owned by (memberId, url); returns how many were removed. */
export async function withdrawOwners(
  redis: Redis,
  prefix: string,
  partitions: readonly number[],
  owner: { memberId: string; url: string },
): Promise<number> {
  let removed = 0;
  for (const p of partitions) {
    const n = await redis.eval(WITHDRAW, 1, ownersKey(prefix), String(p), owner.memberId, owner.url);
    removed += Number(n);
  }
  if (removed > 0) await redis.publish(ownersChannel(prefix), partitions.join(','));
  return removed;
}

/** The whole owners map (unparseable values are skipped). */
export async function readOwners(redis: Redis, prefix: string): Promise<Map<number, OwnerRecord>> {
  const raw = await redis.hgetall(ownersKey(prefix));
  const out = new Map<number, OwnerRecord>();
  for (const [field, value] of Object.entries(raw)) {
    try {
      out.set(Number(field), JSON.parse(value) as OwnerRecord);
    } catch {
      // written by something else: not an owner record
    }
  }
  return out;
}
