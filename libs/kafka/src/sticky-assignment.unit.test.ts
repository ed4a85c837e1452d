import { decodeClaim, encodeClaim, stickyAssignment, type MemberClaim } from './sticky-assignment';

const P12 = Array.from({ length: 12 }, (_, i) => i);
const claim = (memberId: string, owned: number[] = [], warm: Record<number, number> = {}): MemberClaim => ({
  memberId,
  owned,
  warm,
});
const sizes = (a: Map<string, number[]>) => [...a.values()].map((l) => l.length).sort();
const all = (a: Map<string, number[]>) => [...a.values()].flat().sort((x, y) => x - y);

describe('stickyAssignment', () => {
  it('a second member joining takes half, and the first keeps the other half it already owned', () => {
    const a = stickyAssignment(P12, [claim('a', P12), claim('b')]);
    expect(sizes(a)).toEqual([6, 6]);
    expect(all(a)).toEqual(P12);
    expect(a.get('a')!.every((p) => P12.includes(p))).toBe(true);
  });

  it('1 → 3 → 1: only the partitions that must move move', () => {
    const three = stickyAssignment(P12, [claim('a', P12), claim('b'), claim('c')]);
    expect(sizes(three)).toEqual([4, 4, 4]);
    expect(all(three)).toEqual(P12);
    // c leaves: a and b keep theirs, c's four are shared between them
    const two = stickyAssignment(P12, [claim('a', three.get('a')), claim('b', three.get('b'))]);
    expect(two.get('a')).toEqual(expect.arrayContaining(three.get('a')!));
    expect(two.get('b')).toEqual(expect.arrayContaining(three.get('b')!));
    expect(sizes(two)).toEqual([6, 6]);
    const one = stickyAssignment(P12, [claim('b', two.get('b'))]);
    expect(one.get('b')).toEqual(P12);
  });

  it('moved partitions go to the member whose local state of them is furthest', () => {
    // a owned everything; b and c join; c has warm copies of 9..11 (a standby), b of 0..1
    const a = stickyAssignment(P12, [
      claim('a', P12),
      claim('b', [], { 0: 50, 1: 50 }),
      claim('c', [], { 9: 900, 10: 900, 11: 900 }),
    ]);
    expect(all(a)).toEqual(P12);
    // a keeps 4 of its 12 (the lowest), the rest are placed by warmth where there is room
    expect(a.get('a')).toEqual([0, 1, 2, 3]);
    expect(a.get('c')).toEqual(expect.arrayContaining([9, 10, 11]));
  });

  it('a partition claimed by two members (an evicted one that did not know) stays with the furthest state', () => {
    const a = stickyAssignment([0, 1], [claim('a', [0, 1], { 0: 10, 1: 10 }), claim('b', [1], { 1: 20 })]);
    expect(a.get('b')).toEqual([1]);
    expect(a.get('a')).toEqual([0]);
  });

  it('is deterministic, ignores claims on partitions that no longer exist, and balances with no claims at all', () => {
    const members = [claim('x', [40]), claim('y'), claim('z')];
    const first = stickyAssignment([0, 1, 2, 3, 4], members);
    expect(stickyAssignment([0, 1, 2, 3, 4], [...members].reverse())).toEqual(first);
    expect(sizes(first)).toEqual([1, 2, 2]);
    expect(all(first)).toEqual([0, 1, 2, 3, 4]);
  });

  it('the claim survives its wire form; unreadable user data claims nothing', () => {
    expect(decodeClaim('m', encodeClaim([1, 2], { 3: 7 }))).toEqual({
      memberId: 'm',
      owned: [1, 2],
      warm: { 3: 7 },
    });
    expect(decodeClaim('m', Buffer.from('not json'))).toEqual({ memberId: 'm', owned: [], warm: {} });
    expect(decodeClaim('m', null)).toEqual({ memberId: 'm', owned: [], warm: {} });
  });
});
