import { LiveSubscription } from './live-counts';

const update = (count: number, asOf: number | null) => ({ postId: 'p1', count, asOf });

describe('LiveSubscription (latest value wins)', () => {
  it('keeps only the newest pending update for a slow viewer', async () => {
    const sub = new LiveSubscription('p1', () => undefined);
    for (let i = 1; i <= 10_000; i++) sub.offer(update(i, 1000 + i));
    expect(sub.pending).toEqual(update(10_000, 11_000));
    expect(sub.superseded).toBe(9_999);
    await expect(sub.next()).resolves.toEqual(update(10_000, 11_000));
    expect(sub.pending).toBeUndefined();
  });

  it('ignores updates that are not newer than one already offered', async () => {
    const sub = new LiveSubscription('p1', () => undefined);
    expect(sub.offer(update(5, 200))).toBe(true);
    await sub.next();
    expect(sub.offer(update(4, 100))).toBe(false); // a late snapshot read
    expect(sub.offer(update(5, 200))).toBe(false); // the same message twice
    expect(sub.pending).toBeUndefined();
    expect(sub.offer(update(6, 201))).toBe(true);
  });

  it('accepts a first snapshot of an unknown post (asOf null) and any real update after it', () => {
    const sub = new LiveSubscription('p1', () => undefined);
    expect(sub.offer(update(0, null))).toBe(true);
    expect(sub.offer(update(1, 5))).toBe(true);
    expect(sub.pending).toEqual(update(1, 5));
  });

  it('hands an update straight to a waiting reader, and ends iteration on close', async () => {
    let closedWith: LiveSubscription | undefined;
    const sub = new LiveSubscription('p1', (s) => (closedWith = s));
    const waiting = sub.next();
    sub.offer(update(1, 1));
    await expect(waiting).resolves.toEqual(update(1, 1));
    const seen: number[] = [];
    const loop = (async () => {
      for await (const u of sub) seen.push(u.count);
    })();
    sub.offer(update(2, 2));
    await new Promise((r) => setImmediate(r));
    sub.close();
    await loop;
    expect(seen).toEqual([2]);
    expect(closedWith).toBe(sub);
    expect(sub.offer(update(3, 3))).toBe(false);
    await expect(sub.next()).resolves.toBeNull();
  });
});
