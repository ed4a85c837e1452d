/** A small deterministic PRNG (mulberry32), so a load run can be repeated from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Zipf-distributed ranks 0..n-1: P(rank k) ∝ 1/(k+1)^s. The cumulative weights are computed once;
 * each sample is one binary search, so it stays cheap for a million posts.
 */
export class ZipfSampler {
  private readonly cdf: Float64Array;

  constructor(
    readonly n: number,
    readonly s: number,
    private readonly random: () => number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`Zipf n must be a positive integer (got ${n})`);
    if (!(s >= 0)) throw new Error(`Zipf exponent must be >= 0 (got ${s})`);
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += 1 / Math.pow(k + 1, s);
      this.cdf[k] = sum;
    }
    for (let k = 0; k < n; k++) this.cdf[k] /= sum;
  }

  /** The probability of rank k. */
  probability(k: number): number {
    return k === 0 ? this.cdf[0] : this.cdf[k] - this.cdf[k - 1];
  }

  next(): number {
    const u = this.random();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
