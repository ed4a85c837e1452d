import {
  countKey,
  decide,
  delta,
  diffCounts,
  evolve,
  expectedCounts,
  foldBatch,
  homePartition,
  isLikeKey,
  isValidId,
  LastActionOracle,
  likeKey,
  murmur2,
  newestPerPartition,
  parseLikeKey,
  partitionForKey,
  supersedes,
  totalOf,
  type KnownState,
  type LikeAction,
  type LikeFact,
} from '@doubletap/likes';
import { randomHistory, seededRandom } from './testing';

const ev = (postId: string, userId: string, action: LikeAction): LikeFact => ({ postId, userId, action });

// given / when / then over the decider
const given = (member: boolean) => ({
  when: (action: LikeAction) => ({
    then: (expected: { member: boolean; delta: number; events: number }) => {
      expect({
        member: evolve(member, { action }),
        delta: delta(member, { action }),
        events: decide({ action, postId: 'p', userId: 'u' }, member).length,
      }).toEqual(expected);
    },
  }),
});

describe('the likes decider', () => {
  it('a like from a non-member adds one', () => given(false).when('LIKE').then({ member: true, delta: 1, events: 1 }));
  it('a second like (double tap) changes nothing', () => given(true).when('LIKE').then({ member: true, delta: 0, events: 0 }));
  it('an unlike of a member removes one', () => given(true).when('UNLIKE').then({ member: false, delta: -1, events: 1 }));
  it('an unlike of a non-member changes nothing', () =>
    given(false).when('UNLIKE').then({ member: false, delta: 0, events: 0 }));
});

describe('keys and routing', () => {
  it('isLikeKey says whether a key is the likeKey of (post, user) without building it', () => {
    expect(isLikeKey('post_1/user-2', 'post_1', 'user-2')).toBe(true);
    const others = ['post_1/user-', 'post_1/user-22', 'post_1-user-2', 'post_/1user-2', 'post_1/user-2/'];
    for (const key of [null, ...others, 'xpost_1/user-2', 'post_1//user-2'])
      expect(isLikeKey(key, 'post_1', 'user-2')).toBe(false);
  });

  it('likeKey and parseLikeKey round-trip, countKey names post and partition', () => {
    expect(parseLikeKey(likeKey('post_1', 'user-2'))).toEqual({ postId: 'post_1', userId: 'user-2' });
    expect(parseLikeKey('no-slash')).toBeUndefined();
    expect(parseLikeKey('a/b/c')).toBeUndefined();
    expect(parseLikeKey('/b')).toBeUndefined();
    expect(countKey('p', 7)).toBe('p/7');
  });

  it('ids are 1-64 of A-Z a-z 0-9 _ -', () => {
    expect(isValidId('a'.repeat(64))).toBe(true);
    expect(isValidId('a'.repeat(65))).toBe(false);
    expect(isValidId('a/b')).toBe(false);
    expect(isValidId('')).toBe(false);
    expect(isValidId(7)).toBe(false);
  });

  it("murmur2 gives the Java client's values (the vectors of Kafka's own UtilsTest)", () => {
    const vectors: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [text, hash] of vectors) expect(murmur2(Buffer.from(text))).toBe(hash);
    expect(partitionForKey('foobar', 12)).toBe((-790332482 & 0x7fffffff) % 12);
    expect(homePartition('p', 'u', 12)).toBe(partitionForKey('p/u', 12));
    const spread = new Set(Array.from({ length: 500 }, (_, i) => homePartition('viral', `u${i}`, 12)));
    expect(spread.size).toBe(12); // one hot post spreads over every partition
  });
});

