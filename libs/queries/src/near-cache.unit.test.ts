import type { CountSnapshot } from '@doubletap/redis';
import { type CountFeed, type CountSource, NearCache } from './near-cache';

/** The read side as a map; each read can be held back to interleave changes with it. */
class FakeSource implements CountSource {
  readonly values = new Map<string, CountSnapshot>();
  reads = 0;
  gate?: Promise<void>;

  set(postId: string, count: number, asOf: number): CountSnapshot {
    const v = { postId, count, asOf };
    this.values.set(postId, v);
    return v;
  }

  async count(postId: string): Promise<CountSnapshot> {
    this.reads++;
    const v = this.values.get(postId) ?? { postId, count: 0, asOf: null };
    await this.gate;
    return v;
  }

  async counts(postIds: readonly string[]): Promise<CountSnapshot[]> {
    const unique = [...new Set(postIds)];
    if (unique.length > 100) throw new Error('too many');
    this.reads++;
    const vs = unique.map((p) => this.values.get(p) ?? { postId: p, count: 0, asOf: null });
    await this.gate;
    return vs;
  }
}

/** Holds confirmed when the test says so. */
class FakeFeed implements CountFeed {
  connected = true;
  readonly held = new Map<string, number>();
  private readonly pending: ((ok: boolean) => void)[] = [];

  hold(postId: string): Promise<boolean> {
    this.held.set(postId, (this.held.get(postId) ?? 0) + 1);
    return new Promise((r) => this.pending.push(r));
  }

  release(postId: string): void {
    const n = (this.held.get(postId) ?? 0) - 1;
    if (n > 0) this.held.set(postId, n);
    else this.held.delete(postId);
  }

  async confirm(ok = true): Promise<void> {
    this.pending.splice(0).forEach((r) => r(ok));
    await flush();
  }
}

const flush = () => new Promise((r) => setImmediate(r));

function setup(options: { capacity?: number; maxAgeMs?: number } = {}) {
  const source = new FakeSource();
  const feed = new FakeFeed();
  let t = 1_000;
  const events: string[] = [];
  const cache = new NearCache({
    source,
    feed,
    capacity: options.capacity ?? 10,
    maxAgeMs: options.maxAgeMs ?? 60_000,
    now: () => t,
    metrics: {
      hit: (n) => events.push(`hit ${n}`),
      miss: (kind, n) => events.push(`miss ${kind} ${n}`),
      drop: (reason, n) => events.push(`drop ${reason} ${n}`),
      evict: () => events.push('evict'),
    },
  });
  return { source, feed, cache, events, advance: (ms: number) => (t += ms) };
}

/** Two misses admit the post; the hold is confirmed; the third read fills it; from then on hits. */
async function warm(s: ReturnType<typeof setup>, postId: string): Promise<void> {
  await s.cache.count(postId);
  await s.cache.count(postId);
  await s.feed.confirm();
  await s.cache.count(postId);
}

