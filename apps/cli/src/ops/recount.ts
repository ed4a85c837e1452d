/**
 * The independent recount behind `doubletap verify`: a user counts for a post when their LAST valid
 * action on it (in offset order within the partition, where every action of a (post, user) lives)
 * is LIKE. Pure and incremental: feed records partition by partition in offset order.
 */
export interface RecountEvent {
  postId: string;
  userId: string;
  action: 'LIKE' | 'UNLIKE';
}

export class Recount {
  /** `<postId>/<userId>` → liked; `/` cannot occur in ids */
  private readonly liked = new Map<string, boolean>();
  private readonly seenPosts = new Set<string>();
  events = 0;

  constructor(private readonly only?: ReadonlySet<string>) {}

  add(event: RecountEvent): void {
    if (this.only && !this.only.has(event.postId)) return;
    this.events++;
    this.seenPosts.add(event.postId);
    this.liked.set(`${event.postId}/${event.userId}`, event.action === 'LIKE');
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
}

export interface Mismatch {
  postId: string;
  expected: number;
  actual: number;
}

export function diffCounts(expected: ReadonlyMap<string, number>, actual: ReadonlyMap<string, number>): Mismatch[] {
  const out: Mismatch[] = [];
  for (const [postId, want] of expected) {
    const got = actual.get(postId) ?? 0;
    if (got !== want) out.push({ postId, expected: want, actual: got });
  }
  return out.sort((a, b) => a.postId.localeCompare(b.postId));
}
