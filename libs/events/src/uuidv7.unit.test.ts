import { uuidv7, UUID_V7_PATTERN } from '@doubletap/events';

describe('uuidv7', () => {
  it('is a version-7, variant-10 UUID carrying the time', () => {
    const id = uuidv7(1_700_000_000_000);
    expect(id).toMatch(UUID_V7_PATTERN);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBeGreaterThanOrEqual(1_700_000_000_000);
  });

  it('encodes the 48-bit millisecond timestamp exactly (zero-padded)', () => {
    const later = 2_000_000_000_000; // later than any id minted so far in this process
    const id = uuidv7(later);
    expect(id.slice(0, 13)).toBe(
      `${later.toString(16).padStart(12, '0').slice(0, 8)}-${later.toString(16).padStart(12, '0').slice(8)}`,
    );
    expect(id).toMatch(UUID_V7_PATTERN);
  });

  it('sorts in minting order, also within one millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7(1_800_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never repeats its random bits across refills of the random pool', () => {
    // 20 000 ids × 8 random bytes is ten refills of the 16 KiB pool
    const tails = Array.from({ length: 20_000 }, (_, i) => uuidv7(3_000_000_000_000 + i).slice(19));
    expect(tails.filter((t) => !/^[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(t))).toEqual([]);
    expect(new Set(tails).size).toBe(tails.length);
  });
});
