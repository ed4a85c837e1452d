import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { execPerMaster } from './client';
import { progressKey, readSideMetaKey, readyChannel, readySentinelKey } from './keys';

/** One command per key, in one pipeline per master (the keys route themselves). */
const perKey = (
  client: Cluster,
  keys: readonly string[],
  queue: (pipeline: ReturnType<Cluster['pipeline']>, key: string) => void,
) => execPerMaster(client, keys, (k) => k, queue);

/**
 * Master markers: a Redis Cluster master that restarts empty is detected (ADR 0025).
 *
 * The read side's shared keys live in ONE slot (ADR 0017), so a master that loses its data without
 * holding that slot loses post hashes while the progress survives. Each master therefore holds one
 * small marker key, `<prefix>likes:alive{~<prefix>~<i>}:<token>`, whose hash tag is chosen so that
 * its slot is one of that master's: the marker goes when the master's data goes. The record
 * `<prefix>likes:meta{~<prefix>}:masters` (beside the progress) lists the markers and their token:
 *
 *   {"token":"<t>","markers":["<key>", ...]}
 *
 * A listed marker that is missing means the master serving its slot lost its data since the marker
 * was written. The projector then treats it as a full loss (`tripMasterLoss`: the progress, the
 * sentinel and the record go in one script, `healing` is announced) and the existing heal runs; the
 * record is written again (new token) before a heal starts. Readers check the marker of every
 * master they read from, in the same pipeline after the reads, and compare the record before and
 * after: a read never returns a total from a master that lost its data.
 *
 * Markers follow their slot when it migrates (the key moves with it); masters without a listed
 * marker (added later, or whose marker's slot moved away) get one at the next check, from the
 * topology as it is then (CLUSTER SLOTS). One Redis has no markers: it loses everything at once,
 * the progress included.
 */

/** The record of the markers, in the read side's meta slot. */
export const mastersRecordKey = (prefix: string): string => readSideMetaKey(prefix, 'masters');
/** The markers of the record a loss removed, deleted once a new record is in place. */
export const retiredMastersKey = (prefix: string): string => readSideMetaKey(prefix, 'masters:retired');

/** The hash tag of marker number i of a prefix (its slot is what matters). */
export const markerTag = (prefix: string, index: number): string => `~${prefix}~${index}`;

/** Marker key: the tag picks the slot (so the master), the token ties it to one record. */
export const markerKey = (prefix: string, index: number, token: string): string =>
  `${prefix}likes:alive{${markerTag(prefix, index)}}:${token}`;

/** An inclusive range of cluster slots. */
export interface SlotRange {
  start: number;
  end: number;
}

export interface MarkerRecord {
  token: string;
  markers: string[];
}

/** How far markerIndexFor looks (a master with a single slot needs ~16384 tries on average). */
const MAX_MARKER_INDEX = 1 << 20;

const inRanges = (slot: number, ranges: readonly SlotRange[]): boolean =>
  ranges.some((r) => slot >= r.start && slot <= r.end);

/**
 * The smallest index whose marker tag hashes into one of `ranges` (deterministic, so projectors
 * that mark at the same time pick the same key). Throws for empty ranges.
 */
export function markerIndexFor(prefix: string, ranges: readonly SlotRange[]): number {
  if (ranges.length === 0) throw new Error('a master without slots has no marker');
  for (let i = 0; i < MAX_MARKER_INDEX; i++) {
    if (inRanges(calculateSlot(`{${markerTag(prefix, i)}}`), ranges)) return i;
  }
  throw new Error(`no marker tag of ${prefix} hashes into slots ${JSON.stringify(ranges)}`);
}

export function parseMarkerRecord(raw: string | null | undefined): MarkerRecord | undefined {
  if (raw === null || raw === undefined) return undefined;
  const value = JSON.parse(raw) as Partial<MarkerRecord>;
  if (
    typeof value.token !== 'string' ||
    !Array.isArray(value.markers) ||
    value.markers.some((m) => typeof m !== 'string')
  )
    throw new Error(`${raw} is not a master marker record`);
  return { token: value.token, markers: value.markers };
}

