import { rng, ZipfSampler } from './random';

describe('ZipfSampler', () => {
  it('draws rank k with probability ∝ 1/(k+1)^s', () => {
    const z = new ZipfSampler(100, 1, rng(42));
    const h = 1 / Array.from({ length: 100 }, (_, k) => 1 / (k + 1)).reduce((a, b) => a + b);
    expect(z.probability(0)).toBeCloseTo(h);
    expect(z.probability(9)).toBeCloseTo(h / 10);
    const n = 200_000;
    const counts = new Array<number>(100).fill(0);
    for (let i = 0; i < n; i++) counts[z.next()]++;
    expect(counts[0] / n).toBeCloseTo(z.probability(0), 2);
    expect(counts[1] / n).toBeCloseTo(z.probability(1), 2);
    expect(counts[9] / n).toBeCloseTo(z.probability(9), 2);
    expect(counts.every((c) => c > 0)).toBe(true);
  });

  it('s = 0 is uniform; every draw is a valid rank', () => {
    const z = new ZipfSampler(4, 0, rng(1));
    for (let k = 0; k < 4; k++) expect(z.probability(k)).toBeCloseTo(0.25);
    for (let i = 0; i < 1000; i++) expect([0, 1, 2, 3]).toContain(z.next());
  });

  it('is deterministic from its seed and rejects bad parameters', () => {
    const a = new ZipfSampler(1000, 1.2, rng(7));
    const b = new ZipfSampler(1000, 1.2, rng(7));
    expect(Array.from({ length: 50 }, () => a.next())).toEqual(Array.from({ length: 50 }, () => b.next()));
    expect(() => new ZipfSampler(0, 1, rng(1))).toThrow(/positive integer/);
    expect(() => new ZipfSampler(10, -1, rng(1))).toThrow(/>= 0/);
  });
});
