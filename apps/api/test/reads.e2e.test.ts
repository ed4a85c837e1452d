import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventCodec } from '@doubletap/events';
import { createRedis } from '@doubletap/redis';
import { type Action, countsFromTopic, freePort, groundTruth, type Pipeline, randomActions, startPipeline, waitFor } from '@doubletap/testing';
import { openSse } from './sse-client';

// every like must be a 202 here: admission control (which answers 503 when the api's event loop lags
// behind, as it does on a CI machine running other suites beside this one) is the overload e2e's subject
const NO_ADMISSION = { ADMISSION_ENABLED: 'false' };

interface PostLikes {
  postId: string;
  count: number;
  display: string;
  likedByViewer: boolean | null;
  asOf: string | null;
}

/**
 * Sends the actions over HTTP: each user's actions strictly one after another (so "last action
 * wins" is well defined), all users at once. Every answer must be 202.
 */
async function send(p: Pipeline, actions: readonly Action[]): Promise<void> {
  const byUser = new Map<string, Action[]>();
  for (const a of actions) byUser.set(a.userId, [...(byUser.get(a.userId) ?? []), a]);
  const tokens = new Map(
    await Promise.all([...byUser.keys()].map(async (u) => [u, await p.token(u)] as const)),
  );
  await Promise.all(
    [...byUser].map(async ([userId, mine]) => {
      for (const a of mine) {
        const res = await fetch(`${p.apiUrl}/v1/posts/${a.postId}/likes`, {
          method: a.action === 'LIKE' ? 'POST' : 'DELETE',
          headers: { authorization: `Bearer ${tokens.get(userId)}` },
        });
        if (res.status !== 202)
          throw new Error(`${a.action} ${a.postId} by ${userId}: ${res.status} ${await res.text()}`);
      }
    }),
  );
}

async function getCount(
  p: Pipeline,
  postId: string,
  token?: string,
): Promise<{ body: PostLikes; res: Response }> {
  const res = await fetch(`${p.apiUrl}/v1/posts/${postId}/likes`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (res.status !== 200) throw new Error(`GET ${postId}: ${res.status} ${await res.text()}`);
  return { body: (await res.json()) as PostLikes, res };
}

async function apiCounts(p: Pipeline, posts: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const postId of posts) out[postId] = (await getCount(p, postId)).body.count;
  return out;
}