export const formatMarkerRecord = (record: MarkerRecord): string =>
  JSON.stringify({ token: record.token, markers: record.markers });

/**
 * The masters of a CLUSTER SLOTS reply (`[[start, end, [host, port, id], replicas...], ...]`), keyed
 * `host:port` (as ioredis names nodes), each with its slot ranges.
 */
export function mastersOfClusterSlots(reply: unknown): Map<string, SlotRange[]> {
  const out = new Map<string, SlotRange[]>();
  if (!Array.isArray(reply)) throw new Error('CLUSTER SLOTS did not answer an array');
  for (const entry of reply as unknown[]) {
    if (!Array.isArray(entry) || entry.length < 3 || !Array.isArray(entry[2]))
      throw new Error(`unexpected CLUSTER SLOTS entry ${JSON.stringify(entry)}`);
    const [start, end, master] = entry as [number, number, [string, number]];
    const id = `${master[0]}:${master[1]}`;
    const ranges = out.get(id);
    const range = { start: Number(start), end: Number(end) };
    if (ranges) ranges.push(range);
    else out.set(id, [range]);
  }
  return out;
}

/** The masters (of `masters`) that none of the marker keys lies on. */
export function uncoveredMasters(
  markers: readonly string[],
  masters: ReadonlyMap<string, readonly SlotRange[]>,
): string[] {
  const slots = markers.map((m) => calculateSlot(m));
  return [...masters].filter(([, ranges]) => !slots.some((s) => inRanges(s, ranges))).map(([id]) => id);
}

/**
 * For a client's current slot map (ioredis `Cluster.slots`: slot → node keys, master first): the
 * marker to check for each master, keyed by the master's node key. Masters without one are absent.
 */
export function markersByMaster(
  markers: readonly string[],
  slots: readonly (readonly string[] | undefined)[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markers) {
    const master = slots[calculateSlot(m)]?.[0];
    if (master !== undefined && !out.has(master)) out.set(master, m);
  }
  return out;
}

/** The master (node key) serving a key in a client's current slot map; undefined before the map is known. */
export const masterNodeOf = (client: Cluster, key: string): string | undefined =>
  client.slots[calculateSlot(key)]?.[0];

/**
 * The marker a reader or the projection checks together with `key` (same master), from the record
 * as read with the pointers; '' when there is nothing to check (no record, or a master not marked yet).
 */
export function markerForKey(
  client: Cluster,
  byMaster: ReadonlyMap<string, string> | undefined,
  key: string,
): string {
  if (!byMaster) return '';
  const master = masterNodeOf(client, key);
  return (master !== undefined && byMaster.get(master)) || '';
}

/** Lua, meta slot: KEYS record, progress, sentinel, retired; ARGV expected record, channel. */
const TRIP_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('RENAME', KEYS[1], KEYS[4])
redis.call('DEL', KEYS[2])
if redis.call('DEL', KEYS[3]) == 1 then redis.call('PUBLISH', ARGV[2], 'healing') end
return 1
`;

/** Lua, meta slot: KEYS record; ARGV expected ('' = absent), new. Compare-and-set. */
const CAS_LUA = `
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

export interface MasterCheck {
  /** the record as read ('' fields when absent) */
  raw: string | null;
  record?: MarkerRecord;
  /** listed markers that are missing: their masters lost data */
  lost: string[];
}

/**
 * Reads the record and checks that every listed marker exists (one pipeline per master). Throws
 * when a master cannot answer (down: that is not a loss, and nothing can be told yet).
 */
