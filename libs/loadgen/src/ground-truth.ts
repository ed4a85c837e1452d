import type { LikeAction } from '@doubletap/events';

/** How a request ended, as far as the count is concerned. */
export type Outcome =
  /** 202: durable in the log before the answer */
  | 'accepted'
  /** a definite refusal that applied nothing (4xx, 429, never sent) */
  | 'rejected'
  /** may or may not be in the log, now or later: 503, 5xx, timeout, connection error */
  | 'unknown';

/** One request registered with GroundTruth.begin(). */
export interface Settle {
  /** its outcome (once; later calls are ignored) */
  settle(outcome: Outcome): void;
  /** it left the client's queue: it may reach the log from now on */
  dispatched(): void;
}

interface Pair {
  /** the certain state, or 'uncertain' when the log order or membership cannot be known */
  state: 'liked' | 'unliked' | 'uncertain';
  /** an unknown outcome may still land later: nothing after it can make the pair certain again */
  tainted: boolean;
  /** its requests in flight (nearly always none or one) */
  inflight: InFlight[];
}

interface PostTally {
  liked: number;
  uncertain: number;
  inflightUnlikes: number;
}

function setState(t: PostTally, pair: Pair, next: Pair['state']): void {
  if (pair.state === 'liked') t.liked--;
  if (pair.state === 'uncertain') t.uncertain--;
  pair.state = next;
  if (next === 'liked') t.liked++;
  if (next === 'uncertain') t.uncertain++;
}

/** A request in flight: one object per request, no closures (the load generator makes one per request). */
class InFlight implements Settle {
  /** overlapped with an in-flight request of the other action on the same (post, user) */
  raced = false;
  private done = false;
  private sent = false;

  constructor(
    private readonly pair: Pair,
    private readonly tally: PostTally,
    readonly action: LikeAction,
  ) {}

  dispatched(): void {
    if (this.sent || this.done) return;
    this.sent = true;
    if (this.action === 'UNLIKE') this.tally.inflightUnlikes++;
  }

  settle(outcome: Outcome): void {
    if (this.done) return;
    this.done = true;
    const p = this.pair;
    const i = p.inflight.indexOf(this);
    if (i >= 0) p.inflight.splice(i, 1);
    if (this.sent && this.action === 'UNLIKE') this.tally.inflightUnlikes--;
    if (outcome === 'rejected') return;
    const target = this.action === 'LIKE' ? 'liked' : 'unliked';
    if (outcome === 'unknown') {
      // it may land at any time from now on: a no-op while the pair already is `target`, but
      // nothing later can make the pair certain again (tainted)
      p.tainted = true;
      if (p.state !== target) setState(this.tally, p, 'uncertain');
      return;
    }
    setState(this.tally, p, this.raced || p.tainted ? 'uncertain' : target);
  }
}

/** The expected count of a post: exact when lo === hi. */
export interface Expected {
  postId: string;
  lo: number;
  hi: number;
}

/**
 * The ground truth a load run tracks from its own requests, without the system's decider: a user
 * counts for a post when the LAST action of theirs that reached the log is LIKE.
 *
 * What is certain: a 202 is in the log before its answer, and events of one (post, user) share a
 * partition, so a request sent after an earlier one was answered 202 comes after it in the log.
 * What is not: two requests of one (post, user) in flight at the same time with DIFFERENT actions
 * (a LIKE racing an UNLIKE: the api may produce either first), and any request whose outcome is
 * unknown (503, timeout, connection reset: ADR 0002 names the cases where such an event is in the
 * log anyway, possibly later). Such pairs are "uncertain": the post's expected count becomes the
 * range [lo, hi] instead of one number, and the final check accepts any count in the range.
 * Same-action overlaps (double taps) are certain: LIKE twice is LIKE.
 */
export class GroundTruth {
  private readonly pairs = new Map<string, Pair>();
  private readonly posts = new Map<string, PostTally>();

  private tally(postId: string): PostTally {
    let t = this.posts.get(postId);
    if (!t) {
      t = { liked: 0, uncertain: 0, inflightUnlikes: 0 };
      this.posts.set(postId, t);
    }
    return t;
  }

  /**
   * Registers a request as sent; settle it once with its outcome, and call its `dispatched()` when
   * the request left the client's queue (it may reach the log from then on).
   */
  begin(postId: string, userId: string, action: LikeAction): Settle {
    const key = `${postId}/${userId}`;
    let pair = this.pairs.get(key);
    if (!pair) {
      pair = { state: 'unliked', tainted: false, inflight: [] };
      this.pairs.set(key, pair);
    }
    const mine = new InFlight(pair, this.tally(postId), action);
    for (const other of pair.inflight) {
      if (other.action !== action) {
        other.raced = true;
        mine.raced = true;
      }
    }
    pair.inflight.push(mine);
    return mine;
  }

  /** Every post the run touched. */
  postIds(): string[] {
    return [...this.posts.keys()];
  }

  expected(postId: string): Expected {
    const t = this.posts.get(postId);
    return { postId, lo: t?.liked ?? 0, hi: (t?.liked ?? 0) + (t?.uncertain ?? 0) };
  }

  /**
   * The least count the read side can show once everything answered 202 so far is applied: the
   * certain likes, minus UNLIKEs dispatched and not yet answered (they may already be in the log;
   * those still queued in the client cannot be). Freshness waits for a read at or above it.
   */
  visibleFloor(postId: string): number {
    const t = this.posts.get(postId);
    return t ? t.liked - t.inflightUnlikes : 0;
  }

  /** Pairs whose state is not certain (excluded from exactness; widen their post's range). */
  uncertainPairs(): number {
    let n = 0;
    for (const t of this.posts.values()) n += t.uncertain;
    return n;
  }
}
