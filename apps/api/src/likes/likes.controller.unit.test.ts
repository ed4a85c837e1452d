import { ProducerOverloadedError, ProducerUnavailableError } from '@doubletap/kafka';
import { FakeLikeEvents, FakeRateLimits } from '../testing/fakes';
import { startUnitApp, type UnitApp } from '../testing/unit-app';
import { LikeEventRepository } from './like-event.repository';
import { LikesModule } from './likes.module';
import { RateLimitRepository } from './rate-limit.repository';

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ID_DETAIL = (id: string) => `postId ${JSON.stringify(id)} does not match /^[A-Za-z0-9_-]{1,64}$/`;

describe('LikesController over HTTP (repositories faked)', () => {
  let events: FakeLikeEvents;
  let limits: FakeRateLimits;
  let api: UnitApp;
  let alice: string;

  beforeEach(async () => {
    events = new FakeLikeEvents();
    limits = new FakeRateLimits(2, 1500);
    api = await startUnitApp(LikesModule, [
      [LikeEventRepository, events],
      [RateLimitRepository, limits],
    ]);
    alice = await api.token('alice');
  });
  afterEach(() => api.close());

  it('POST: 202 with the eventId of the event appended to the log', async () => {
    const res = await api.request('POST', '/v1/posts/post_1/likes', { token: alice });
    expect(res.statusCode).toBe(202);
    const body = res.json<Record<string, string>>();
    expect(body).toEqual({
      eventId: expect.stringMatching(UUIDV7),
      postId: 'post_1',
      userId: 'alice',
      action: 'LIKE',
      acceptedAt: expect.any(String),
    });
    expect(events.appended).toEqual([
      {
        eventId: body.eventId,
        postId: 'post_1',
        userId: 'alice',
        action: 'LIKE',
        occurredAt: expect.any(Number),
      },
    ]);
  });

  it('DELETE: 202 with an UNLIKE event; an empty JSON object as body is fine', async () => {
    const res = await api.request('DELETE', '/v1/posts/post_1/likes', { token: alice, body: '{}' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ postId: 'post_1', userId: 'alice', action: 'UNLIKE' });
    expect(events.appended.map((e) => e.action)).toEqual(['UNLIKE']);
  });

  it('broker unavailable: 503 problem+json with Retry-After, never a 202', async () => {
    events.failure = new ProducerUnavailableError('no broker answered');
    const res = await api.request('POST', '/v1/posts/post_1/likes', { token: alice });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json()).toEqual({
      type: 'https://doubletap.dev/problems/unavailable',
      title: 'Service Unavailable',
      status: 503,
      detail: 'Kafka cannot take the write: no broker answered',
      instance: '/v1/posts/post_1/likes',
    });
  });

  it('producer queue full: 503 with Retry-After 1', async () => {
    events.failure = new ProducerOverloadedError(10);
    const res = await api.request('POST', '/v1/posts/post_1/likes', { token: alice });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toMatchObject({
      type: 'https://doubletap.dev/problems/overloaded',
      reason: 'producer-queue',
      retryAfterMs: 1000,
      detail: expect.stringMatching(
        /^the api is past capacity: the produce queue is full .*nothing was written/,
      ),
    });
  });

  it('schema id not resolved yet: 503, nothing appended', async () => {
    events.ready = false;
    const res = await api.request('POST', '/v1/posts/post_1/likes', { token: alice });
    expect(res.statusCode).toBe(503);
    expect(res.json<{ detail: string }>().detail).toMatch(/schema id is not resolved/);
    expect(events.appended).toEqual([]);
  });

  it('rate limited: 429 problem+json with Retry-After, the third action not appended', async () => {
    for (let i = 0; i < 2; i++)
      expect((await api.request('POST', '/v1/posts/post_1/likes', { token: alice })).statusCode).toBe(202);
    const res = await api.request('POST', '/v1/posts/post_1/likes', { token: alice });
    expect(res.statusCode).toBe(429);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json()).toMatchObject({
      type: 'https://doubletap.dev/problems/rate-limited',
      title: 'Too Many Requests',
      status: 429,
      detail: 'user alice exceeded the rate limit of 20 actions per second (burst 40); retry in 2s',
    });
    expect(events.appended).toHaveLength(2);
  });

  it('rate limit store unreachable: 503 (fail closed)', async () => {
    limits.failure = new Error('connection refused');
    const res = await api.request('DELETE', '/v1/posts/post_1/likes', { token: alice });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json<{ detail: string }>().detail).toBe(
      'the rate limiter cannot reach Redis: connection refused',
    );
  });

  it('bad id: 400 invalid-id problem+json naming the id, before the rate limit and the log', async () => {
    for (const [path, id] of [
      ['bad!id', 'bad!id'],
      ['a'.repeat(65), 'a'.repeat(65)],
      ['with%20space', 'with space'],
    ]) {
      const res = await api.request('POST', `/v1/posts/${path}/likes`, { token: alice });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.json()).toEqual({
        type: 'https://doubletap.dev/problems/invalid-id',
        title: 'Bad Request',
        status: 400,
        detail: ID_DETAIL(id),
        instance: `/v1/posts/${path}/likes`,
      });
    }
    expect(limits.taken.size).toBe(0);
    expect(events.appended).toEqual([]);
  });

  it('the token comes first: a bad id without a token is a 401', async () => {
    const res = await api.request('POST', '/v1/posts/bad!id/likes');
    expect(res.statusCode).toBe(401);
    expect(res.json<{ detail: string }>().detail).toMatch(/^missing bearer token/);
  });

  it('a body with fields is a 400 naming them', async () => {
    const res = await api.request('POST', '/v1/posts/post_1/likes', {
      token: alice,
      body: '{"userId":"mallory"}',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      type: 'https://doubletap.dev/problems/unexpected-field',
      detail: expect.stringMatching(/^unexpected field "userId"/),
    });
    expect(events.appended).toEqual([]);
  });
});
