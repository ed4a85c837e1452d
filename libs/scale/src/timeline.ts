/**
 * What the polls of the aggregators saw over a run, and the figures of each rebalance drawn from it.
 * Pure: the prober records snapshots and serve probes, these functions only read them.
 */

/** One partition as one aggregator's /internal/partitions showed it. */
export interface PartitionSeen {
  partition: number;
  storedOffset: number | null;
  phase: string;
}

/** One poll of every running aggregator: what each member that answered said it owns. */
export interface Snapshot {
  /** ms since the run's start */
  t: number;
  byMember: Record<string, PartitionSeen[]>;
}

/** One interactive query (likedByViewer) asked of the member that said it owns `partition`. */
export interface ServeProbe {
  t: number;
  partition: number;
  member: string;
  /** answered 200 */
  ok: boolean;
}

/** A scaling step: when it was triggered and when the group had settled again. */
export interface ScaleEvent {
  name: string;
  /** ms since the start: the spawn, SIGTERM or SIGKILL */
  at: number;
  /** ms since the start: every partition owned by one live member again (or the wait gave up) */
  settledAt: number;
  /** a join: when the new member logged its start line (it joins the group from then on) */
  joinedAt?: number;
}

/** A partition that kept its owner through a rebalance: how long its progress stood still. */
export interface KeptPartition {
  partition: number;
  owner: string;
  /** the longest time between two advances of its stored offset from the trigger (a join: the new member's start) until tail after the group settled */
  pauseMs: number;
  /** the same in the no-rebalance baseline window */
  baselineMs: number;
  /** pauseMs - baselineMs, floored at 0: what the rebalance added */
  excessMs: number;
}

/** A partition that changed owner: when it was served again. */
export interface MovedPartition {
  partition: number;
  from: string | null;
  to: string | null;
  /** first 200 from the new owner, ms after the trigger (null: never within the run) */
  servesAgainMs: number | null;
  /** the time nobody answered for it: from the old owner's last 200 (or the trigger) to the new owner's first */
  unservedMs: number | null;
  /** first time, ms after the trigger, the new owner reported it live with a stored offset past the one at the trigger (null: not within the run) */
  advancesMs: number | null;
}

export interface RebalanceFigures {
  name: string;
  atMs: number;
  settledMs: number;
  /** a join: ms from the spawn to the new member's start line (its process start-up, not the rebalance) */
  startupMs: number | null;
  before: Record<number, string>;
  after: Record<number, string>;
  kept: KeptPartition[];
  moved: MovedPartition[];
  /** the largest excess pause of a kept partition (null: none kept) */
  maxKeptPauseMs: number | null;
  maxKeptExcessMs: number | null;
  /** the slowest moved partition to serve again (null: none moved, or one never served) */
  maxServesAgainMs: number | null;
  maxUnservedMs: number | null;
}

/** Partition → the member that reports it in `s` (the newest owner wins when two do during a handover). */
export function ownership(s: Snapshot, phases?: readonly string[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const [member, parts] of Object.entries(s.byMember))
    for (const p of parts) if (!phases || phases.includes(p.phase)) out.set(p.partition, member);
  return out;
}

/** Every partition of 0..partitions-1 owned by exactly one member that reports it live. */
export function settled(s: Snapshot, partitions: number): boolean {
  const seen = new Map<number, number>();
  for (const parts of Object.values(s.byMember))
    for (const p of parts) {
      if (p.phase !== 'live') return false;
      seen.set(p.partition, (seen.get(p.partition) ?? 0) + 1);
    }
  for (let p = 0; p < partitions; p++) if (seen.get(p) !== 1) return false;
  return true;
}

/** The highest stored offset any member reports for `partition` in `s` (null: nobody reports one). */
export function offsetIn(s: Snapshot, partition: number, member?: string): number | null {
  let best: number | null = null;
  for (const [m, parts] of Object.entries(s.byMember)) {
    if (member !== undefined && m !== member) continue;
    for (const p of parts)
      if (p.partition === partition && p.storedOffset !== null && (best === null || p.storedOffset > best))
        best = p.storedOffset;
  }
  return best;
}

/**
 * The times in [from, to] at which `partition`'s stored offset was seen higher than ever before
 * (over every member: a new owner continuing from the changelog counts as progress once it passes
 * the old one).
 */
export function advances(
  snapshots: readonly Snapshot[],
  partition: number,
  from: number,
  to: number,
): number[] {
  let high: number | null = null;
  const out: number[] = [];
  for (const s of snapshots) {
    if (s.t > to) break;
    const o = offsetIn(s, partition);
    if (o === null) continue;
    if (high === null || o > high) {
      if (s.t >= from && high !== null) out.push(s.t);
      high = o;
    }
  }
  return out;
}

