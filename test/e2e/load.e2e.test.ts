import { ApiCountSource, checkCounts, GroundTruth, HttpClient, runLoad, type LoadReport } from '@doubletap/loadgen';
import { createRedis, likesKey, redisReady } from '@doubletap/redis';
import { startPipeline, type Pipeline } from '@doubletap/testing';

describe('doubletap load against the running apps', () => {
  let pipeline: Pipeline | undefined;

  beforeAll(async () => {
    pipeline = await startPipeline({ partitions: 4, name: 'e2e-load' });
  }, 120_000);
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('a short mixed run checks out with zero mismatches, and a corrupted Redis total is reported', async () => {
    const p = pipeline!;
    const truth = new GroundTruth();
    const report: LoadReport = await runLoad({
      scenario: 'mixed',
      url: p.url,
      rate: 150,
      rampSeconds: 1,
      holdSeconds: 4,
      maxRequests: 10_000,
      users: 300,
      posts: 40,
      zipf: 1.1,
      doubleTap: 0.15,
      unlike: 0.2,
      connections: 8,
      timeoutMs: 10_000,
      maxInFlight: 1000,
      sampleEvery: 5,
      freshness: 'sse',
      pollMs: 20,
      check: true,
      checkWaitMs: 60_000,
      seed: 7,
      runId: `e2e${Date.now().toString(36)}`,
      auth: { secret: p.settings.auth.hs256Secret },
      truth,
    });
    expect(report.requests.accepted).toBeGreaterThan(0);
    // on a busy machine the api may refuse some likes past its capacity (503 overloaded, ADR 0011):
    // refused before anything was written, so the ground truth stays exact; nothing else may happen
    expect(report.requests.byStatus['202'] + (report.requests.byStatus['503 overloaded'] ?? 0)).toBe(report.requests.sent);
    expect(report.check).toMatchObject({ ok: true, mismatchCount: 0, uncertainPairs: 0, source: 'api' });
    expect(report.check!.posts).toBe(truth.postIds().length);
    expect(report.freshness.method).toBe('api sse');
    expect(report.freshness.observed).toBeGreaterThan(0);

    // corrupt one post's total in Redis: the same check must now report exactly that post
    const victim = report.freshness.post;
    const expected = truth.expected(victim);
    const redis = createRedis({ url: p.settings.redis.url, name: 'e2e-load' });
    await redisReady(redis);
    try {
      await redis.hset(likesKey(p.settings.redis.keyPrefix, victim), 'total', String(expected.hi + 5));
    } finally {
      await redis.quit();
    }
    // a hand edit is not announced on the change stream: the api's near cache serves the post's
    // last heard total until the entry's age bound (NEAR_CACHE_MAX_AGE_MS, ADR 0013), then reads Redis
    await new Promise((r) => setTimeout(r, p.settings.nearCache.maxAgeMs + 500));
    const client = new HttpClient(new URL(p.url), 2, 10_000);
    try {
      const again = await checkCounts(new ApiCountSource(client, new URL(p.url), {}, { stream: false, pollMs: 20 }), truth, {
        waitMs: 1000,
      });
      expect(again.ok).toBe(false);
      expect(again.mismatches).toEqual([{ postId: victim, count: expected.hi + 5, lo: expected.lo, hi: expected.hi }]);
    } finally {
      client.close();
    }
  });
});
