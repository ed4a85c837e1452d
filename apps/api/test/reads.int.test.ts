import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { likeKey } from '@doubletap/events';
import { partitionForKey } from '@doubletap/kafka';
import {
  createRedis,
  deleteKeysWithPrefix,
  LikesProjection,
  markReadSideComplete,
  progressKey,
  publishOwners,
  readySentinelKey,
  type Redis,
} from '@doubletap/redis';
import { redisTargets, uniqueName, waitFor } from '@doubletap/testing';
import { ReadSide } from '../src/reads/read-side.service';
import {
  dropTopics,
  type RunningApi,
  startApi,
  startApiOnFreshTopics,
  testKafka,
  topicEnv,
  type Topics,
} from './helpers';
import { openSse } from './sse-client';

interface Problem {
  type: string;
  status: number;
  detail: string;
}

const PARTITIONS = 3;

describe.each(redisTargets())('reads: GET counts, batch, SSE, likedByViewer edge cases (in-process api, real Kafka + $name Redis)', (target) => {
  const kafka = testKafka();
  let topics: Topics;
  let api: RunningApi;
  let redis: Redis;
  let projection: LikesProjection;
  let prefix: string;
  let offset = 0;
  const set = (postId: string, count: number) =>
    projection.applyBatch([{ postId, partition: 0, count, sourceOffset: offset++ }]);

  beforeAll(async () => {
    prefix = `${uniqueName('reads-int')}:`;
    ({ topics, api } = await startApiOnFreshTopics(kafka, PARTITIONS, {
      REDIS_KEY_PREFIX: prefix,
      REDIS_URL: target.url,
      RATE_LIMIT_PER_SEC: '0',
    }));
    redis = createRedis({ url: api.settings.redis.url, offlineQueue: true });
    projection = new LikesProjection(redis, prefix);
    // no projector here: the test writes the projection itself and declares the read side complete
    await markReadSideComplete(redis, prefix, PARTITIONS);
  }, 30000);
  afterAll(async () => {
    await api?.close();
    await deleteKeysWithPrefix(redis, prefix);
    await redis.quit();
    await dropTopics(kafka, topics);
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${api.url}${path}`, { headers });
  async function problem(res: Response, status: number): Promise<Problem> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    return (await res.json()) as Problem;
  }

  it('GET one post: unknown is 0, a known count is displayed, no token means likedByViewer null without a reason', async () => {
    const unknown = await get('/v1/posts/never-liked/likes');
    expect(unknown.status).toBe(200);
    expect(await unknown.json()).toEqual({
      postId: 'never-liked',
      count: 0,
      display: '0',
      likedByViewer: null,
      asOf: null,
    });
    expect(unknown.headers.get('x-liked-by-viewer-unavailable')).toBeNull();

    await set('popular', 1_234_567);
    const res = await get('/v1/posts/popular/likes');
    const body = (await res.json()) as { count: number; display: string; asOf: string };
    expect(body).toMatchObject({ postId: 'popular', count: 1_234_567, display: '1.2M', likedByViewer: null });
    expect(Date.parse(body.asOf)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('an invalid or malformed token is 401, not anonymous', async () => {
    for (const authorization of ['Bearer not-a-jwt', 'Basic abc', `Bearer ${await api.token('bob', -10)}`]) {
      const p = await problem(await get('/v1/posts/popular/likes', { authorization }), 401);
      expect(p.detail.length).toBeGreaterThan(0);
    }
  });

  it('likedByViewer: owner answers → boolean; no owner, a rebalancing owner or a hanging owner → null with the reason', async () => {
    const user = 'carol';
    const postId = 'viewed';
    const partition = partitionForKey(likeKey(postId, user), PARTITIONS);
    const token = await api.token(user);
    const ask = async () => {
      const res = await get(`/v1/posts/${postId}/likes`, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { likedByViewer: boolean | null };
      return { liked: body.likedByViewer, reason: res.headers.get('x-liked-by-viewer-unavailable') };
    };
    // the partition count is read from Kafka in the background at startup
    await waitFor('partition count known', async () => (await ask()).reason !== 'starting');
    expect(await ask()).toEqual({ liked: null, reason: 'no-owner' });

    // a stand-in aggregator whose behaviour the test switches: owner-with-answer, not-owner, hanging
    let mode: 'liked' | 'not-owner' | 'hang' = 'liked';
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(req.url ?? '');
      if (mode === 'hang') return; // never answers
      if (mode === 'not-owner') {
        res.writeHead(409).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ partition, postId, userId: user, liked: true, asOfOffset: 3 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await publishOwners(redis, prefix, [partition], { url, memberId: 'm1', generation: 1 });
      // the api re-reads the owners map when the change is announced; on a cluster the announcement
      // crosses the cluster bus to the node the api listens on, so it may land after the next request
      if (target.name === 'cluster') await waitFor('owners change heard', async () => (await ask()).liked === true);
      expect(await ask()).toEqual({ liked: true, reason: null });
      expect(seen).toContain(`/internal/partitions/${partition}/likes/${postId}/${user}`);
      mode = 'not-owner';
      expect(await ask()).toEqual({ liked: null, reason: 'rebalancing' });
      mode = 'hang';
      expect(await ask()).toEqual({ liked: null, reason: 'timeout' });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('GET /v1/likes: order as asked, duplicates answered once, 100 posts in one call', async () => {
    await set('b1', 5);
    await set('b3', 12_345);
    const res = await get('/v1/likes?posts=b3,b1,b2,b1');
    expect(res.status).toBe(200);
    const { posts } = (await res.json()) as {
      posts: { postId: string; count: number; display: string; asOf: string | null }[];
    };
    expect(posts.map((p) => [p.postId, p.count, p.display])).toEqual([
      ['b3', 12_345, '12.3K'],
      ['b1', 5, '5'],
      ['b2', 0, '0'],
    ]);
    expect(posts[2].asOf).toBeNull();

    const hundred = Array.from({ length: 100 }, (_, i) => `h${i}`);
    const all = (await (await get(`/v1/likes?posts=${hundred.join(',')}`)).json()) as { posts: unknown[] };
    expect(all.posts).toHaveLength(100);
  });

  it('bad input is 400 problem+json with a precise detail', async () => {
    const cases: [string, RegExp][] = [
      ['/v1/likes', /posts is required/],
      ['/v1/likes?posts=', /entry 1 is empty/],
      ['/v1/likes?posts=a,,b', /entry 2 is empty/],
      ['/v1/likes?posts=a,b,', /entry 3 is empty/],
      [
        `/v1/likes?posts=${Array.from({ length: 101 }, (_, i) => `p${i}`).join(',')}`,
        /at most 100 posts per request \(got 101\)/,
      ],
      ['/v1/likes?posts=ok,bad%20id', /post id "bad id" does not match/],
      ['/v1/likes?posts=a&limit=3', /unknown query parameter "limit"/],
      [`/v1/posts/${'x'.repeat(65)}/likes`, /postId "x{65}" does not match/],
      ['/v1/posts/bad%2Fid/likes', /postId "bad\/id" does not match/],
      ['/v1/posts/bad.id/likes/stream', /postId "bad.id" does not match/],
    ];
    for (const [path, detail] of cases) {
      const p = await problem(await get(path), 400);
      expect(p.detail).toMatch(detail);
    }
  });

  it('SSE: current count at once, every change after it, cleanup on disconnect', async () => {
    await set('streamed', 41);
    const reads = api.app.get(ReadSide);
    const a = await openSse(`${api.url}/v1/posts/streamed/likes/stream`);
    const b = await openSse(`${api.url}/v1/posts/streamed/likes/stream`);
    try {
      expect(a.status).toBe(200);
      expect(a.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(await a.until(() => true)).toMatchObject({ postId: 'streamed', count: 41, display: '41' });
      expect(a.retry).toBeGreaterThan(0);
      await b.until((e) => e.count === 41);
      expect(reads.live.stats()).toEqual({ channels: 1, viewers: 2 });

      await set('streamed', 42);
      await set('streamed', 10_001);
      for (const c of [a, b])
        expect(await c.until((e) => e.count === 10_001)).toMatchObject({ display: '10K' });
      // never backwards: counts arrive in the order they were applied
      const counts = a.events.map((e) => e.count);
      expect(counts).toEqual([...counts].sort((x, y) => x - y));
    } finally {
      a.close();
      b.close();
    }
    await waitFor('viewers released', () => reads.live.stats().viewers === 0);
    expect(reads.live.stats().channels).toBe(0);
    // reconnecting gets the current count at once
    const again = await openSse(`${api.url}/v1/posts/streamed/likes/stream`);
    try {
      expect(await again.until(() => true)).toMatchObject({ count: 10_001 });
    } finally {
      again.close();
    }
  });

  it('read side healing: count, batch and stream are 503 + Retry-After (never a partial total), /ready says why; open streams are refreshed once it is complete', async () => {
    await set('healed', 7);
    const watcher = await openSse(`${api.url}/v1/posts/healed/likes/stream`);
    try {
      expect(await watcher.until(() => true)).toMatchObject({ count: 7 });
      // what a projector leaves while it heals after a loss: no sentinel, partition 1 not restored yet
      await redis.hdel(progressKey(prefix), 'p:1');
      await redis.del(readySentinelKey(prefix));
      for (const path of ['/v1/posts/healed/likes', '/v1/likes?posts=healed,other', '/v1/posts/healed/likes/stream']) {
        const res = await get(path);
        const p = await problem(res, 503);
        expect(res.headers.get('retry-after')).toBe('2');
        expect(p.type).toBe('https://doubletap.dev/problems/read-side-healing');
        expect(p.detail).toMatch(/read side healing: 2 of 3 partitions restored/);
      }
      const ready = await get('/ready');
      expect(ready.status).toBe(503);
      const report = (await ready.json()) as { checks: Record<string, { status: string; error?: string }> };
      expect(report.checks['read-side']).toMatchObject({ status: 'down', error: 'read side healing: 2 of 3 partitions restored' });
      expect(report.checks.redis.status).toBe('ok');

      // the heal applies a record: nothing is announced to the open stream while the total may be partial
      await projection.applyBatch([{ postId: 'healed', partition: 1, count: 5, sourceOffset: offset++ }]);
      await new Promise((r) => setTimeout(r, 200));
      expect(watcher.events.map((e) => e.count)).toEqual([7]);

      await markReadSideComplete(redis, prefix, PARTITIONS); // the heal is done
      expect(await watcher.until((e) => e.count === 12)).toMatchObject({ display: '12' });
      expect(watcher.events.map((e) => e.count)).toEqual([7, 12]);
      expect(await (await get('/v1/posts/healed/likes')).json()).toMatchObject({ count: 12 });
      expect((await get('/ready')).status).toBe(200);
    } finally {
      watcher.close();
    }
  });

  it('Redis down: reads are 503 with Retry-After, never 500', async () => {
    const down = await startApi({
      ...topicEnv(topics),
      REDIS_URL: target.name === 'cluster' ? 'redis+cluster://127.0.0.1:1,127.0.0.1:2' : 'redis://127.0.0.1:1',
      RATE_LIMIT_PER_SEC: '0',
    });
    try {
      for (const path of ['/v1/posts/p1/likes', '/v1/likes?posts=p1,p2', '/v1/posts/p1/likes/stream']) {
        const res = await fetch(`${down.url}${path}`);
        const p = await problem(res, 503);
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(p.detail).toMatch(/read model \(Redis\) cannot answer/);
      }
      // bad input is still the client's problem
      await problem(await fetch(`${down.url}/v1/likes?posts=a,,b`), 400);
    } finally {
      await down.close();
    }
  });

  it('OpenAPI documents the read routes', async () => {
    const doc = (await (await get('/docs/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/posts/{postId}/likes', '/v1/likes', '/v1/posts/{postId}/likes/stream']),
    );
    expect(doc.paths['/v1/posts/{postId}/likes'].get).toBeDefined();
  });

  it('serves the page; /dev/token exists only in development on loopback', async () => {
    const page = await get('/p/some_post');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('EventSource');
    await problem(await get('/p/bad.post'), 400);
    // this api runs with NODE_ENV=test: the route is not there at all
    const none = await problem(await get('/dev/token?user=dana'), 404);
    expect(none.detail).toBe('no route for GET /dev/token');
    // the same settings in development (still on 127.0.0.1): a token this api accepts
    const dev = await startApi({ ...topicEnv(topics), REDIS_KEY_PREFIX: prefix, REDIS_URL: target.url, NODE_ENV: 'development' });
    try {
      const minted = (await (await fetch(`${dev.url}/dev/token?user=dana`)).json()) as {
        userId: string;
        token: string;
      };
      expect(minted.userId).toBe('dana');
      const res = await get('/v1/posts/popular/likes', { authorization: `Bearer ${minted.token}` });
      expect(res.status).toBe(200);
    } finally {
      await dev.close();
    }
  });
});
