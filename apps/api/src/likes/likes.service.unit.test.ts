import type { TestingModule } from '@nestjs/testing';
import { ProducerUnavailableError } from '@doubletap/kafka';
import { ProblemException } from '../http/problem';
import { FakeLikeEvents, FakeRateLimits } from '../testing/fakes';
import { compileUnit, unitSettings } from '../testing/unit-app';
import { LikeEventRepository } from './like-event.repository';
import { LikesModule } from './likes.module';
import { LikesService } from './likes.service';
import { RateLimitRepository } from './rate-limit.repository';

/** The problem a rejected promise carries (status, slug, headers), for comparing. */
async function problemOf(promise: Promise<unknown>) {
  const e: unknown = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof ProblemException)) throw new Error(`expected a ProblemException, got ${String(e)}`);
  return { status: e.getStatus(), slug: e.slug, detail: e.detail, headers: e.headers };
}

describe('LikesService (repositories faked)', () => {
  let events: FakeLikeEvents;
  let limits: FakeRateLimits;
  let moduleRef: TestingModule;
  let likes: LikesService;

  async function compile(env: Record<string, string> = {}, burst = 5): Promise<void> {
    events = new FakeLikeEvents();
    limits = new FakeRateLimits(burst, 2500);
    moduleRef = await compileUnit(
      LikesModule,
      [
        [LikeEventRepository, events],
        [RateLimitRepository, limits],
      ],
      unitSettings(env),
    );
    likes = moduleRef.get(LikesService);
  }
  afterEach(() => moduleRef.close());

  it('accepts: appends one event and answers with its eventId', async () => {
    await compile();
    const before = Date.now();
    const accepted = await likes.accept('LIKE', 'p1', 'u1', undefined);
    expect(events.appended).toHaveLength(1);
    const [event] = events.appended;
    expect(accepted).toEqual({
      eventId: event.eventId,
      postId: 'p1',
      userId: 'u1',
      action: 'LIKE',
      acceptedAt: expect.any(String),
    });
    expect(event).toMatchObject({ postId: 'p1', userId: 'u1', action: 'LIKE' });
    expect(event.occurredAt).toBeGreaterThanOrEqual(before);
    expect(Date.parse(accepted.acceptedAt)).toBeGreaterThanOrEqual(event.occurredAt);
    await likes.accept('UNLIKE', 'p1', 'u1', {});
    expect(events.appended.map((e) => e.action)).toEqual(['LIKE', 'UNLIKE']);
    expect(new Set(events.appended.map((e) => e.eventId)).size).toBe(2);
  });

  it('the log refuses: 503 unavailable with Retry-After 2', async () => {
    await compile();
    events.failure = new ProducerUnavailableError('leader not available');
    expect(await problemOf(likes.accept('LIKE', 'p1', 'u1', undefined))).toEqual({
      status: 503,
      slug: 'unavailable',
      detail: 'Kafka cannot take the write: leader not available',
      headers: { 'retry-after': '2' },
    });
  });

  it('an unexpected error is not turned into a 503 (the filter makes it a logged 500)', async () => {
    await compile();
    events.failure = new TypeError('a bug');
    await expect(likes.accept('LIKE', 'p1', 'u1', undefined)).rejects.toThrow(TypeError);
  });

  it('over the limit: 429 with the retry time rounded up to whole seconds', async () => {
    await compile({ RATE_LIMIT_PER_SEC: '3', RATE_LIMIT_BURST: '1' }, 1);
    await likes.accept('LIKE', 'p1', 'u1', undefined);
    expect(await problemOf(likes.accept('LIKE', 'p2', 'u1', undefined))).toEqual({
      status: 429,
      slug: 'rate-limited',
      detail: 'user u1 exceeded the rate limit of 3 actions per second (burst 1); retry in 3s',
      headers: { 'retry-after': '3' },
    });
    // another user has a bucket of their own
    await expect(likes.accept('LIKE', 'p1', 'u2', undefined)).resolves.toMatchObject({ userId: 'u2' });
    expect(events.appended).toHaveLength(2);
  });

  it('a body is refused before the rate limit is spent', async () => {
    await compile();
    expect(await problemOf(likes.accept('LIKE', 'p1', 'u1', [1]))).toMatchObject({
      status: 400,
      slug: 'unexpected-body',
    });
    expect(await problemOf(likes.accept('LIKE', 'p1', 'u1', { a: 1, b: 2 }))).toMatchObject({
      status: 400,
      slug: 'unexpected-field',
      detail: expect.stringMatching(/^unexpected field "a", "b"/),
    });
    expect(limits.taken.size).toBe(0);
  });
});
