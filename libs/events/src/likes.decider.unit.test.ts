import { applyBatch, evolve, type LikeAction, type LikeEvent } from '@doubletap/events';

// given / when / then over the pure likes logic
const given = (member: boolean) => ({
  when: (action: LikeAction) => ({
    then: (expected: { member: boolean; delta: number }) => {
      const { state, delta } = evolve({ member }, action);
      expect({ member: state.member, delta }).toEqual(expected);
    },
  }),
});

const ev = (postId: string, userId: string, action: LikeAction): LikeEvent => ({
  eventId: '0190b6a8-0000-7000-8000-000000000000',
  postId,
  userId,
  action,
  occurredAt: 0,
});

describe('likes decider', () => {
  it('a like from a non-member adds one', () => given(false).when('LIKE').then({ member: true, delta: 1 }));
  it('a second like (double tap) changes nothing', () =>
    given(true).when('LIKE').then({ member: true, delta: 0 }));
  it('an unlike of a member removes one', () =>
    given(true).when('UNLIKE').then({ member: false, delta: -1 }));
  it('an unlike of a non-member changes nothing', () =>
    given(false).when('UNLIKE').then({ member: false, delta: 0 }));

  it('applies a batch in order, each event seeing the ones before it', () => {
    const out = applyBatch(
      [
        ev('p', 'a', 'LIKE'),
        ev('p', 'a', 'LIKE'),
        ev('p', 'b', 'LIKE'),
        ev('p', 'a', 'UNLIKE'),
        ev('q', 'c', 'UNLIKE'),
      ],
      new Map(),
    );
    expect(out.deltas).toEqual(new Map([['p', 1]]));
    expect(out.membership.get('p/a')).toBe(false);
    expect(out.membership.get('p/b')).toBe(true);
    expect(out.noOps).toBe(2);
    expect([...out.touchedPosts].sort()).toEqual(['p', 'q']);
  });

  it('starts from the stored membership', () => {
    const out = applyBatch(
      [ev('p', 'a', 'LIKE'), ev('p', 'b', 'UNLIKE')],
      new Map([
        ['p/a', true],
        ['p/b', true],
      ]),
    );
    expect(out.deltas).toEqual(new Map([['p', -1]]));
    expect(out.noOps).toBe(1);
  });

  it('drops posts whose changes cancel out', () => {
    const out = applyBatch([ev('p', 'a', 'LIKE'), ev('p', 'a', 'UNLIKE')], new Map());
    expect(out.deltas.size).toBe(0);
    expect(out.touchedPosts.has('p')).toBe(true);
  });

  it('matches the last-action ground truth and replays to no change (random input)', () => {
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const events = Array.from({ length: 2000 }, () =>
      ev(`p${rnd(5)}`, `u${rnd(50)}`, rnd(3) === 0 ? 'UNLIKE' : 'LIKE'),
    );
    const first = applyBatch(events, new Map());
    // ground truth: last action per (post,user)
    const last = new Map<string, LikeAction>();
    for (const e of events) last.set(`${e.postId}/${e.userId}`, e.action);
    const truth = new Map<string, number>();
    for (const [k, a] of last)
      if (a === 'LIKE') truth.set(k.split('/')[0], (truth.get(k.split('/')[0]) ?? 0) + 1);
    expect(Object.fromEntries(first.deltas)).toEqual(Object.fromEntries(truth));
    // the final membership is the last action per key, so replaying from it nets zero per post
    const replay = applyBatch(events, first.membership);
    expect(replay.deltas.size).toBe(0);
  });
});
