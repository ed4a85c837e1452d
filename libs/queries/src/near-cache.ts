import { type CountSnapshot, MAX_POSTS_PER_READ } from '@doubletap/redis';

/** Where counts come from on a miss (the read side: one round trip per call). */
export interface CountSource {
  count(postId: string): Promise<CountSnapshot>;
  /** duplicates answered once, first-appearance order */
  counts(postIds: readonly string[]): Promise<CountSnapshot[]>;
}

/**
 * The change stream that keeps cached counts current (LiveCounts in @doubletap/redis): it calls the
 * cache's change() for every change of a held post and gap() whenever changes may have been missed.
 */
export interface CountFeed {
  readonly connected: boolean;
  /**
   * Keeps the post's changes coming until release(). Resolves true once every change from now on
   * is certain to reach change() until the next gap(); false when that cannot be confirmed now.
   */
  hold(postId: string): Promise<boolean>;
  release(postId: string): void;
}

export interface NearCacheMetrics {
  hit(n: number): void;
  /** cold: not cached (yet); expired: read longer than maxAgeMs ago; bypass: the feed is down */
  miss(kind: 'cold' | 'expired' | 'bypass', n: number): void;
  drop(reason: string, entries: number): void;
  evict(): void;
}

export interface NearCacheOptions {
  source: CountSource;
  feed: CountFeed;
  /** most posts held (LRU beyond that) */
  capacity: number;
  /**
   * A value confirmed by a read this long ago is read again: the bound on staleness from a change
   * of the read side that announces nothing (not one of the writers of this system). Changes heard
   * on the feed keep an entry current without it.
   */
  maxAgeMs: number;
  metrics?: NearCacheMetrics;
  now?: () => number;
}

interface Entry {
  postId: string;
  /** the feed confirmed the hold: every later change reaches this entry until the next gap */
  live: boolean;
  /** the current count: set by a change or by a read SENT while live, whichever is newer */
  value?: CountSnapshot;
  /** when a read last confirmed the value (maxAgeMs) */
  readAt: number;
  /** the read in flight for this entry (concurrent misses share it) */
  filling?: Promise<CountSnapshot>;
  /** the newest change heard since `filling` was sent */
  heard?: CountSnapshot;
}

/** b is newer than a: asOf strictly increases per post within a generation (null = never liked). */
const newer = (b: CountSnapshot, a: CountSnapshot | undefined): boolean =>
  a === undefined || (b.asOf ?? -1) > (a.asOf ?? -1);

/**
 * An in-process cache of the counts of hot posts, exact and current (ADR 0013).
 *
 * The rule: an entry serves only while its post's changes are certain to reach it (the feed
 * confirmed the hold before the value was read, and no gap since), and it holds the newest (by
 * asOf) of what its last read returned and what the feed delivered since that read was sent; while
 * a read is out, requests for the post wait for it. So a read that starts after the api has heard a
 * change never returns anything older; anything that may have been missed (a
 * reconnect, a heal, a generation switch: the feed's gap()) empties the cache, and the next reads
 * go to the read side again.
 *
 * A read sent BEFORE the hold was confirmed may miss a change published between the read and the
 * SUBSCRIBE; such a read is answered but never stored. A post is admitted on its second miss (a
 * one-off read of a cold post costs no subscription), the least recently used is evicted beyond
 * `capacity`.
 */