/** The longest stretch of [from, to] without an advance (the edges count as bounds). */
export function maxGap(times: readonly number[], from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const t of times) {
    if (t < from || t > to) continue;
    gap = Math.max(gap, t - last);
    last = t;
  }
  return Math.max(gap, to - last);
}

/** The last snapshot at or before `t` (undefined before the first). */
export function snapshotAt(snapshots: readonly Snapshot[], t: number): Snapshot | undefined {
  let out: Snapshot | undefined;
  for (const s of snapshots) {
    if (s.t > t) break;
    out = s;
  }
  return out;
}

/** Per partition, the longest stretch without progress in a window with no rebalance. */
export function baselineGaps(
  snapshots: readonly Snapshot[],
  partitions: number,
  from: number,
  to: number,
): number[] {
  return Array.from({ length: partitions }, (_, p) => maxGap(advances(snapshots, p, from, to), from, to));
}

const maxOf = (xs: Array<number | null>): number | null => {
  if (xs.length === 0 || xs.some((x) => x === null)) return null;
  return Math.max(...(xs as number[]));
};

/**
 * The figures of one rebalance. Owners before: the newest snapshot before the trigger that shows
 * each partition; after: the
 * first settled snapshot at or after settledAt. A partition with the same owner in both is kept:
 * its pause is the longest stretch without progress from the trigger until `tailMs` after the
 * group settled, against its baseline. Any other partition moved: when its new owner first
 * answered an interactive query, and how long nobody did.
 */
export function rebalanceFigures(
  snapshots: readonly Snapshot[],
  probes: readonly ServeProbe[],
  event: ScaleEvent,
  baseline: readonly number[],
  partitions: number,
  tailMs = 1000,
): RebalanceFigures {
  const post =
    snapshots.find((s) => s.t >= event.settledAt && settled(s, partitions)) ??
    snapshots.find((s) => s.t >= event.settledAt);
  // the owner before: the newest snapshot before the trigger that shows the partition (a member
  // that did not answer one poll, as a busy machine makes happen, says nothing there)
  const before = new Map<number, string>();
  for (const s of snapshots) {
    if (s.t >= event.at) break;
    for (const [p, m] of ownership(s)) before.set(p, m);
  }
  const after = post ? ownership(post) : new Map<number, string>();
  const end = event.settledAt + tailMs;
  // kept partitions can only be disturbed once the group changes: for a join, once the new member runs
  const from0 = event.joinedAt ?? event.at;
  const kept: KeptPartition[] = [];
  const moved: MovedPartition[] = [];
  for (let p = 0; p < partitions; p++) {
    const from = before.get(p) ?? null;
    const to = after.get(p) ?? null;
    if (from !== null && from === to) {
      const pauseMs = maxGap(advances(snapshots, p, from0, end), from0, end);
      const baselineMs = baseline[p] ?? 0;
      kept.push({
        partition: p,
        owner: from,
        pauseMs,
        baselineMs,
        excessMs: Math.max(0, pauseMs - baselineMs),
      });
      continue;
    }
    const firstNew = probes.find((q) => q.partition === p && q.t >= event.at && q.member === to && q.ok);
    const lastOld = [...probes]
      .reverse()
      .find(
        (q) =>
          q.partition === p &&
          q.member === from &&
          q.ok &&
          q.t >= event.at &&
          (!firstNew || q.t <= firstNew.t),
      );
    let startOffset: number | null = null;
    for (const s of snapshots) {
      if (s.t >= event.at) break;
      const o = offsetIn(s, p);
      if (o !== null && (startOffset === null || o > startOffset)) startOffset = o;
    }
    const adv = snapshots.find(
      (s) =>
        s.t >= event.at &&
        to !== null &&
        s.byMember[to]?.some(
          (x) => x.partition === p && x.phase === 'live' && (x.storedOffset ?? -1) > (startOffset ?? -1),
        ),
    );
    moved.push({
      partition: p,
      from,
      to,
      servesAgainMs: firstNew ? firstNew.t - event.at : null,
      unservedMs: firstNew ? firstNew.t - (lastOld?.t ?? event.at) : null,
      advancesMs: adv ? adv.t - event.at : null,
    });
  }
  return {
    name: event.name,
    atMs: event.at,
    settledMs: event.settledAt,
    startupMs: event.joinedAt === undefined ? null : event.joinedAt - event.at,
    before: Object.fromEntries(before),
    after: Object.fromEntries(after),
    kept,
    moved,
    maxKeptPauseMs: kept.length ? Math.max(...kept.map((k) => k.pauseMs)) : null,
    maxKeptExcessMs: kept.length ? Math.max(...kept.map((k) => k.excessMs)) : null,
    maxServesAgainMs: moved.length ? maxOf(moved.map((m) => m.servesAgainMs)) : null,
    maxUnservedMs: moved.length ? maxOf(moved.map((m) => m.unservedMs)) : null,
  };
}
