/**
 * When a 404 for a schema id proves the id unknown (and the record poison), and the memory of it.
 *
 * A registry in failover or being restored answers 404 for ids that exist, so one 404 proves
 * nothing. An id is unknown only when the 404 persisted over a grace period: at least `attempts`
 * 404s, spanning at least `graceMs` since the first, each one seen while the registry was proven
 * healthy (the caller only reports 404s that passed its health check). Between two counted
 * attempts at least `recheckMs` pass: a burst of records with the same id costs one lookup per
 * `recheckMs`, not one per record. Once proven, the decision is remembered, so a storm of records
 * with the same unknown id costs nothing more. Both memories are bounded (least recently used
 * entries go first): poison bytes can carry any of 2^32 ids.
 *
 * Pure bookkeeping: the clock is injected, no I/O.
 */
export interface UnknownIdPolicy {
  /** healthy 404s needed (default 3) */
  attempts: number;
  /** and the time they must span, from the first (default 10 s) */
  graceMs: number;
  /** least time between two lookups of an id still in grace (default 1 s) */
  recheckMs: number;
  /** ids remembered, per memory (default 10 000) */
  capacity: number;
}

export const DEFAULT_UNKNOWN_ID_POLICY: UnknownIdPolicy = {
  attempts: 3,
  graceMs: 10_000,
  recheckMs: 1_000,
  capacity: 10_000,
};

/**
 * For read-only recounts (`doubletap verify`): an id is judged unknown after 2 s of healthy 404s
 * instead of 10, so a recount gets through a storm of records with unknown ids within its patience
 * for the registry. A recount that a registry failover misleads reports a mismatch and is rerun; the
 * aggregator, which writes, keeps the long grace.
 */
export const RECOUNT_UNKNOWN_ID_POLICY: Partial<UnknownIdPolicy> = { graceMs: 2_000, recheckMs: 500 };

interface Pending {
  first: number;
  last: number;
  attempts: number;
}

export type NotFoundVerdict =
  | { unknown: true; attempts: number; sinceFirstMs: number }
  | { unknown: false; attempts: number; sinceFirstMs: number };

export class UnknownSchemaIds {
  private readonly policy: UnknownIdPolicy;
  private readonly pending = new Map<number, Pending>();
  private readonly proven = new Map<number, number>();

  constructor(
    policy: Partial<UnknownIdPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_UNKNOWN_ID_POLICY, ...policy };
    if (!(
      this.policy.attempts >= 1 &&
      this.policy.graceMs >= 0 &&
      this.policy.recheckMs >= 0 &&
      this.policy.capacity >= 1
    ))
      throw new Error(`invalid unknown-schema-id policy ${JSON.stringify(this.policy)}`);
  }

  /** The id was proven unknown (and stays so: ids are immutable, a registry does not reuse one). */
  isUnknown(id: number): boolean {
    const at = this.proven.get(id);
    if (at === undefined) return false;
    touch(this.proven, id, at);
    return true;
  }

  /** The id is in grace and was looked up less than `recheckMs` ago: do not ask the registry again yet. */
  checkedRecently(id: number): boolean {
    const p = this.pending.get(id);
    return p !== undefined && this.now() - p.last < this.policy.recheckMs;
  }

  /**
   * Counts a 404 for `id` that the registry gave while it was proven healthy; says whether the id
   * is now proven unknown.
   */
  notFound(id: number): NotFoundVerdict {
    const now = this.now();
    const p = this.pending.get(id) ?? { first: now, last: now, attempts: 0 };
    p.attempts++;
    p.last = now;
    const sinceFirstMs = now - p.first;
    if (p.attempts >= this.policy.attempts && sinceFirstMs >= this.policy.graceMs) {
      this.pending.delete(id);
      touch(this.proven, id, now);
      bound(this.proven, this.policy.capacity);
      return { unknown: true, attempts: p.attempts, sinceFirstMs };
    }
    touch(this.pending, id, p);
    bound(this.pending, this.policy.capacity);
    return { unknown: false, attempts: p.attempts, sinceFirstMs };
  }

  /** The registry served the id after all: it is not unknown, and its grace starts over if it ever 404s again. */
  found(id: number): void {
    this.pending.delete(id);
  }

  get sizes(): { pending: number; proven: number } {
    return { pending: this.pending.size, proven: this.proven.size };
  }
}

/** Moves `key` to the most recently used end of the map (insertion order). */
function touch<V>(map: Map<number, V>, key: number, value: V): void {
  map.delete(key);
  map.set(key, value);
}

function bound<V>(map: Map<number, V>, capacity: number): void {
  while (map.size > capacity) {
    const oldest = map.keys().next();
    if (oldest.done) return;
    map.delete(oldest.value);
  }
}
