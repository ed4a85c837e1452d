import type { LikeAction } from '@doubletap/events';

/** How a request ended, as far as the count is concerned. */
export type Outcome =
  /** 202: durable in the log before the answer */
  | 'accepted'
  /** a definite refusal that applied nothing (4xx, 429, never sent) */
  | 'rejected'
  /** may or may not be in the log, now or later: 503, 5xx, timeout, connection error */
  | 'unknown';

/** Settles one request (once); `dispatched()` marks it as having left the client. */
export type Settle = ((outcome: Outcome) => void) & { dispatched: () => void };

interface InFlight {
  action: LikeAction;
  /** overlapped with an in-flight request of the other action on the same (post, user) */
  raced: boolean;
}

interface Pair {
  /** the certain state, or 'uncertain' when the log order or membership cannot be known */
  state: 'liked' | 'unliked' | 'uncertain';
  /** an unknown outcome may still land later: nothing after it can make the pair certain again */
  tainted: boolean;
  inflight: Set<InFlight>;
}

interface PostTally {
  liked: number;
  uncertain: number;
  inflightUnlikes: number;
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

  private setState(postId: string, pair: Pair, next: Pair['state']): void {
    const t = this.tally(postId);
    if (pair.state === 'liked') t.liked--;
    if (pair.state === 'uncertain') t.uncertain--;
    pair.state = next;
    if (next === 'liked') t.liked++;
    if (next === 'uncertain') t.uncertain++;
  }

  /**
   * Registers a request as sent; call the returned function once with its outcome, and its
   * `dispatched()` when the request left the client's queue (it may reach the log from then on).
   */
  begin(postId: string, userId: string, action: LikeAction): Settle {
    const key = `${postId}/${userId}`;
    let pair = this.pairs.get(key);
    if (!pair) {
      pair = { state: 'unliked', tainted: false, inflight: new Set() };
      this.pairs.set(key, pair);
    }
    const tally = this.tally(postId);
    const mine: InFlight = { action, raced: false };
    for (const other of pair.inflight) {
      if (other.action !== action) {
        other.raced = true;
        mine.raced = true;
      }
    }
    pair.inflight.add(mine);
    const p = pair;
    let settled = false;
    let dispatched = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      p.inflight.delete(mine);
      if (dispatched && action === 'UNLIKE') tally.inflightUnlikes--;
      if (outcome === 'rejected') return;
      const target = action === 'LIKE' ? 'liked' : 'unliked';
      if (outcome === 'unknown') {
        // it may land at any time from now on: a no-op while the pair already is `target`, but
        // nothing later can make the pair certain again (tainted)
        p.tainted = true;
        if (p.state !== target) this.setState(postId, p, 'uncertain');
        return;
      }
      this.setState(postId, p, mine.raced || p.tainted ? 'uncertain' : target);
    };
    return Object.assign(settle, {
      dispatched: () => {
        if (dispatched || settled) return;
        dispatched = true;
        if (action === 'UNLIKE') tally.inflightUnlikes++;
      },
    });
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
