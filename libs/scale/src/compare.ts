/** The expected count of a post from the 202s: exact when lo === hi (loadgen's GroundTruth). */
export interface ExpectedRange {
  lo: number;
  hi: number;
}

/** One post whose counts do not agree. */
export interface CountMismatch {
  postId: string;
  /** from the 202-accepted actions */
  lo: number;
  hi: number;
  /** the independent recount of likes.events */
  recount: number;
  /** the total in Redis (the served generation) */
  redis: number;
  /** what GET /v1/likes answers (null: not read) */
  api: number | null;
  /** which comparisons failed */
  why: string[];
}

/**
 * Every post (of the ground truth and of the recount) whose served counts differ from the truth
 * range of the 202s or from the recount of the log, or whose recount falls outside the truth range
 * (the log itself disagrees with what was accepted). Missing counts are 0.
 */
export function compareCounts(
  truth: ReadonlyMap<string, ExpectedRange>,
  recount: ReadonlyMap<string, number>,
  redis: ReadonlyMap<string, number>,
  api?: ReadonlyMap<string, number>,
): CountMismatch[] {
  const posts = new Set([...truth.keys(), ...recount.keys()]);
  const out: CountMismatch[] = [];
  for (const postId of [...posts].sort()) {
    const e = truth.get(postId) ?? { lo: 0, hi: 0 };
    const r = recount.get(postId) ?? 0;
    const x = redis.get(postId) ?? 0;
    const a = api ? (api.get(postId) ?? 0) : null;
    const why: string[] = [];
    const outside = (n: number) => n < e.lo || n > e.hi;
    if (outside(r)) why.push('recount outside the 202 truth');
    if (outside(x)) why.push('redis outside the 202 truth');
    if (x !== r) why.push('redis differs from the recount');
    if (a !== null && outside(a)) why.push('api outside the 202 truth');
    if (a !== null && a !== r) why.push('api differs from the recount');
    if (why.length) out.push({ postId, lo: e.lo, hi: e.hi, recount: r, redis: x, api: a, why });
  }
  return out;
}

/** The 202'd event ids that are not in the log (order kept). */
export function missingIds(accepted: readonly string[], inLog: ReadonlySet<string>): string[] {
  return accepted.filter((id) => !inLog.has(id));
}