/** Waits until the aggregator applied everything, then until the read API shows the log's counts. */
async function settled(p: Pipeline, posts: readonly string[]): Promise<Record<string, number>> {
  await waitFor('aggregator caught up', () => p.aggregatorCaughtUp(), 60000, 200);
  const codec = new EventCodec(p.settings.registry.url, p.settings.topics);
  const fromLog = await countsFromTopic(p.kafka, codec, p.settings.topics.counts);
  const expected = Object.fromEntries(posts.map((id) => [id, fromLog.get(id) ?? 0]));
  let last: Record<string, number> = {};
  await waitFor(
    'projector caught up',
    async () => JSON.stringify((last = await apiCounts(p, posts))) === JSON.stringify(expected),
    60000,
    200,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nexpected ${JSON.stringify(expected)}\nread     ${JSON.stringify(last)}`);
  });
  return last;
}

const truthOf = (actions: readonly Action[], posts: readonly string[]): Record<string, number> =>
  Object.fromEntries(posts.map((p) => [p, groundTruth(actions, posts).get(p) ?? 0]));

describe('read path end to end: api + aggregator + projector as processes', () => {

  it('likes and unlikes over HTTP → exact counts in GET and batch, SSE sees the change, likedByViewer follows the viewer', async () => {
    const p = await startPipeline({ partitions: 4, env: NO_ADMISSION });
    const posts = Array.from({ length: 8 }, (_, i) => `post-${i}`);
    const sse = await openSse(`${p.apiUrl}/v1/posts/post-0/likes/stream`);
    try {
      expect(await sse.until(() => true)).toMatchObject({ postId: 'post-0', count: 0 });
      // random traffic (double taps and unlikes of posts never liked included), plus explicit ones
      const actions: Action[] = [
        ...randomActions(700, 20261125, posts.length, 40),
        { postId: 'post-1', userId: 'twice', action: 'LIKE' },
        { postId: 'post-1', userId: 'twice', action: 'LIKE' },
        { postId: 'post-2', userId: 'never', action: 'UNLIKE' },
        { postId: 'post-2', userId: 'never', action: 'UNLIKE' },
      ];
      expect(actions.filter((a) => a.action === 'UNLIKE').length).toBeGreaterThan(100);
      await send(p, actions);

      const truth = truthOf(actions, posts);
      expect(Object.values(truth).every((n) => n > 0)).toBe(true);
      const read = await settled(p, posts);
      expect(read).toEqual(truth);

      // the batch endpoint agrees (order as asked, one entry per post)
      const batch = (await (
        await fetch(`${p.apiUrl}/v1/likes?posts=${[...posts].reverse().join(',')}`)
      ).json()) as {
        posts: { postId: string; count: number }[];
      };
      expect(batch.posts.map((x) => x.postId)).toEqual([...posts].reverse());
      expect(Object.fromEntries(batch.posts.map((x) => [x.postId, x.count]))).toEqual(truth);

      // the SSE subscriber saw the count move, in order, up to the final value
      await sse.until((e) => e.count === truth['post-0']);
      expect(sse.events.length).toBeGreaterThan(1);
      const asOfs = sse.events.map((e) => (e.asOf === null ? 0 : Date.parse(e.asOf)));
      expect(asOfs).toEqual([...asOfs].sort((a, b) => a - b));

      // likedByViewer from the real owner of partition(postId/userId), for a sample of pairs
      const last = new Map<string, Action>();
      for (const a of actions) last.set(`${a.postId}/${a.userId}`, a);
      const sample = [...last.values()].filter((_, i) => i % 7 === 0).slice(0, 25);
      sample.push(last.get('post-1/twice')!, last.get('post-2/never')!);
      for (const a of sample) {
        const { body, res } = await getCount(p, a.postId, await p.token(a.userId));
        expect([
          a.postId,
          a.userId,
          body.likedByViewer,
          res.headers.get('x-liked-by-viewer-unavailable'),
        ]).toEqual([a.postId, a.userId, a.action === 'LIKE', null]);
      }

      // one viewer: like → true and count +1; unlike → false and count back
      const token = await p.token('zoe');
      const before = truth['post-3'];
      expect((await getCount(p, 'post-3', token)).body.likedByViewer).toBe(false);
      const from = sse.events.length;
      await send(p, [{ postId: 'post-3', userId: 'zoe', action: 'LIKE' }]);
      await waitFor(
        'like applied',
        async () => (await getCount(p, 'post-3', token)).body.likedByViewer === true,
      );
      await waitFor('count +1', async () => (await getCount(p, 'post-3')).body.count === before + 1);
      await send(p, [{ postId: 'post-3', userId: 'zoe', action: 'UNLIKE' }]);
      await waitFor(
        'unlike applied',
        async () => (await getCount(p, 'post-3', token)).body.likedByViewer === false,
      );
      await waitFor('count back', async () => (await getCount(p, 'post-3')).body.count === before);
      // post-0's stream saw nothing of post-3
      expect(sse.events.slice(from).every((e) => e.postId === 'post-0')).toBe(true);
    } finally {
      sse.close();
      await p.close();
    }
  });

  it('Redis killed (-9) and restarted mid-stream: reads 503 with Retry-After meanwhile, totals exact afterwards', async () => {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'dt-redis-'));
    let redis: ChildProcess | undefined;
    const startRedis = async () => {
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
        ],
        { stdio: 'ignore' },
      );
      const probe = createRedis({ url: `redis://127.0.0.1:${port}`, offlineQueue: true });
      try {
        await waitFor('own redis up', async () => (await probe.ping()) === 'PONG', 10000);
      } finally {
        probe.disconnect();
      }
      return child;
    };
    redis = await startRedis();
    const p = await startPipeline({
      partitions: 4,
      redisUrl: `redis://127.0.0.1:${port}`,
      env: NO_ADMISSION,
    });
    const posts = Array.from({ length: 6 }, (_, i) => `rp-${i}`);
    const sse = await openSse(`${p.apiUrl}/v1/posts/rp-0/likes/stream`);
    try {
      const actions = randomActions(900, 777, posts.length, 30, { postPrefix: 'rp-' });
      expect(new Set(actions.map((a) => a.postId))).toEqual(new Set(posts));
      const first = actions.slice(0, 300);
      const during = actions.slice(300, 600);
      const after = actions.slice(600);
      await send(p, first);
      // wait until some of it is in Redis, so the kill lands in the middle of the projection
      await waitFor(
        'first counts visible',
        async () => (await getCount(p, 'rp-0')).body.count > 0,
        30000,
        100,
      );

      redis.kill('SIGKILL');
      await new Promise((r) => redis!.once('exit', r));
      await send(p, during); // writes do not need Redis (rate limit off)
      for (const path of [
        '/v1/posts/rp-1/likes',
        '/v1/likes?posts=rp-1,rp-2',
        '/v1/posts/rp-1/likes/stream',
      ]) {
        const res = await fetch(`${p.apiUrl}${path}`);
        expect([path, res.status, res.headers.get('content-type')]).toEqual([
          path,
          503,
          'application/problem+json',
        ]);
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }

      redis = await startRedis(); // same port, same append-only file
      await send(p, after);
      const truth = truthOf(actions, posts);
      expect(await settled(p, posts)).toEqual(truth);
      // the stream opened before the outage is still served and ends on the exact count
      await sse.until((e) => e.count === truth['rp-0'], 30000);
    } finally {
      sse.close();
      await p.close();
      redis?.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('Redis killed (-9) and restarted EMPTY (no persistence) near the end of a run: reads refused, never partial, until the projector healed it; then exact', async () => {
    const port = await freePort();
    let redis: ChildProcess | undefined;
    const startRedis = async () => {
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'no', '--save', ''],
        { stdio: 'ignore' },
      );
      const probe = createRedis({ url: `redis://127.0.0.1:${port}`, offlineQueue: true });
      try {
        await waitFor('own redis up', async () => (await probe.ping()) === 'PONG', 10000);
      } finally {
        probe.disconnect();
      }
      return child;
    };
    redis = await startRedis();
    const p = await startPipeline({
      partitions: 4,
      redisUrl: `redis://127.0.0.1:${port}`,
      env: NO_ADMISSION,
    });
    // likes only: every post's count can only grow, so any total served after the loss from a
    // COMPLETE read side is at least what was served before it; a partial one (some partitions
    // missing) falls below
    const posts = Array.from({ length: 40 }, (_, i) => `lp-${i}`);
    const actions = randomActions(1200, 4242, posts.length, 60, { postPrefix: 'lp-' }).map((a) => ({ ...a, action: 'LIKE' as const }));
    const projector = p.apps.find((a) => a.name === 'projector')!;
    const sse = await openSse(`${p.apiUrl}/v1/posts/lp-0/likes/stream`);
    try {
      await send(p, actions.slice(0, 1000));
      await settled(p, posts);
      const before = await apiCounts(p, posts);

      redis.kill('SIGKILL');
      await new Promise((r) => redis!.once('exit', r));
      redis = await startRedis(); // empty: the data and the projector's progress are gone
      const truth = truthOf(actions, posts);
      const answers = { ok: 0, healing: 0, unavailable: 0, partial: [] as string[] };
      let reading = true;
      const reader = (async () => {
        while (reading) {
          const res = await fetch(`${p.apiUrl}/v1/likes?posts=${posts.join(',')}`);
          if (res.status === 200) {
            answers.ok++;
            for (const c of ((await res.json()) as { posts: { postId: string; count: number }[] }).posts)
              if (c.count < before[c.postId] || c.count > truth[c.postId])
                answers.partial.push(`${c.postId}: ${c.count} outside [${before[c.postId]}, ${truth[c.postId]}]`);
          } else {
            expect(res.status).toBe(503);
            expect(res.headers.get('retry-after')).not.toBeNull();
            const problem = (await res.json()) as { type: string };
            if (problem.type.endsWith('/read-side-healing')) answers.healing++;
            else answers.unavailable++;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await send(p, actions.slice(1000));
      expect(await settled(p, posts)).toEqual(truth);
      reading = false;
      await reader;
      expect(answers.partial).toEqual([]);
      expect(answers.ok).toBeGreaterThan(0);
      expect(projector.logs.some((l) => l.includes('read side lost: healing partition'))).toBe(true);
      expect((await fetch(`${p.apiUrl}/ready`)).status).toBe(200);
      await sse.until((e) => e.count === truth['lp-0'], 30000);
    } finally {
      sse.close();
      await p.close();
      redis?.kill('SIGKILL');
    }
  });
});
