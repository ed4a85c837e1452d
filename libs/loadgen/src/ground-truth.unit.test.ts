import { GroundTruth } from './ground-truth';

describe('GroundTruth', () => {
  it('counts a user when their last accepted action is LIKE; double taps count once', () => {
    const t = new GroundTruth();
    t.begin('p', 'a', 'LIKE').settle('accepted');
    t.begin('p', 'a', 'LIKE').settle('accepted');
    t.begin('p', 'b', 'LIKE').settle('accepted');
    t.begin('p', 'b', 'UNLIKE').settle('accepted');
    t.begin('p', 'c', 'UNLIKE').settle('accepted');
    t.begin('q', 'a', 'LIKE').settle('accepted');
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 1, hi: 1 });
    expect(t.expected('q')).toEqual({ postId: 'q', lo: 1, hi: 1 });
    expect(t.postIds().sort()).toEqual(['p', 'q']);
    expect(t.uncertainPairs()).toBe(0);
  });

  it('a refusal (4xx, never sent) applies nothing', () => {
    const t = new GroundTruth();
    t.begin('p', 'a', 'LIKE').settle('rejected');
    t.begin('p', 'b', 'LIKE').settle('accepted');
    t.begin('p', 'b', 'UNLIKE').settle('rejected');
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 1, hi: 1 });
  });

  it('overlapping double taps stay certain', () => {
    const t = new GroundTruth();
    const first = t.begin('p', 'a', 'LIKE');
    const second = t.begin('p', 'a', 'LIKE');
    second.settle('accepted');
    first.settle('accepted');
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 1, hi: 1 });
  });

  it('a LIKE racing an UNLIKE of the same pair is uncertain until a later request settles it', () => {
    const t = new GroundTruth();
    const like = t.begin('p', 'a', 'LIKE');
    const unlike = t.begin('p', 'a', 'UNLIKE');
    like.settle('accepted');
    unlike.settle('accepted');
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 0, hi: 1 });
    expect(t.uncertainPairs()).toBe(1);
    t.begin('p', 'a', 'LIKE').settle('accepted'); // sent after both were answered: last in the log
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 1, hi: 1 });
  });

  it('an unknown outcome (503, timeout) makes the pair uncertain for good, unless it is a no-op so far', () => {
    const t = new GroundTruth();
    t.begin('p', 'a', 'LIKE').settle('unknown');
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 0, hi: 1 });
    t.begin('p', 'a', 'UNLIKE').settle('accepted'); // the unknown LIKE may still land after it
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 0, hi: 1 });

    t.begin('p', 'b', 'LIKE').settle('accepted');
    t.begin('p', 'b', 'LIKE').settle('unknown'); // liked either way
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 1, hi: 2 });
  });

  it('the visible floor subtracts UNLIKEs dispatched and not yet answered', () => {
    const t = new GroundTruth();
    t.begin('p', 'a', 'LIKE').settle('accepted');
    t.begin('p', 'b', 'LIKE').settle('accepted');
    const unlike = t.begin('p', 'a', 'UNLIKE');
    expect(t.visibleFloor('p')).toBe(2); // still queued in the client: cannot be in the log
    unlike.dispatched();
    expect(t.visibleFloor('p')).toBe(1);
    unlike.settle('accepted');
    expect(t.visibleFloor('p')).toBe(1);
    expect(t.visibleFloor('unknown-post')).toBe(0);
  });

  it('settling twice counts once', () => {
    const t = new GroundTruth();
    const request = t.begin('p', 'a', 'LIKE');
    request.settle('accepted');
    request.settle('accepted');
    expect(t.expected('p')).toEqual({ postId: 'p', lo: 1, hi: 1 });
  });
});
