import { EventCodec, type LikeEvent, likeKey } from '@doubletap/events';
import { partitionForKey, readTopic } from '@doubletap/kafka';
import { type RunningApi, startApiOnFreshTopics, stopApiAndTopics, testKafka, topicSize, type Topics } from './helpers';

interface Accepted {
  eventId: string;
  postId: string;
  userId: string;
  action: 'LIKE' | 'UNLIKE';
  acceptedAt: string;
}

describe('POST/DELETE /v1/posts/:postId/likes (real Kafka, registry, Redis)', () => {
  const kafka = testKafka();
  let topics: Topics;
  let api: RunningApi;

  beforeAll(async () => {
    ({ topics, api } = await startApiOnFreshTopics(
      kafka,
      6,
      // a burst of 1,000 at once: admission control (its own tests) could refuse some of it with 503
      // on a slow moment of the machine (seen once); this file is about what an accepted write does
      { RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000', ADMISSION_ENABLED: 'false' },
      { ready: true },
    ));
  }, 30000);
  afterAll(() => stopApiAndTopics(kafka, api, topics));

  it('answers 1,000 concurrent likes/unlikes with 202 and writes exactly those 1,000 events, decodable, keyed, partitioned', async () => {
    const users = Array.from({ length: 200 }, (_, i) => `user_${i}`);
    const tokens = new Map(await Promise.all(users.map(async (u) => [u, await api.token(u)] as const)));
    const requests = Array.from({ length: 1000 }, (_, i) => ({
      postId: `post-${i % 17}`,
      userId: users[i % users.length],
      method: i % 5 === 0 ? 'DELETE' : 'POST',
    }));
    const answers = await Promise.all(
      requests.map(async (r) => {
        const res = await fetch(`${api.url}/v1/posts/${r.postId}/likes`, {
          method: r.method,
          headers: { authorization: `Bearer ${tokens.get(r.userId)}` },
        });
        return { status: res.status, body: (await res.json()) as Accepted, request: r };
      }),
    );
    for (const a of answers) {
      expect(a.status).toBe(202);
      expect(a.body).toMatchObject({
        postId: a.request.postId,
        userId: a.request.userId,
        action: a.request.method === 'POST' ? 'LIKE' : 'UNLIKE',
      });
      expect(Number.isNaN(Date.parse(a.body.acceptedAt))).toBe(false);
    }
    const accepted = new Map(answers.map((a) => [a.body.eventId, a.body]));
    expect(accepted.size).toBe(1000);

    const records = await readTopic(kafka, topics.events, { count: 1000, timeoutMs: 20000 });
    expect(await topicSize(kafka, topics.events)).toBe(1000);
    expect(records).toHaveLength(1000);
    const codec = new EventCodec(api.settings.registry.url, topics);
    const seen = new Set<string>();
    for (const r of records) {
      const event: LikeEvent = await codec.decodeLike(r.value);
      const answer = accepted.get(event.eventId);
      expect(answer).toBeDefined();
      expect(seen.has(event.eventId)).toBe(false);
      seen.add(event.eventId);
      expect(event).toMatchObject({ postId: answer!.postId, userId: answer!.userId, action: answer!.action });
      expect(r.key).toBe(likeKey(event.postId, event.userId));
      expect(r.partition).toBe(partitionForKey(r.key!, topics.partitions));
    }
    expect(seen.size).toBe(1000);
  }, 30000);

  it('accepts an empty JSON object body and a Content-Type: application/json without a body', async () => {
    const token = await api.token('user_body');
    const before = await topicSize(kafka, topics.events);
    const withObject = await fetch(`${api.url}/v1/posts/p1/likes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(withObject.status).toBe(202);
    const withEmpty = await fetch(`${api.url}/v1/posts/p1/likes`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    expect(withEmpty.status).toBe(202);
    expect(await topicSize(kafka, topics.events)).toBe(before + 2);
  });

  it('serves liveness, readiness, Prometheus metrics and the OpenAPI document', async () => {
    expect(await (await fetch(`${api.url}/health`)).json()).toEqual({ status: 'ok' });
    const ready = (await (await fetch(`${api.url}/ready`)).json()) as {
      status: string;
      checks: Record<string, unknown>;
    };
    expect(ready.status).toBe('ok');
    expect(Object.keys(ready.checks).sort()).toEqual(['events-topic', 'kafka-producer', 'read-side', 'redis', 'schema']);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(
      /doubletap_api_request_duration_seconds_bucket\{[^}]*route="\/v1\/posts\/:postId\/likes"[^}]*status="202"/,
    );
    expect(metrics).toMatch(/doubletap_api_produce_batch_size_count\{[^}]*outcome="acked"/);
    expect(metrics).toContain('doubletap_api_produce_queue_depth');
    const doc = (await (await fetch(`${api.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, object>;
    };
    expect(Object.keys(doc.paths['/v1/posts/{postId}/likes']).sort()).toEqual(['delete', 'get', 'post']);
    expect((await fetch(`${api.url}/docs`)).status).toBe(200);
  });
});
