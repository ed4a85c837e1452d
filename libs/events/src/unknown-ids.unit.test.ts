import { UnknownSchemaIds } from '@doubletap/events';

describe('UnknownSchemaIds: a 404 proves an id unknown only when it persists over the grace period', () => {
  let t = 0;
  const now = () => t;
  beforeEach(() => {
    t = 1_000_000;
  });

  it('needs both the attempts and the time span', () => {
    const ids = new UnknownSchemaIds({ attempts: 3, graceMs: 10_000, recheckMs: 1_000 }, now);
    expect(ids.notFound(7)).toMatchObject({ unknown: false, attempts: 1, sinceFirstMs: 0 });
    t += 10_000;
    expect(ids.notFound(7)).toMatchObject({ unknown: false, attempts: 2 }); // long enough, too few
    t += 1;
    expect(ids.notFound(7)).toMatchObject({ unknown: true, attempts: 3, sinceFirstMs: 10_001 });
    expect(ids.isUnknown(7)).toBe(true);
    expect(ids.isUnknown(8)).toBe(false);

    const quick = new UnknownSchemaIds({ attempts: 3, graceMs: 10_000, recheckMs: 0 }, now);
    for (let i = 0; i < 50; i++) expect(quick.notFound(9).unknown).toBe(false); // many, too soon
    t += 9_999;
    expect(quick.notFound(9).unknown).toBe(false);
    t += 1;
    expect(quick.notFound(9).unknown).toBe(true);
  });

  it('asks again only after recheckMs while in grace', () => {
    const ids = new UnknownSchemaIds({ attempts: 3, graceMs: 10_000, recheckMs: 1_000 }, now);
    expect(ids.checkedRecently(7)).toBe(false);
    ids.notFound(7);
    expect(ids.checkedRecently(7)).toBe(true);
    t += 999;
    expect(ids.checkedRecently(7)).toBe(true);
    t += 1;
    expect(ids.checkedRecently(7)).toBe(false);
  });

  it('starts the grace over when the registry serves the id after all', () => {
    const ids = new UnknownSchemaIds({ attempts: 2, graceMs: 10_000, recheckMs: 0 }, now);
    ids.notFound(7);
    t += 9_000;
    ids.found(7);
    t += 2_000;
    expect(ids.notFound(7)).toMatchObject({ unknown: false, attempts: 1, sinceFirstMs: 0 });
  });

  it('bounds both memories, forgetting the least recently used id', () => {
    const ids = new UnknownSchemaIds({ attempts: 1, graceMs: 0, recheckMs: 0, capacity: 2 }, now);
    for (const id of [1, 2]) expect(ids.notFound(id).unknown).toBe(true);
    expect(ids.isUnknown(1)).toBe(true); // 1 is now the most recently used
    ids.notFound(3);
    expect([ids.isUnknown(1), ids.isUnknown(2), ids.isUnknown(3)]).toEqual([true, false, true]);
    expect(ids.sizes.proven).toBe(2);

    const pending = new UnknownSchemaIds({ attempts: 5, graceMs: 0, recheckMs: 0, capacity: 3 }, now);
    for (let id = 0; id < 100; id++) pending.notFound(id);
    expect(pending.sizes).toEqual({ pending: 3, proven: 0 });
  });

  it('refuses a policy that could never or always decide', () => {
    expect(() => new UnknownSchemaIds({ attempts: 0 })).toThrow(/policy/);
    expect(() => new UnknownSchemaIds({ capacity: 0 })).toThrow(/policy/);
    expect(() => new UnknownSchemaIds({ graceMs: -1 })).toThrow(/policy/);
  });
});