describe('foldBatch', () => {
  const empty: KnownState = { membership: new Map(), counts: new Map() };

  it('applies a batch in order, each event seeing the ones before it', () => {
    const out = foldBatch(
      empty,
      [ev('p', 'a', 'LIKE'), ev('p', 'a', 'LIKE'), ev('p', 'b', 'LIKE'), ev('p', 'a', 'UNLIKE'), ev('q', 'c', 'UNLIKE')],
      3,
      41,
    );
    expect(out.edits).toEqual(new Map([['p/b', true]]));
    expect(out.counts).toEqual(new Map([['p', 1]]));
    expect(out.applied).toBe(3);
    expect(out.noOps).toBe(2);
    // a CountChanged for every TOUCHED post, changed or not, stamped with the batch's last offset
    expect(out.changes).toEqual([
      { postId: 'p', partition: 3, count: 1, sourceOffset: 41 },
      { postId: 'q', partition: 3, count: 0, sourceOffset: 41 },
    ]);
  });

  it('starts from the stored membership and counts', () => {
    const known: KnownState = {
      membership: new Map([
        ['p/a', true],
        ['p/b', true],
      ]),
      counts: new Map([['p', 5]]),
    };
    const out = foldBatch(known, [ev('p', 'a', 'LIKE'), ev('p', 'b', 'UNLIKE')], 0, 9);
    expect(out.edits).toEqual(new Map([['p/b', false]]));
    expect(out.counts).toEqual(new Map([['p', 4]]));
    expect(out.changes).toEqual([{ postId: 'p', partition: 0, count: 4, sourceOffset: 9 }]);
  });

  it('a like and its unlike in one batch write nothing but still report the post', () => {
    const out = foldBatch(empty, [ev('p', 'a', 'LIKE'), ev('p', 'a', 'UNLIKE')], 0, 1);
    expect(out.edits.size).toBe(0);
    expect(out.counts.size).toBe(0);
    expect(out.changes).toEqual([{ postId: 'p', partition: 0, count: 0, sourceOffset: 1 }]);
  });

  it('with the keys passed in (built once per event by the caller) folds exactly as without them', () => {
    for (const seed of [11, 12]) {
      const history = randomHistory(seed, 2000, 5, 60);
      const keys = history.map((e) => likeKey(e.postId, e.userId));
      const known: KnownState = {
        membership: new Map([[keys[0], true]]),
        counts: new Map([[history[0].postId, 1]]),
      };
      expect(foldBatch(known, history, 2, 99, keys)).toEqual(foldBatch(known, history, 2, 99));
    }
    expect(() => foldBatch(empty, [ev('p', 'a', 'LIKE')], 0, 0, [])).toThrow(/keys/);
  });

  it('refuses a state that would go negative (a corrupt store)', () => {
    const known: KnownState = { membership: new Map([['p/a', true]]), counts: new Map() };
    expect(() => foldBatch(known, [ev('p', 'a', 'UNLIKE')], 0, 0)).toThrow(/negative/);
  });

  it('folding a random history in random batches equals the oracle, and replay changes nothing', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const history = randomHistory(seed, 3000, 6, 80);
      const rnd = seededRandom(seed * 7);
      const membership = new Map<string, boolean>();
      const counts = new Map<string, number>();
      for (let i = 0; i < history.length; ) {
        const batch = history.slice(i, (i += 1 + rnd(400)));
        const out = foldBatch({ membership, counts }, batch, 0, i - 1);
        for (const [k, m] of out.edits) if (m) membership.set(k, true);
        else membership.delete(k);
        for (const [p, c] of out.counts) counts.set(p, c);
      }
      const truth = expectedCounts(history);
      expect(diffCounts(truth, counts)).toEqual([]);
      // the final membership is the last action per key: replaying the history onto it nets nothing
      const replay = foldBatch({ membership, counts }, history, 0, history.length);
      expect(replay.edits.size).toBe(0);
      expect(replay.counts.size).toBe(0);
    }
  });
});

describe('the CountChanged merge rule', () => {
  it('the highest source offset wins; equal offsets only in rebuild mode', () => {
    expect(supersedes({ count: 1, sourceOffset: 5 }, undefined)).toBe(true);
    expect(supersedes({ count: 1, sourceOffset: 5 }, { count: 9, sourceOffset: 4 })).toBe(true);
    expect(supersedes({ count: 1, sourceOffset: 4 }, { count: 9, sourceOffset: 5 })).toBe(false);
    expect(supersedes({ count: 1, sourceOffset: 5 }, { count: 9, sourceOffset: 5 })).toBe(false);
    expect(supersedes({ count: 1, sourceOffset: 5 }, { count: 9, sourceOffset: 5 }, true)).toBe(true);
  });

  it('of equal offsets in one batch the first survives live, the last in rebuild mode', () => {
    const a = { postId: 'p', partition: 0, count: 1, sourceOffset: 7 };
    const b = { postId: 'p', partition: 0, count: 2, sourceOffset: 7 };
    const old = { postId: 'p', partition: 0, count: 3, sourceOffset: 6 };
    expect(newestPerPartition([a, old, b]).get('p')!.get(0)).toBe(a);
    expect(newestPerPartition([a, old, b], true).get('p')!.get(0)).toBe(b);
  });

  it('a total is the sum of the partials', () => {
    expect(totalOf([{ count: 2, sourceOffset: 1 }, { count: 5, sourceOffset: 9 }])).toBe(7);
  });
});

describe('the oracle', () => {
  it('counts users whose last action is LIKE, and only the posts asked for', () => {
    const o = new LastActionOracle(new Set(['p', 'z']));
    o.addAll([ev('p', 'a', 'LIKE'), ev('p', 'b', 'LIKE'), ev('p', 'a', 'UNLIKE'), ev('q', 'a', 'LIKE')]);
    expect(o.counts()).toEqual(new Map([['p', 1], ['z', 0]]));
    expect(o.likes('p', 'b')).toBe(true);
    expect(o.likes('p', 'a')).toBe(false);
  });
});
