import { waitFor } from '@doubletap/testing';
import {
  dropTopics,
  freshTopics,
  startApi,
  testKafka,
  topicEnv,
  topicSize,
  type Topics,
  untilReady,
} from './helpers';

interface Problem {
  status: number;
  detail: string;
}

describe('dependencies down: 503 with Retry-After, nothing produced', () => {
  const kafka = testKafka();
  let topics: Topics;

  beforeAll(async () => {
    topics = await freshTopics(kafka, 2);
  });
  afterAll(async () => {
    await dropTopics(kafka, topics);
  });

  it('answers 503 when the broker is unreachable, reports not ready, and nothing reaches the topic later', async () => {
    const api = await startApi({
      ...topicEnv(topics),
      KAFKA_BROKERS: '127.0.0.1:1',
      PRODUCER_TIMEOUT_MS: '500',
    });
    try {
      // Redis and the registry are up: only Kafka is missing
      await waitFor('redis and schema ready', async () => {
        const report = (await (await fetch(`${api.url}/ready`)).json()) as {
          checks: Record<string, { status: string }>;
        };
        return report.checks.redis.status === 'ok' && report.checks.schema.status === 'ok';
      });
      const token = await api.token('alice');
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${api.url}/v1/posts/p${i}/likes`, {
            method: i % 2 ? 'DELETE' : 'POST',
            headers: { authorization: `Bearer ${token}` },
          }),
        ),
      );
      for (const res of answers) {
        expect(res.status).toBe(503);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        const problem = (await res.json()) as Problem;
        expect(problem.detail).toMatch(/^Kafka cannot take the write: the Kafka producer is not connected$/);
      }
      const ready = await fetch(`${api.url}/ready`);
      expect(ready.status).toBe(503);
      const report = (await ready.json()) as { checks: Record<string, { status: string }> };
      expect(report.checks['kafka-producer'].status).toBe('down');
      expect(report.checks.redis.status).toBe('ok');
    } finally {
      await api.close(); // stops the connect loop; must not hang
    }
    // the app is gone: nothing it answered 503 for can appear in the topic any more
    expect(await topicSize(kafka, topics.events)).toBe(0);
  });

  it('answers 503 when Redis (the rate limiter) is unreachable, and produces nothing', async () => {
    const api = await startApi({ ...topicEnv(topics), REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      await expect(untilReady(api, 300)).rejects.toThrow(/redis/);
      const token = await api.token('alice');
      const res = await fetch(`${api.url}/v1/posts/p1/likes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as Problem).detail).toMatch(/^the rate limiter cannot reach Redis/);
    } finally {
      await api.close();
    }
    expect(await topicSize(kafka, topics.events)).toBe(0);
  });
});
