import { storeKeys, type PartitionStore, type StandbyMark, type StoreEntry } from '@doubletap/store';
import { parseOffsetRecord, type ChangelogState } from './changelog';

/** One committed changelog record as a tail reads it. */
export interface ChangelogRecord {
  offset: number;
  key: string;
  value: string | null;
}

export type ChangelogFetch =
  /** records from the position asked for (maybe none), where to read next, the partition's end */
  | { kind: 'records'; records: ChangelogRecord[]; next: number; end: number }
  /** the position is outside the log (a rewrite moved its start past it): start again at `low` */
  | { kind: 'out-of-range'; low: number; high: number };

/** Reads changelog partitions from positions the caller keeps, without a consumer group. */
export interface ChangelogTail {
  /** one round over these partitions (partition → next offset); may wait a little when nothing is new */
  fetch(positions: ReadonlyMap<number, number>): Promise<Map<number, ChangelogFetch>>;
  close(): Promise<void>;
}

/**
 * Applies changelog records to a standby store, with the position after them, in one atomic write.
 * Returns 'reset' when a record shows the changelog started a new epoch (it was emptied and
 * rewritten, ADR 0009) after what the store holds: the store must start again from nothing.
 */
export async function applyToStandby(
  store: PartitionStore,
  records: readonly ChangelogRecord[],
  next: number,
): Promise<'applied' | 'reset'> {
  const mark = store.standby();
  if (!mark) throw new Error(`partition ${store.partition}: the store is not a standby`);
  const entries: StoreEntry[] = [];
  for (const r of records) {
    if (r.offset < mark.position) continue;
    if (r.key === storeKeys.offset) {
      if (r.value === null) continue; // a withdrawn offset: the transactions that follow name it again
      const { epochStart, offset } = parseOffsetRecord(r.value);
      if (mark.epochStart !== null ? epochStart !== mark.epochStart : epochStart > mark.base) return 'reset';
      mark.epochStart = epochStart;
      mark.offset = offset;
    } else if (!r.key.startsWith('meta/')) entries.push({ key: r.key, value: r.value });
  }
  mark.position = Math.max(mark.position, next);
  await store.applyStandby(entries, mark);
  return 'applied';
}

export type PromotionPlan =
  /** apply the changelog's [from, to) to the standby, then it is the store */
  | { kind: 'tail'; from: number; to: number }
  /** the standby cannot be completed from the tail: drop it and take the partition as an empty store */
  | { kind: 'discard'; reason: string };

/**
 * Can a standby at `mark` be made exact by reading only the changelog after it (pure)? Yes when the
 * changelog is usable (it names an offset, no record of its epoch was deleted) and the standby
 * follows that same epoch from its start, with its position inside the log: every record after the
 * position is then the rest of what a full restore reads, and compaction only ever removed records a
 * later one overwrites — so the standby plus the tail equals a full restore.
 */
export function planPromotion(mark: StandbyMark, cl: ChangelogState): PromotionPlan {
  if (cl.offset === undefined || cl.epochStart === undefined)
    return { kind: 'discard', reason: 'the changelog names no offset' };
  if (cl.low > cl.epochStart)
    return { kind: 'discard', reason: 'records of the changelog epoch were deleted' };
  const epoch = mark.epochStart ?? mark.base;
  if (epoch !== cl.epochStart)
    return {
      kind: 'discard',
      reason: `the standby follows epoch ${epoch}, the changelog is at epoch ${cl.epochStart}`,
    };
  if (mark.position < cl.low || mark.position > cl.high)
    return {
      kind: 'discard',
      reason: `the standby position ${mark.position} is outside the changelog [${cl.low}, ${cl.high})`,
    };
  return { kind: 'tail', from: mark.position, to: cl.high };
}

/**
 * Reads [from, to) of one changelog partition through `tail` and applies it to the standby store.
 * Returns the records read, or 'reset' when the changelog turned out to be in another epoch.
 */
export async function readTailInto(
  tail: ChangelogTail,
  store: PartitionStore,
  from: number,
  to: number,
): Promise<number | 'reset'> {
  const p = store.partition;
  let records = 0;
  for (let position = from, idle = 0; position < to;) {
    const got = (await tail.fetch(new Map([[p, position]]))).get(p);
    if (got?.kind === 'out-of-range') return 'reset';
    if (!got || got.next === position) {
      if (++idle > 600)
        throw new Error(
          `partition ${p}: the changelog did not advance past ${position} (reading up to ${to})`,
        );
      if (!got) await new Promise((r) => setTimeout(r, 50));
      continue; // the tail waited at the broker (or the leader moved): ask again
    }
    idle = 0;
    const inside = got.records.filter((r) => r.offset < to);
    records += inside.length;
    if ((await applyToStandby(store, inside, Math.min(got.next, to))) === 'reset') return 'reset';
    position = Math.min(got.next, to);
  }
  return records;
}
