import { continuity, planTake, type TakeInput } from './take-plan';

const base: TakeInput = {
  partition: 2,
  pinned: 4,
  identity: { topic: 'likes.events', topicId: 'id-1', partitions: 4 },
  offsets: { partition: 2, low: 0, high: 100 },
  stored: undefined,
  source: undefined,
};

describe('planTake: what a task may do with a partition it was given', () => {
  it('an empty store on a log that starts at 0 catches up from 0 to the log end', () => {
    expect(planTake(base)).toEqual({ kind: 'consume', from: 0, target: 100, source: { topicId: 'id-1', partitions: 4 } });
  });

  it('a store resumes after its offset and catches up to the log end', () => {
    const plan = planTake({ ...base, stored: 41, source: { topicId: 'id-1', partitions: 4 } });
    expect(plan).toMatchObject({ kind: 'consume', from: 42, target: 100 });
  });

  it('a store at the log end is up to date (from == target)', () => {
    expect(planTake({ ...base, stored: 99, source: { topicId: 'id-1', partitions: 4 } })).toMatchObject({ from: 100, target: 100 });
  });

  it.each<[string, Partial<TakeInput>, string, RegExp]>([
    ['the topic has another partition count', { identity: { topic: 'likes.events', topicId: 'id-1', partitions: 6 } }, 'partition-count-changed', /6 partitions but 4 are pinned/],
    ['the partition is beyond the pinned count', { partition: 5, identity: { topic: 'likes.events', topicId: 'id-1', partitions: 4 } }, 'partition-count-changed', /beyond the 4 pinned/],
    ['the store was built from another topic id', { stored: 10, source: { topicId: 'id-0', partitions: 4 } }, 'topic-recreated', /topic id id-0.*now has id id-1/],
    ['the store was built when the topic had another count', { stored: 10, source: { topicId: 'id-1', partitions: 3 } }, 'partition-count-changed', /had 3 partitions/],
    ['the store is at or past the log end', { stored: 100, source: { topicId: 'id-1', partitions: 4 } }, 'store-ahead-of-log', /applied offset 100 but the log ends at 100/],
    ['records after the store were deleted', { stored: 10, source: { topicId: 'id-1', partitions: 4 }, offsets: { partition: 2, low: 50, high: 100 } }, 'log-truncated', /records 11\.\.49/],
    ['an empty store on a log that no longer starts at 0', { offsets: { partition: 2, low: 7, high: 100 } }, 'no-history', /records 0\.\.6 were deleted/],
  ])('refuses when %s', (_why, change, code, reason) => {
    const plan = planTake({ ...base, ...change });
    expect(plan.kind).toBe('refuse');
    if (plan.kind !== 'refuse') return;
    expect(plan.refusal.code).toBe(code);
    expect(plan.refusal.reason).toMatch(reason);
  });

  it('a store right at the log start continues (nothing was lost)', () => {
    const plan = planTake({ ...base, stored: 49, source: { topicId: 'id-1', partitions: 4 }, offsets: { partition: 2, low: 50, high: 100 } });
    expect(plan).toMatchObject({ kind: 'consume', from: 50 });
  });
});

describe('continuity', () => {
  it('applies a batch that continues the store, from the next offset', () => {
    expect(continuity(10, 20, 9, 0)).toEqual({ kind: 'apply', from: 10 });
    expect(continuity(5, 20, 9, 0)).toEqual({ kind: 'apply', from: 10 }); // overlaps what is applied
    expect(continuity(0, 3, undefined, 0)).toEqual({ kind: 'apply', from: 0 });
  });
  it('a batch entirely applied already is a redelivery', () => {
    expect(continuity(3, 9, 9, 0)).toEqual({ kind: 'redelivery' });
  });
  it('a batch starting after the next offset is a gap', () => {
    expect(continuity(12, 20, 9, 0)).toEqual({ kind: 'gap', expected: 10, got: 12 });
    expect(continuity(5, 9, undefined, 0)).toEqual({ kind: 'gap', expected: 0, got: 5 });
  });
});
