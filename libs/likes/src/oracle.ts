/**
 * THE test oracle, and the independent recount behind `doubletap verify`: a user counts for a post
 * when their LAST valid action on it is LIKE (in offset order within the partition, where every
 * action of a (post, user) lives). It does not use the decider or the fold — a second, simpler
 * statement of the same rule, so the two can check each other. Feed events partition by partition
 * in offset order (or a whole history in log order).
 */
export interface OracleEvent {
  postId: string;
  userId: string;
  action: 'LIKE' | 'UNLIKE';
}

export class LastActionOracle {
  /** `<postId>/<userId>` → liked; `/` cannot occur in ids */
  private readonly liked = new Map<string, boolean>();
  private readonly seenPosts = new Set<string>();
  events = 0;

  /** `only`: count just these posts (others are ignored) */
  constructor(private readonly only?: ReadonlySet<string>) {}

  add(event: OracleEvent): void {
    if (this.only && !this.only.has(event.postId)) return;
    this.events++;
    this.seenPosts.add(event.postId);
    this.liked.set(`${event.postId}/${event.userId}`, event.action === 'LIKE');
  }

  addAll(events: Iterable<OracleEvent>): this {
    for (const e of events) this.add(e);
    return this;
  }

  /** Whether `userId` likes `postId` now. */
  likes(postId: string, userId: string): boolean {
    return this.liked.get(`${postId}/${userId}`) === true;
  }

  /** Count per post: every post seen (or asked for), zero included. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.only ?? this.seenPosts) out.set(p, 0);
    for (const [key, liked] of this.liked) {
      if (!liked) continue;
      const post = key.slice(0, key.indexOf('/'));
      out.set(post, (out.get(post) ?? 0) + 1);
    }
    return out;
  }

  count(postId: string): number {
    return this.counts().get(postId) ?? 0;
  }
}

/** Expected counts of a whole history in log order. */
export function expectedCounts(events: Iterable<OracleEvent>): Map<string, number> {
  return new LastActionOracle().addAll(events).counts();
}

export interface Mismatch {
  postId: string;
  expected: number;
  actual: number;
}

/** Every post of `expected` whose count in `actual` (missing = 0) differs, sorted by post. */
export function diffCounts(expected: ReadonlyMap<string, number>, actual: ReadonlyMap<string, number>): Mismatch[] {
  const out: Mismatch[] = [];
  for (const [postId, want] of expected) {
    const got = actual.get(postId) ?? 0;
    if (got !== want) out.push({ postId, expected: want, actual: got });
  }
  return out.sort((a, b) => a.postId.localeCompare(b.postId));
}