describe('NearCache (counts of hot posts, exact and current)', () => {
  it('admits a post on its second miss, stores only reads sent after the hold was confirmed, then answers from memory', async () => {
    const s = setup();
    s.source.set('p', 5, 10);
    expect(await s.cache.count('p')).toMatchObject({ count: 5 });
    expect(s.feed.held.size).toBe(0); // one read of a cold post costs no subscription
    expect(await s.cache.count('p')).toMatchObject({ count: 5 });
    expect(s.feed.held.get('p')).toBe(1);
    expect(await s.cache.count('p')).toMatchObject({ count: 5 }); // hold not confirmed: read, not stored
    expect(s.source.reads).toBe(3);
    await s.feed.confirm();
    await s.cache.count('p');
    expect(s.source.reads).toBe(4);
    s.source.set('p', 99, 11); // a write the feed did not announce: the cache does not see it
    expect(await s.cache.count('p')).toEqual({ postId: 'p', count: 5, asOf: 10 });
    expect(s.source.reads).toBe(4);
    expect(s.events.filter((e) => e.startsWith('hit'))).toEqual(['hit 1']);
  });

  it('a change heard while a fill read is in flight wins over the older value the read returns', async () => {
    const s = setup();
    s.source.set('p', 1, 10);
    await s.cache.count('p');
    await s.cache.count('p');
    await s.feed.confirm();
    let open!: () => void;
    s.source.gate = new Promise((r) => (open = r));
    const reading = s.cache.count('p'); // read sent: sees asOf 10
    const joined = s.cache.count('p'); // concurrent miss: shares the read
    s.cache.change({ postId: 'p', count: 2, asOf: 11 }); // heard before the reply
    open();
    expect(await reading).toEqual({ postId: 'p', count: 2, asOf: 11 });
    expect(await joined).toEqual({ postId: 'p', count: 2, asOf: 11 });
    expect(s.source.reads).toBe(3);
    s.source.gate = undefined;
    expect(await s.cache.count('p')).toEqual({ postId: 'p', count: 2, asOf: 11 });
    expect(s.source.reads).toBe(3);
  });

  it('a read that starts after a change was heard never gets the older value of a fill sent before it', async () => {
    const s = setup({ maxAgeMs: 1000 }); // a value only heard, never read, counts as read at 0: expired
    s.source.set('p', 1, 10);
    await s.cache.count('p');
    await s.cache.count('p');
    await s.feed.confirm();
    let open!: () => void;
    s.source.gate = new Promise((r) => (open = r));
    const first = s.cache.count('p'); // fill sent: will answer asOf 10
    s.cache.change({ postId: 'p', count: 2, asOf: 11 }); // heard while it is out
    const later = s.cache.count('p'); // starts after the change was heard
    open();
    expect(await later).toEqual({ postId: 'p', count: 2, asOf: 11 });
    expect(await first).toEqual({ postId: 'p', count: 2, asOf: 11 });
  });

  it('changes move a cached value forward only (by asOf), and only for held posts', async () => {
    const s = setup();
    s.source.set('p', 3, 20);
    await warm(s, 'p');
    s.cache.change({ postId: 'p', count: 4, asOf: 21 });
    s.cache.change({ postId: 'p', count: 1, asOf: 19 }); // late duplicate of an older change
    expect(await s.cache.count('p')).toEqual({ postId: 'p', count: 4, asOf: 21 });
    s.cache.change({ postId: 'q', count: 7, asOf: 5 }); // not held: nothing cached
    expect(await s.cache.count('q')).toEqual({ postId: 'q', count: 0, asOf: null });
  });

  it('a change heard before the hold was confirmed is not trusted; the read after confirmation is', async () => {
    const s = setup();
    s.source.set('p', 1, 10);
    await s.cache.count('p');
    await s.cache.count('p');
    s.cache.change({ postId: 'p', count: 50, asOf: 999 }); // hold pending: ignored
    await s.feed.confirm();
    expect(await s.cache.count('p')).toEqual({ postId: 'p', count: 1, asOf: 10 });
  });

  it('a gap drops everything (holds released); a read in flight across the gap is answered but not stored', async () => {
    const s = setup();
    s.source.set('p', 1, 10);
    s.source.set('q', 2, 10);
    await warm(s, 'p');
    await warm(s, 'q');
    expect(s.cache.size).toBe(2);
    s.cache.gap('subscriber connection lost');
    expect(s.cache.size).toBe(0);
    expect(s.feed.held.size).toBe(0);
    expect(s.events).toContain('drop subscriber connection lost 2');
    s.source.set('p', 8, 12); // changed while nobody listened
    expect(await s.cache.count('p')).toMatchObject({ count: 8 });

    // re-admitted; a fill read crosses a gap
    await s.cache.count('p');
    await s.feed.confirm();
    let open!: () => void;
    s.source.gate = new Promise((r) => (open = r));
    const reading = s.cache.count('p');
    s.cache.gap('read side switched to generation:1');
    open();
    expect(await reading).toMatchObject({ count: 8 });
    s.source.gate = undefined;
    s.source.set('p', 3, 5); // the new generation's value
    expect(await s.cache.count('p')).toEqual({ postId: 'p', count: 3, asOf: 5 });
  });

  it('a hold the feed cannot confirm is given back; with the feed down nothing is admitted', async () => {
    const s = setup();
    await s.cache.count('p');
    await s.cache.count('p');
    await s.feed.confirm(false);
    expect(s.feed.held.size).toBe(0);
    expect(s.cache.size).toBe(0);
    s.feed.connected = false;
    await s.cache.count('r');
    await s.cache.count('r');
    expect(s.feed.held.size).toBe(0);
    expect(s.events.filter((e) => e.startsWith('miss bypass'))).toHaveLength(2);
  });

  it('beyond capacity the least recently used post is evicted and released', async () => {
    const s = setup({ capacity: 2 });
    for (const p of ['a', 'b']) await warm(s, p);
    await s.cache.count('a'); // a is now the most recent
    await warm(s, 'c');
    expect([...s.feed.held.keys()].sort()).toEqual(['a', 'c']);
    expect(s.events).toContain('evict');
  });

  it('a value read longer than maxAgeMs ago is read again, and replaced even if the new read is not newer', async () => {
    const s = setup({ maxAgeMs: 1000 });
    s.source.set('p', 5, 10);
    await warm(s, 'p');
    s.source.set('p', 7, 3); // e.g. written by hand, no announcement
    s.advance(999);
    expect(await s.cache.count('p')).toMatchObject({ count: 5 });
    s.advance(1);
    expect(await s.cache.count('p')).toMatchObject({ count: 7 });
    expect(s.events).toContain('miss expired 1');
  });

  it('counts(): a batch re-read after maxAgeMs replaces the value even if not newer, unless the feed delivered a newer one meanwhile', async () => {
    const s = setup({ maxAgeMs: 1000 });
    s.source.set('p', 5, 10);
    s.source.set('q', 1, 10);
    await warm(s, 'p');
    await warm(s, 'q');
    s.source.set('p', 7, 10); // written by hand: same asOf, no announcement
    s.advance(1000);
    let open: () => void = () => undefined;
    s.source.gate = new Promise<void>((r) => (open = r));
    const reading = s.cache.counts(['p', 'q']);
    await flush();
    s.cache.change({ postId: 'q', count: 2, asOf: 11 }); // heard while the batch read is out
    open();
    s.source.gate = undefined;
    expect((await reading).map((v) => [v.postId, v.count])).toEqual([
      ['p', 7],
      ['q', 2],
    ]);
    expect((await s.cache.counts(['p', 'q'])).map((v) => v.count)).toEqual([7, 2]);
  });

  it('counts(): hits from memory, the misses in one source call, order of first appearance, errors of the source kept', async () => {
    const s = setup();
    s.source.set('a', 1, 1);
    s.source.set('b', 2, 1);
    await warm(s, 'a');
    const reads = s.source.reads;
    expect((await s.cache.counts(['b', 'a', 'b', 'c'])).map((v) => [v.postId, v.count])).toEqual([
      ['b', 2],
      ['a', 1],
      ['c', 0],
    ]);
    expect(s.source.reads).toBe(reads + 1);
    await expect(
      s.cache.counts(Array.from({ length: 101 }, (_, i) => (i === 0 ? 'a' : `x${i}`))),
    ).rejects.toThrow('too many');
    // a batch read stores what it read for posts held and confirmed before it was sent
    await s.cache.counts(['b']);
    await s.feed.confirm();
    await s.cache.counts(['b']);
    const before = s.source.reads;
    expect(await s.cache.counts(['a', 'b'])).toEqual([
      { postId: 'a', count: 1, asOf: 1 },
      { postId: 'b', count: 2, asOf: 1 },
    ]);
    expect(s.source.reads).toBe(before);
  });
});