export class NearCache {
  private readonly entries = new Map<string, Entry>();
  /** posts missed once, not admitted yet (bounded like the entries) */
  private readonly candidates = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: NearCacheOptions) {
    if (!(options.capacity >= 1))
      throw new Error(`near cache capacity ${options.capacity} must be at least 1`);
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  async count(postId: string): Promise<CountSnapshot> {
    const entry = this.entries.get(postId);
    if (entry?.live && entry.value !== undefined) {
      if (this.now() - entry.readAt < this.options.maxAgeMs) {
        this.touch(entry);
        this.options.metrics?.hit(1);
        return entry.value;
      }
      this.options.metrics?.miss('expired', 1);
    } else {
      this.options.metrics?.miss(this.options.feed.connected ? 'cold' : 'bypass', 1);
      if (!entry) this.admit(postId);
    }
    // a read sent before the hold is confirmed is answered, never stored (see the class comment)
    if (!entry?.live) return this.options.source.count(postId);
    entry.filling ??= this.fill(entry);
    return entry.filling;
  }

  /** Hits from memory, the rest in ONE source call; same contract as CountSource.counts. */
  async counts(postIds: readonly string[]): Promise<CountSnapshot[]> {
    const unique = [...new Set(postIds)];
    // the source refuses too many posts: the whole call goes there, so its errors stay the same
    if (unique.length > MAX_POSTS_PER_READ) return this.options.source.counts(postIds);
    const out = new Map<string, CountSnapshot>();
    const missed: string[] = [];
    const t = this.now();
    for (const postId of unique) {
      const entry = this.entries.get(postId);
      if (entry?.live && entry.value !== undefined && t - entry.readAt < this.options.maxAgeMs) {
        this.touch(entry);
        out.set(postId, entry.value);
      } else missed.push(postId);
    }
    if (unique.length - missed.length > 0) this.options.metrics?.hit(unique.length - missed.length);
    if (missed.length === 0) return unique.map((p) => out.get(p)!);
    this.options.metrics?.miss(this.options.feed.connected ? 'cold' : 'bypass', missed.length);
    const live = missed.map((p) => {
      const entry = this.entries.get(p);
      if (!entry) this.admit(p);
      return entry?.live ? entry : undefined;
    });
    const atSend = live.map((entry) => entry?.value);
    const read = await this.options.source.counts(missed);
    read.forEach((value, i) => out.set(missed[i], this.store(live[i], value, atSend[i])));
    return unique.map((p) => out.get(p)!);
  }

  /** A change heard on the feed. */
  change(update: CountSnapshot): void {
    const entry = this.entries.get(update.postId);
    if (!entry?.live) return;
    if (newer(update, entry.value)) entry.value = update;
    if (entry.filling && newer(update, entry.heard)) entry.heard = update;
  }

  /** Changes may have been missed (see CountFeed): everything goes. */
  gap(reason: string): void {
    this.drop(reason);
  }

  drop(reason: string): void {
    const n = this.entries.size;
    for (const postId of this.entries.keys()) this.options.feed.release(postId);
    this.entries.clear();
    this.candidates.clear();
    if (n > 0) this.options.metrics?.drop(reason, n);
  }

  /**
   * The one read of `entry` count() keeps in flight. Its answer REPLACES the value, merged with
   * the changes heard since it was sent: everything heard before was published before the read ran,
   * so the read includes it; and a value the feed never announced (what maxAgeMs is for) goes.
   */
  private async fill(entry: Entry): Promise<CountSnapshot> {
    entry.heard = undefined;
    try {
      const read = await this.options.source.count(entry.postId);
      if (this.entries.get(entry.postId) !== entry) return read;
      entry.value = entry.heard && newer(entry.heard, read) ? entry.heard : read;
      entry.readAt = this.now();
      return entry.value;
    } finally {
      entry.filling = undefined;
      entry.heard = undefined;
    }
  }

  /**
   * What a batch read sent while `entry` was live returned, if the entry is still cached. As in
   * fill(): the read replaces the value unless the feed delivered a newer one while it was out (the
   * value changed since `atSend`), so a total the feed never announced lasts at most maxAgeMs.
   */
  private store(
    entry: Entry | undefined,
    value: CountSnapshot,
    atSend: CountSnapshot | undefined,
  ): CountSnapshot {
    if (!entry || this.entries.get(entry.postId) !== entry) return value;
    const heard = entry.value !== atSend ? entry.value : undefined;
    entry.value = heard && newer(heard, value) ? heard : value;
    entry.readAt = this.now();
    return entry.value;
  }

  /** The first miss of a post makes it a candidate, the second holds it (live once confirmed). */
  private admit(postId: string): void {
    if (!this.options.feed.connected) return;
    if (!this.candidates.delete(postId)) {
      this.candidates.add(postId);
      if (this.candidates.size > this.options.capacity)
        this.candidates.delete(this.candidates.values().next().value!);
      return;
    }
    const entry: Entry = { postId, live: false, readAt: 0 };
    let held: Promise<boolean>;
    try {
      held = this.options.feed.hold(postId);
    } catch {
      return; // not a post the feed can watch (the source answers the read itself)
    }
    this.entries.set(postId, entry);
    if (this.entries.size > this.options.capacity) this.evictOldest();
    const settle = (ok: boolean) => {
      if (this.entries.get(postId) !== entry) return; // dropped or evicted meanwhile (released there)
      if (ok) entry.live = true;
      else this.remove(entry);
    };
    held.then(settle, () => settle(false));
  }

  private touch(entry: Entry): void {
    this.entries.delete(entry.postId);
    this.entries.set(entry.postId, entry);
  }

  private evictOldest(): void {
    const oldest = this.entries.values().next().value;
    if (!oldest) return;
    this.remove(oldest);
    this.options.metrics?.evict();
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.postId);
    this.options.feed.release(entry.postId);
  }
}
