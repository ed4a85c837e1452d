import { Module } from '@nestjs/common';
import { ProducerOverloadedError, ProducerUnavailableError } from '@doubletap/kafka';
import { LiveCounts, ReadRequestError, ReadSideHealingError, ReadUnavailableError } from '@doubletap/redis';
import { BearerGuard } from '../auth/bearer.guard';
import { OptionalBearerGuard } from '../auth/optional-bearer.guard';
import { LikeEventRepository } from '../likes/like-event.repository';
import { postLikesAnswer } from '../likes/likes.dto';
import { LikesModule } from '../likes/likes.module';
import { RateLimitRepository } from '../likes/rate-limit.repository';
import { CountRepository } from '../reads/count.repository';
import { OwnerDirectory } from '../reads/owner-directory';
import { ReadSide, type ViewerAnswer } from '../reads/read-side.service';
import { ReadsModule } from '../reads/reads.module';
import { FakeCounts, FakeLikeEvents, FakeOwners, FakeRateLimits, fakeLiveCounts } from '../testing/fakes';
import { startUnitApp, type UnitApp } from '../testing/unit-app';

// the same eventId on both paths, so the 202 bodies can be compared byte for byte
jest.mock('@doubletap/events', () => ({
  ...jest.requireActual<Record<string, unknown>>('@doubletap/events'),
  uuidv7: () => '01890a5d-ac96-774b-bcce-b302099a8057',
}));

const AT = Date.parse('2026-01-01T12:00:00.000Z');

@Module({ imports: [LikesModule, ReadsModule] })
class LikesAndReads {}

interface Fakes {
  events: FakeLikeEvents;
  limits: FakeRateLimits;
  counts: FakeCounts;
}

/** What a client sees of an answer (the Date header aside). */
async function seen(
  api: UnitApp,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  token?: string,
  body?: string,
) {
  const res = await api.request(method, url, { token, body });
  const headers: Record<string, unknown> = { ...res.headers };
  delete headers.date;
  return { status: res.statusCode, headers, body: res.rawPayload.toString('latin1') };
}