export async function checkMasters(client: Cluster, prefix: string): Promise<MasterCheck> {
  const raw = await client.get(mastersRecordKey(prefix));
  const record = parseMarkerRecord(raw);
  if (!record || record.markers.length === 0) return { raw, record, lost: [] };
  const replies = await perKey(client, record.markers, (pipeline, m) => void pipeline.exists(m));
  const lost: string[] = [];
  replies.forEach(([err, reply], i) => {
    if (err) throw err;
    if (Number(reply) === 0) lost.push(record.markers[i]);
  });
  return { raw, record, lost };
}

/**
 * A master lost its data: the read side is treated as lost entirely (progress, sentinel and the
 * record removed in one script, `healing` announced, so readers refuse and caches drop), and the
 * projector heals it from likes.counts. Only if the record is still `raw` (else someone already did
 * this, or marked anew). Returns whether it removed them.
 */
export async function tripMasterLoss(client: Cluster, prefix: string, raw: string): Promise<boolean> {
  const n = await client.eval(
    TRIP_LUA,
    4,
    mastersRecordKey(prefix),
    progressKey(prefix),
    readySentinelKey(prefix),
    retiredMastersKey(prefix),
    raw,
    readyChannel(prefix),
  );
  return Number(n) === 1;
}

/**
 * Gives every master of the current topology (CLUSTER SLOTS) a marker when the record lists none
 * on it: the markers are written first, then the record (compare-and-set against what was read).
 * Returns the masters marked now (empty when every one had a marker). Throws when a master cannot
 * be written (nothing recorded then) or when the record moved meanwhile (the next check redoes it).
 */
export async function markMasters(client: Cluster, prefix: string): Promise<string[]> {
  const raw = await client.get(mastersRecordKey(prefix));
  const record = parseMarkerRecord(raw);
  const masters = mastersOfClusterSlots(await client.cluster('SLOTS'));
  const uncovered = uncoveredMasters(record?.markers ?? [], masters);
  if (uncovered.length === 0) return [];
  const token = record?.token ?? randomBytes(8).toString('hex');
  const added = uncovered.map((id) => markerKey(prefix, markerIndexFor(prefix, masters.get(id)!), token));
  const replies = await perKey(client, added, (pipeline, k) => void pipeline.set(k, String(Date.now())));
  for (const [err] of replies) if (err) throw err;
  const next = formatMarkerRecord({ token, markers: [...(record?.markers ?? []), ...added] });
  const ok = Number(await client.eval(CAS_LUA, 1, mastersRecordKey(prefix), raw ?? '', next)) === 1;
  if (!ok) {
    // a new token is ours alone: take its markers back; a shared token's keys may be someone's record
    if (!record) await perKey(client, added, (pipeline, k) => void pipeline.del(k)).catch(() => undefined);
    throw new Error('the master marker record moved while marking; marked again at the next check');
  }
  if (!record) await dropRetired(client, prefix);
  return uncovered;
}

/** Deletes the markers of the record a loss retired (best effort: left-overs are a few bytes). */
async function dropRetired(client: Cluster, prefix: string): Promise<void> {
  try {
    const retired = parseMarkerRecord(await client.get(retiredMastersKey(prefix)));
    if (retired && retired.markers.length > 0) {
      await perKey(client, retired.markers, (pipeline, k) => void pipeline.del(k));
    }
    await client.del(retiredMastersKey(prefix));
  } catch {
    // the next re-marking tries again
  }
}

export interface MasterGuardResult {
  /** markers found missing (their masters lost data) */
  lost: string[];
  /** this call removed the progress for it (false when someone else did, or nothing was lost) */
  tripped: boolean;
  /** masters marked now */
  marked: string[];
}

/**
 * The projector's check: lost markers trip a full heal, then every master without a marker gets
 * one (before any heal starts, so a master that loses data during the heal is seen too).
 */
export async function guardMasters(client: Cluster, prefix: string): Promise<MasterGuardResult> {
  const check = await checkMasters(client, prefix);
  let tripped = false;
  if (check.lost.length > 0 && check.raw !== null) tripped = await tripMasterLoss(client, prefix, check.raw);
  const marked = await markMasters(client, prefix);
  return { lost: check.lost, tripped, marked };
}
