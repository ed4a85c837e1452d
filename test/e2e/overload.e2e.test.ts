import { checkAcceptedInLog } from '@doubletap/chaos';
import { EventCodec } from '@doubletap/events';
import { GroundTruth, OVERLOADED_TYPE, runLoad } from '@doubletap/loadgen';
import { startPipeline, type Pipeline } from '@doubletap/testing';

/**
 * Admission control against the real apps (docs/adr/0011-admission-control.md): an api whose
 * capacity is made tiny (4 likes in flight, each waiting up to 100 ms for its batch) gets far more
 * than it can take. The excess must be refused with 503 overloaded and Retry-After, and refusing
 * must write nothing: the log holds exactly the 202s, once each, and the read side shows exactly
 * the ground truth of the 202s.
 */
describe('the api past capacity', () => {
  let pipeline: Pipeline | undefined;

  beforeAll(async () => {
    pipeline = await startPipeline({
      partitions: 4,
      name: 'e2e-overload',
      env: { ADMISSION_MAX_IN_FLIGHT: '4', PRODUCER_LINGER_MS: '100' },
    });
  }, 120_000);
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('refuses the excess with 503 overloaded and Retry-After; every 202 is in the log once and nothing refused is', async () => {
    const p = pipeline!;
    const acceptedIds: string[] = [];
    const idOf = (body: string) => (JSON.parse(body) as { eventId: string }).eventId;

    // a burst of concurrent likes straight at the api
    const tokens = await Promise.all(Array.from({ length: 60 }, (_, i) => p.token(`burst_u${i}`)));
    const answers = await Promise.all(
      tokens.map(async (token) => {
        const res = await fetch(`${p.url}/v1/posts/burst_post/likes`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: res.status, headers: res.headers, body: await res.text() };
      }),
    );
    const refusedBurst = answers.filter((a) => a.status === 503);
    expect(refusedBurst.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 202 || a.status === 503)).toBe(true);
    for (const a of refusedBurst) {
      expect(a.headers.get('retry-after')).toBe('1');
      expect(a.headers.get('content-type')).toBe('application/problem+json');
      expect(JSON.parse(a.body)).toMatchObject({
        type: OVERLOADED_TYPE,
        status: 503,
        reason: 'in-flight',
        retryAfterMs: 1000,
        instance: '/v1/posts/burst_post/likes',
      });
    }
    for (const a of answers) if (a.status === 202) acceptedIds.push(idOf(a.body));

    // the viral post through the load generator, open loop, well past that capacity
    const truth = new GroundTruth();
    const report = await runLoad({
      scenario: 'viral',
      url: p.url,
      rate: 400,
      rampSeconds: 1,
      holdSeconds: 2,
      maxRequests: 5000,
      users: 2000,
      posts: 1,
      zipf: 1,
      doubleTap: 0.1,
      unlike: 0.05,
      connections: 8,
      timeoutMs: 10_000,
      maxInFlight: 5000,
      sampleEvery: 1_000_000,
      freshness: 'off',
      pollMs: 20,
      check: true,
      checkWaitMs: 60_000,
      seed: 11,
      runId: `e2eov${Date.now().toString(36)}`,
      auth: { secret: p.settings.auth.hs256Secret },
      truth,
      onAccepted: (body) => acceptedIds.push(idOf(body)),
    });
    // only two outcomes: accepted, or refused before anything was written
    expect(Object.keys(report.requests.byStatus).sort()).toEqual(['202', '503 overloaded']);
    expect(report.requests.refused).toBeGreaterThan(0);
    expect(report.requests.accepted).toBeGreaterThan(0);
    expect(report.requests.timeouts).toBe(0);
    // refusals are definite: the expected count stays one number, and the read side shows it
    expect(report.check).toMatchObject({ ok: true, mismatchCount: 0, uncertainPairs: 0 });

    // the log holds every 202 exactly once, and nothing else
    const codec = new EventCodec(p.settings.registry.url, p.settings.topics);
    const log = await checkAcceptedInLog(p.kafka, codec, p.settings.topics.events, acceptedIds);
    expect(log).toMatchObject({ missing: 0, duplicated: 0, records: acceptedIds.length });
  });
});
