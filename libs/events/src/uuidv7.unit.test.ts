import { uuidv7, UUID_V7_PATTERN } from '@doubletap/events';

describe('uuidv7', () => {
  it('is a version-7, variant-10 UUID carrying the time', () => {
    const id = uuidv7(1_700_000_000_000);
    expect(id).toMatch(UUID_V7_PATTERN);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBeGreaterThanOrEqual(1_700_000_000_000);
  });

  it('sorts in minting order, also within one millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7(1_800_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
