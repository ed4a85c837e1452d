import { LiveCounts, ReadSideHealingError, ReadUnavailableError } from '@doubletap/redis';
import { FakeCounts, FakeOwners, fakeLiveCounts } from '../testing/fakes';
import { startUnitApp, type UnitApp } from '../testing/unit-app';
import { CountRepository } from './count.repository';
import { OwnerDirectory } from './owner-directory';
import { ReadsModule } from './reads.module';

const AT = Date.parse('2026-01-01T12:00:00.000Z');

describe('ReadsController over HTTP (repositories faked)', () => {
  let counts: FakeCounts;
  let owners: FakeOwners;
  let api: UnitApp;

  beforeEach(async () => {
    counts = new FakeCounts();
    owners = new FakeOwners();
    api = await startUnitApp(ReadsModule, [
      [CountRepository, counts],
      [OwnerDirectory, owners],
      [LiveCounts, fakeLiveCounts()],
    ]);
  });
  afterEach(() => api.close());

  it('GET one post: its count as the app shows it; likedByViewer null without a token', async () => {
    counts.set('post_1', 1_234_567, AT);
    const res = await api.request('GET', '/v1/posts/post_1/likes');
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.json()).toEqual({
      postId: 'post_1',
      count: 1_234_567,
      display: '1.2M',
      asOf: '2026-01-01T12:00:00.000Z',
      likedByViewer: null,
    });
    const unknown = await api.request('GET', '/v1/posts/nobody_yet/likes');
    expect(unknown.json()).toMatchObject({ count: 0, display: '0', asOf: null });
  });

  it('with a token while the partition count is unknown: likedByViewer null, the header says why', async () => {
    counts.set('post_1', 3, AT);
    const res = await api.request('GET', '/v1/posts/post_1/likes', { token: await api.token('alice') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ count: 3, likedByViewer: null });
    expect(res.headers['x-liked-by-viewer-unavailable']).toBe('starting');
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.headers.vary).toBe('authorization');
  });

  it('with a token and no owner of the partition: likedByViewer null, reason no-owner', async () => {
    owners.partitions = 12;
    const res = await api.request('GET', '/v1/posts/post_1/likes', { token: await api.token('alice') });
    expect(res.json()).toMatchObject({ likedByViewer: null });
    expect(res.headers['x-liked-by-viewer-unavailable']).toBe('no-owner');
  });

  it('many posts: one entry per distinct post, in order of first appearance', async () => {
    counts.set('b1', 5, AT);
    counts.set('b3', 12_345, AT);
    const res = await api.request('GET', '/v1/likes?posts=b3,b1,b2,b3');
    expect(res.statusCode).toBe(200);
    const { posts } = res.json<{ posts: { postId: string; count: number; display: string }[] }>();
    expect(posts.map((p) => [p.postId, p.count, p.display])).toEqual([
      ['b3', 12_345, '12.3K'],
      ['b1', 5, '5'],
      ['b2', 0, '0'],
    ]);
  });

  it('read side healing: 503 read-side-healing with Retry-After and the progress, never a partial count', async () => {
    counts.set('post_1', 7, AT);
    counts.failure = new ReadSideHealingError(2, 3);
    for (const url of ['/v1/posts/post_1/likes', '/v1/likes?posts=post_1', '/v1/posts/post_1/likes/stream']) {
      const res = await api.request('GET', url);
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.headers['retry-after']).toBe('2');
      expect(res.json()).toMatchObject({
        type: 'https://doubletap.dev/problems/read-side-healing',
        status: 503,
        detail: expect.stringMatching(/^the like counts are being restored after a loss of the read model/),
        restored: 2,
        partitions: 3,
      });
    }
  });

  it('Redis cannot answer: 503 unavailable with Retry-After 1', async () => {
    counts.failure = new ReadUnavailableError(new Error('Connection is closed.'));
    const res = await api.request('GET', '/v1/posts/post_1/likes');
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toMatchObject({
      type: 'https://doubletap.dev/problems/unavailable',
      detail: 'the read model (Redis) cannot answer: read model unavailable: Connection is closed.',
    });
  });

  it('bad ids: 400 invalid-id problem+json naming the parameter, on every route that takes one', async () => {
    const cases: [string, string][] = [
      [`/v1/posts/${'x'.repeat(65)}/likes`, `postId "${'x'.repeat(65)}"`],
      ['/v1/posts/bad%2Fid/likes', 'postId "bad/id"'],
      ['/v1/posts/bad.id/likes/stream', 'postId "bad.id"'],
      ['/v1/likes?posts=ok,bad%20id', 'post id "bad id"'],
      ['/p/bad.id', 'postId "bad.id"'],
      ['/?post=bad!id', 'post "bad!id"'],
    ];
    for (const [url, named] of cases) {
      const res = await api.request('GET', url);
      expect([url, res.statusCode, res.headers['content-type']]).toEqual([
        url,
        400,
        'application/problem+json',
      ]);
      expect(res.json()).toMatchObject({
        type: 'https://doubletap.dev/problems/invalid-id',
        title: 'Bad Request',
        status: 400,
        detail: `${named} does not match /^[A-Za-z0-9_-]{1,64}$/`,
      });
    }
  });

  it('the posts query: missing, empty entries, too many, unknown parameters', async () => {
    const cases: [string, RegExp][] = [
      ['/v1/likes', /posts is required/],
      ['/v1/likes?posts=a,,b', /entry 2 is empty/],
      [
        `/v1/likes?posts=${Array.from({ length: 101 }, (_, i) => `p${i}`).join(',')}`,
        /at most 100 posts per request \(got 101\)/,
      ],
      ['/v1/likes?posts=a&limit=3', /unknown query parameter "limit"/],
    ];
    for (const [url, detail] of cases) {
      const res = await api.request('GET', url);
      expect(res.statusCode).toBe(400);
      expect(res.json<{ detail: string }>().detail).toMatch(detail);
    }
  });

  it('the live page takes a valid post id', async () => {
    for (const url of ['/', '/?post=post_1', '/p/post_1']) {
      const res = await api.request('GET', url);
      expect([url, res.statusCode]).toEqual([url, 200]);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    }
  });
});
