import { LiveCounts, ReadRequestError, ReadSideHealingError, ReadUnavailableError } from '@doubletap/redis';
import { FakeCounts, FakeOwners, fakeLiveCounts } from '../testing/fakes';
import { type Overrides, startUnitApp, type UnitApp } from '../testing/unit-app';
import { CountRepository } from './count.repository';
import { OwnerDirectory } from './owner-directory';
import { OptionalBearerGuard } from '../auth/optional-bearer.guard';
import { ReadsModule } from './reads.module';

const AT = Date.parse('2026-01-01T12:00:00.000Z');

/** What a client sees of an answer (the Date header aside). */
async function seen(api: UnitApp, url: string, token?: string) {
  const res = await api.request('GET', url, { token });
  const headers: Record<string, unknown> = { ...res.headers };
  delete headers.date;
  return { status: res.statusCode, headers, body: res.rawPayload.toString('latin1') };
}

describe('the hot read (anonymous GET of one post without Nest pipeline, ADR 0015)', () => {
  let counts: FakeCounts;
  let hot: UnitApp;
  let nest: UnitApp;

  beforeEach(async () => {
    counts = new FakeCounts();
    const overrides = (): Overrides => [
      [CountRepository, counts],
      [OwnerDirectory, new FakeOwners()],
      [LiveCounts, fakeLiveCounts()],
    ];
    hot = await startUnitApp(ReadsModule, overrides());
    nest = await startUnitApp(ReadsModule, overrides(), {}, { hotRead: false });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await hot.close();
    await nest.close();
  });

  it('answers byte for byte what the Nest route answers: counts, errors, bad ids, tokens', async () => {
    counts.set('post_1', 1_234_567, AT);
    counts.set('post_2', 0, AT);
    const token = await hot.token('alice');
    const urls = [
      '/v1/posts/post_1/likes',
      '/v1/posts/post_2/likes',
      '/v1/posts/nobody_yet/likes',
      '/v1/posts/post_1/likes?x=1',
      `/v1/posts/${'x'.repeat(64)}/likes`,
      `/v1/posts/${'x'.repeat(65)}/likes`,
      '/v1/posts/bad%2Fid/likes',
      '/v1/posts//likes',
    ];
    const failures = [
      undefined,
      new ReadSideHealingError(2, 3),
      new ReadUnavailableError(new Error('Connection is closed.')),
      new ReadRequestError('no'),
      new Error('boom'),
    ];
    expect(await seen(hot, urls[0])).toMatchObject({ status: 200, headers: { 'cache-control': 'no-cache' } });
    for (const failure of failures) {
      counts.failure = failure;
      for (const url of urls) {
        expect([failure?.message, url, await seen(hot, url)]).toEqual([
          failure?.message,
          url,
          await seen(nest, url),
        ]);
        expect(await seen(hot, url, token)).toEqual(await seen(nest, url, token));
        expect(await seen(hot, url, 'not-a-jwt')).toEqual(await seen(nest, url, 'not-a-jwt'));
      }
    }
  });

  it('HEAD answers the same headers on both paths', async () => {
    counts.set('post_1', 42, AT);
    const head = async (api: UnitApp) => {
      const res = await api.app
        .getHttpAdapter()
        .getInstance()
        .inject({ method: 'HEAD', url: '/v1/posts/post_1/likes' });
      const headers: Record<string, unknown> = { ...res.headers };
      delete headers.date;
      return { status: res.statusCode, headers, body: res.body };
    };
    expect(await head(hot)).toEqual(await head(nest));
    expect((await head(hot)).status).toBe(200);
  });

  it('takes only anonymous requests with a valid id; the rest go through Nest (its guard runs)', async () => {
    const guard = jest.spyOn(OptionalBearerGuard.prototype, 'canActivate');
    expect((await hot.request('GET', '/v1/posts/post_1/likes')).statusCode).toBe(200);
    expect(guard).not.toHaveBeenCalled();
    expect(
      (await hot.request('GET', '/v1/posts/post_1/likes', { token: await hot.token('alice') })).statusCode,
    ).toBe(200);
    expect(guard).toHaveBeenCalledTimes(1);
    expect((await hot.request('GET', '/v1/posts/bad.id/likes')).statusCode).toBe(400); // IdPipe's answer
    expect(guard).toHaveBeenCalledTimes(2);
    expect((await nest.request('GET', '/v1/posts/post_1/likes')).statusCode).toBe(200);
    expect(guard).toHaveBeenCalledTimes(3);
  });
});
