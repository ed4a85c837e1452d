import { diffCounts, LastActionOracle as Recount } from '@doubletap/likes';

describe('LastActionOracle (the recount behind verify)', () => {
  it('counts a user once per post, by their last action; repeated likes and stray unlikes change nothing', () => {
    const r = new Recount();
    const ev = (postId: string, userId: string, action: 'LIKE' | 'UNLIKE') => r.add({ postId, userId, action });
    ev('a', 'u1', 'LIKE');
    ev('a', 'u1', 'LIKE');
    ev('a', 'u2', 'UNLIKE');
    ev('a', 'u3', 'LIKE');
    ev('a', 'u3', 'UNLIKE');
    ev('b', 'u1', 'UNLIKE');
    ev('b', 'u1', 'LIKE');
    ev('c', 'u9', 'UNLIKE');
    expect(Object.fromEntries(r.counts())).toEqual({ a: 1, b: 1, c: 0 });
    expect(r.events).toBe(8);
  });

  it('restricted to some posts: those posts only, zero for a post never seen', () => {
    const r = new Recount(new Set(['a', 'z']));
    r.add({ postId: 'a', userId: 'u', action: 'LIKE' });
    r.add({ postId: 'b', userId: 'u', action: 'LIKE' });
    expect(Object.fromEntries(r.counts())).toEqual({ a: 1, z: 0 });
    expect(r.events).toBe(1);
  });

  it('diff lists every post whose served count differs, missing served = 0', () => {
    const expected = new Map([['a', 2], ['b', 0], ['c', 5], ['d', 1]]);
    const actual = new Map([['a', 2], ['b', 3], ['c', 4]]);
    expect(diffCounts(expected, actual)).toEqual([
      { postId: 'b', expected: 0, actual: 3 },
      { postId: 'c', expected: 5, actual: 4 },
      { postId: 'd', expected: 1, actual: 0 },
    ]);
  });
});
