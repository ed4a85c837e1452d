/**
 * Burrow-style consumer status, evaluated over a sliding window of observations of one partition.
 * The rules are documented in docs/lag-monitoring.md; each has a unit test.
 */
export type PartitionStatus = 'OK' | 'WARN' | 'STALL' | 'STOP' | 'REWIND' | 'ERR';
export type GroupStatus = 'OK' | 'WARN' | 'ERR';

export interface Observation {
  /** when it was observed (ms) */
  at: number;
  /** committed offset (next to read); null when the group has none on this partition */
  committed: number | null;
  logEnd: number;
  /** does the group have live members */
  active: boolean;
  /** the offsets could not be read */
  error?: string;
}

export interface Verdict {
  status: PartitionStatus;
  reason: string;
}

export const lagOf = (o: Observation): number => (o.committed === null ? o.logEnd : Math.max(0, o.logEnd - o.committed));

/** Applies the rules in order; the first that matches decides. */
export function evaluatePartition(window: readonly Observation[]): Verdict {
  if (window.length === 0) return { status: 'OK', reason: 'no observations yet' };
  const last = window[window.length - 1];
  if (last.error) return { status: 'ERR', reason: `offsets unreadable: ${last.error}` };
  const seen = window.filter((o) => !o.error);
  // 1. REWIND: the committed offset moved backwards inside the window (a reset or replay)
  for (let i = 1; i < seen.length; i++) {
    const before = seen[i - 1].committed;
    const after = seen[i].committed;
    if (before !== null && after !== null && after < before) {
      return { status: 'REWIND', reason: `committed offset went back from ${before} to ${after}` };
    }
  }
  // 2. OK: caught up now (lag 0), whatever happened before — covers idle partitions
  if (lagOf(last) === 0) return { status: 'OK', reason: 'caught up' };
  const first = seen[0];
  const moved = last.committed !== first.committed;
  // 3. STOP: lag, nothing consumed over the window, and no live member of the group
  if (!last.active && !moved) return { status: 'STOP', reason: `no live consumer; lag ${lagOf(last)} and not moving` };
  // 4. STALL: members are alive but the committed offset did not move over a full window while lag > 0
  if (seen.length >= 2 && !moved && seen.every((o) => lagOf(o) > 0)) {
    return { status: 'STALL', reason: `consumer alive but stuck at ${String(last.committed)} with lag ${lagOf(last)}` };
  }
  // 5. WARN: consuming, but the lag grew at every step of the window (falling behind)
  if (seen.length >= 3) {
    let growing = true;
    for (let i = 1; i < seen.length; i++) if (lagOf(seen[i]) <= lagOf(seen[i - 1])) growing = false;
    if (growing) return { status: 'WARN', reason: `lag grew at every observation (${lagOf(first)} → ${lagOf(last)})` };
  }
  // 6. OK: consuming and not falling behind (e.g. a slow consumer catching up)
  return { status: 'OK', reason: moved ? 'consuming' : 'lag steady' };
}

/** The group's status is its worst partition's: STALL/STOP/ERR → ERR, WARN/REWIND → WARN. */
export function evaluateGroup(statuses: readonly PartitionStatus[]): GroupStatus {
  if (statuses.some((s) => s === 'ERR' || s === 'STALL' || s === 'STOP')) return 'ERR';
  if (statuses.some((s) => s === 'WARN' || s === 'REWIND')) return 'WARN';
  return 'OK';
}
