import type { GroundTruth } from './ground-truth';
import type { CountSource } from './read-side';

export interface Mismatch {
  postId: string;
  /** what the read side shows */
  count: number;
  /** the ground truth: exact when lo === hi */
  lo: number;
  hi: number;
}

export interface CheckResult {
  /** every post's count is within its ground truth */
  ok: boolean;
  posts: number;
  /** posts whose expected count is one number (no uncertain pair) */
  exactPosts: number;
  uncertainPairs: number;
  /** how many posts differ */
  mismatchCount: number;
  /** the first `limit` of them */
  mismatches: Mismatch[];
  /** how long it waited for the pipeline to catch up */
  waitedMs: number;
  source: string;
}

/**
 * Waits for the pipeline to catch up, then compares every post's count with the ground truth.
 * Counts are re-read every pollMs until they all match or waitMs passes; what still differs then is
 * reported (at most `limit` mismatches listed, all counted).
 */
export async function checkCounts(
  source: CountSource,
  truth: GroundTruth,
  options: { waitMs: number; pollMs?: number; limit?: number },
): Promise<CheckResult> {
  const started = Date.now();
  const postIds = truth.postIds();
  const expected = postIds.map((p) => truth.expected(p));
  let mismatches: Mismatch[] = [];
  for (;;) {
    let counts: Map<string, number>;
    try {
      counts = await source.counts(postIds);
    } catch (e) {
      // a read side that refuses while it heals (503) or restarts: ask again until the wait is over
      if (Date.now() - started >= options.waitMs) throw e;
      await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
      continue;
    }
    mismatches = [];
    for (const e of expected) {
      const count = counts.get(e.postId) ?? 0;
      if (count < e.lo || count > e.hi) mismatches.push({ postId: e.postId, count, lo: e.lo, hi: e.hi });
    }
    if (mismatches.length === 0 || Date.now() - started >= options.waitMs) break;
    await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
  }
  return {
    ok: mismatches.length === 0,
    posts: postIds.length,
    exactPosts: expected.filter((e) => e.lo === e.hi).length,
    uncertainPairs: truth.uncertainPairs(),
    mismatchCount: mismatches.length,
    mismatches: mismatches.slice(0, options.limit ?? 20),
    waitedMs: Date.now() - started,
    source: source.name,
  };
}