describe('the fast paths (likes, unlikes, the viewer read without Nest pipeline, ADR 0020)', () => {
  let fast: UnitApp;
  let nest: UnitApp;
  let f: Fakes;
  let n: Fakes;

  const start = async (fastPaths: boolean): Promise<[UnitApp, Fakes]> => {
    // a burst of 3 per user: the rate limit's 429 shows up within a case's requests
    const fakes = {
      events: new FakeLikeEvents(),
      limits: new FakeRateLimits(3, 1500),
      counts: new FakeCounts(),
    };
    const owners = new FakeOwners();
    const app = await startUnitApp(
      LikesAndReads,
      [
        [LikeEventRepository, fakes.events],
        [RateLimitRepository, fakes.limits],
        [CountRepository, fakes.counts],
        [OwnerDirectory, owners],
        [LiveCounts, fakeLiveCounts()],
      ],
      {},
      { fastPaths },
    );
    return [app, fakes];
  };

  beforeEach(async () => {
    [fast, f] = await start(true);
    [nest, n] = await start(false);
    // the same acceptedAt on both paths
    jest.spyOn(Date.prototype, 'toISOString').mockReturnValue('2026-01-01T12:00:00.123Z');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await fast.close();
    await nest.close();
  });

  /** Both apps get the same request; their answers must be the same bytes. */
  const same = async (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, body?: string) => {
    const a = await seen(fast, method, url, token, body);
    const b = await seen(nest, method, url, token, body);
    expect([method, url, token?.slice(-8), body, a]).toEqual([method, url, token?.slice(-8), body, b]);
    return a;
  };

  const urls = [
    '/v1/posts/post_1/likes',
    '/v1/posts/post_1/likes?x=1',
    `/v1/posts/${'x'.repeat(64)}/likes`,
    `/v1/posts/${'x'.repeat(65)}/likes`,
    '/v1/posts/bad%2Fid/likes',
    '/v1/posts/bad.id/likes',
    '/v1/posts//likes',
  ];

  it('likes and unlikes: the same status, headers and bytes for every answer, success and errors', async () => {
    // one user per failure, so each meets its rate limit the same way on both apps
    const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const tokens = await Promise.all(users.map((u) => fast.token(u)));
    // verified once on each app (through Nest: the first sight of a token), then known
    for (const t of tokens) await same('POST', '/v1/posts/warm/likes', t);
    const failures: [string, (x: Fakes) => void][] = [
      ['none', () => undefined],
      ['broker down', (x) => (x.events.failure = new ProducerUnavailableError('no broker answered'))],
      ['queue full', (x) => (x.events.failure = new ProducerOverloadedError(10))],
      ['unexpected', (x) => (x.events.failure = new Error('boom'))],
      ['schema not resolved', (x) => (x.events.ready = false)],
      ['rate limiter down', (x) => (x.limits.failure = new Error('Connection is closed.'))],
      ['none again', () => undefined],
    ];
    const bodies = [undefined, '{}', '{"userId":"mallory"}', '[]', '"x"', 'null', '{broken'];
    for (const [i, [name, fail]] of failures.entries()) {
      for (const x of [f, n]) {
        x.events.failure = undefined;
        x.events.ready = true;
        x.limits.failure = undefined;
        fail(x);
      }
      for (const method of ['POST', 'DELETE'] as const) {
        for (const url of urls) {
          await same(method, url, tokens[i]);
          await same(method, url, 'not-a-jwt');
          await same(method, url);
        }
        for (const body of bodies) await same(method, '/v1/posts/post_2/likes', tokens[i], body);
      }
      expect(name).toBeDefined();
    }
    // what was appended is the same on both paths too
    const events = (x: Fakes) => x.events.appended.map(({ occurredAt: _, ...e }) => e);
    expect(events(f)).toEqual(events(n));
    expect(f.events.appended.length).toBeGreaterThan(0);
  }, 60_000);

  it('the 202 body is what JSON.stringify gives for the LikeAccepted', async () => {
    const token = await fast.token('alice');
    await same('POST', '/v1/posts/post_1/likes', token);
    const res = await same('POST', '/v1/posts/post_1/likes', token);
    expect(res).toMatchObject({
      status: 202,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    const accepted = {
      eventId: '01890a5d-ac96-774b-bcce-b302099a8057',
      postId: 'post_1',
      userId: 'alice',
      action: 'LIKE' as const,
      acceptedAt: '2026-01-01T12:00:00.123Z',
    };
    expect(res.body).toBe(JSON.stringify(accepted));
    expect(postLikesAnswer(accepted)).toBe(JSON.stringify(accepted));
  });

  it('the viewer read: the same bytes for each likedByViewer answer and each read error', async () => {
    for (const x of [f, n]) {
      x.counts.set('post_1', 1_234_567, AT);
      x.counts.set('post_2', 0, AT);
    }
    const token = await fast.token('alice');
    await same('GET', '/v1/posts/post_1/likes', token); // verified once on each app
    const answers: ViewerAnswer[] = [
      { liked: true },
      { liked: false },
      { liked: null, reason: 'timeout' },
      { liked: null, reason: 'rebalancing' },
    ];
    const viewer = jest.spyOn(ReadSide.prototype, 'likedByViewer');
    const failures = [
      undefined,
      new ReadSideHealingError(2, 3),
      new ReadUnavailableError(new Error('Connection is closed.')),
      new ReadRequestError('no'),
      new Error('boom'),
    ];
    for (const answer of answers) {
      viewer.mockResolvedValue(answer);
      for (const failure of failures) {
        f.counts.failure = failure;
        n.counts.failure = failure;
        for (const url of [...urls, '/v1/posts/post_2/likes', '/v1/posts/nobody_yet/likes']) {
          await same('GET', url, token);
          await same('GET', url, 'not-a-jwt');
          await same('GET', url);
        }
      }
    }
    viewer.mockRestore();
    f.counts.failure = undefined;
    n.counts.failure = undefined;
    // the real likedByViewer: the partition count is not known in this app
    const res = await same('GET', '/v1/posts/post_1/likes', token);
    expect(res).toMatchObject({
      status: 200,
      headers: { 'x-liked-by-viewer-unavailable': 'starting', 'cache-control': 'private, no-store' },
    });
  }, 60_000);

  it('takes only known tokens with a valid id; the rest goes through Nest (its guards run)', async () => {
    const write = jest.spyOn(BearerGuard.prototype, 'canActivate');
    const read = jest.spyOn(OptionalBearerGuard.prototype, 'canActivate');
    const token = await fast.token('alice');
    expect((await fast.request('POST', '/v1/posts/post_1/likes', { token })).statusCode).toBe(202);
    expect(write).toHaveBeenCalledTimes(1); // first sight of the token: Nest's guard verifies it
    expect((await fast.request('POST', '/v1/posts/post_1/likes', { token })).statusCode).toBe(202);
    expect((await fast.request('DELETE', '/v1/posts/post_1/likes', { token })).statusCode).toBe(202);
    expect(write).toHaveBeenCalledTimes(1);
    expect((await fast.request('GET', '/v1/posts/post_1/likes', { token })).statusCode).toBe(200);
    expect(read).not.toHaveBeenCalled();
    expect((await fast.request('POST', '/v1/posts/bad.id/likes', { token })).statusCode).toBe(400);
    expect(write).toHaveBeenCalledTimes(2); // IdPipe's answer, through Nest
    expect((await nest.request('POST', '/v1/posts/post_1/likes', { token })).statusCode).toBe(202);
    expect(write).toHaveBeenCalledTimes(3);
  });
});
