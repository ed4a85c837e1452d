import { formatCount } from './format-count';

describe('formatCount', () => {
  it.each([
    [0, '0'],
    [7, '7'],
    [999, '999'],
    [1000, '1,000'],
    [1234, '1,234'],
    [9999, '9,999'],
    [10_000, '10K'],
    [12_345, '12.3K'],
    [12_399, '12.3K'],
    [99_999, '99.9K'],
    [100_000, '100K'],
    [999_999, '999.9K'],
    [1_000_000, '1M'],
    [1_250_000, '1.2M'],
    [1_299_999, '1.2M'],
    [12_345_678, '12.3M'],
    [999_999_999, '999.9M'],
    [1_000_000_000, '1B'],
    [1_234_567_890, '1.2B'],
    [2_000_000_001, '2B'],
    [1_234_000_000_000, '1,234B'],
  ])('%d → %s', (n, text) => {
    expect(formatCount(n)).toBe(text);
  });

  it('never rounds up past the real count', () => {
    for (const n of [9_999, 19_999, 999_950, 1_999_999, 999_999_999]) {
      const text = formatCount(n);
      const m = /^([\d,]+(?:\.\d)?)([KMB]?)$/.exec(text)!;
      const scale = { '': 1, K: 1e3, M: 1e6, B: 1e9 }[m[2] as '' | 'K' | 'M' | 'B'];
      expect(Number(m[1].replace(/,/g, '')) * scale).toBeLessThanOrEqual(n);
    }
  });

  it('rejects what is not a count', () => {
    expect(() => formatCount(1.5)).toThrow(RangeError);
    expect(() => formatCount(Number.NaN)).toThrow(RangeError);
    expect(formatCount(-1234)).toBe('-1,234');
  });
});
