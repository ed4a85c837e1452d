import { request, type IncomingMessage } from 'node:http';
import type { HaproxyProcess } from '@doubletap/balancer';
import { homePartition } from '@doubletap/likes';
import {
  AppCluster,
  groundTruth,
  randomActions,
  startLoadBalancer,
  waitFor,
  type Action,
} from '@doubletap/testing';

// 3 api replicas behind Debian's HAProxy (libs/balancer), 2 aggregators, 1 projector, on fresh
// topics: what `npm start -- --api 3 --aggregators 2` runs, checked from the client's side.

const PARTITIONS = 4;
const POSTS = 12;
const USERS = 40;

interface CountView {
  postId: string;
  count: number;
  likedByViewer?: boolean;
}

/** An SSE stream opened through the balancer; `events` fills with the parsed `count` events. */
function openStream(url: string): Promise<{ res: IncomingMessage; events: CountView[]; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      const events: CountView[] = [];
      let buffer = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (block.includes('event: count') && data) events.push(JSON.parse(data.slice(6)) as CountView);
        }
      });
      res.on('error', () => undefined);
      resolve({ res, events, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A like or unlike through the balancer; a 503 (admission control, ADR 0011: nothing written) is retried. */
async function send(url: string, token: string, a: Action): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${url}/v1/posts/${a.postId}/likes`, {
      method: a.action === 'LIKE' ? 'POST' : 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    await res.arrayBuffer();
    if (res.status === 202) return;
    if (res.status !== 503 || attempt >= 30)
      throw new Error(`${a.action} ${a.postId} by ${a.userId}: ${res.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function countsThrough(url: string, posts: readonly string[]): Promise<Map<string, number>> {
  const res = await fetch(`${url}/v1/likes?posts=${posts.join(',')}`);
  if (res.status !== 200) throw new Error(`GET /v1/likes: ${res.status}`);
  const body = (await res.json()) as { posts: CountView[] };
  return new Map(body.posts.map((p) => [p.postId, p.count]));
}

describe('several instances behind HAProxy', () => {
  let cluster: AppCluster | undefined;
  let lb: HaproxyProcess | undefined;
  const actions = randomActions(600, 13, POSTS, USERS, { postPrefix: 'lb-' });
  const posts = Array.from({ length: POSTS }, (_, i) => `lb-${i}`);
  const truth = groundTruth(actions, posts);
  /** each (post, user) pair's last action: liked or not */
  const liked = new Map<string, boolean>();
  for (const a of actions) liked.set(`${a.postId}/${a.userId}`, a.action === 'LIKE');
  const tokens = new Map<string, string>();
  const tokenOf = async (userId: string) => {
    if (!tokens.has(userId)) tokens.set(userId, await cluster!.token(userId));
    return tokens.get(userId)!;
  };

  beforeAll(async () => {
    cluster = await AppCluster.start({
      name: 'e2e-lb',
      apis: 3,
      aggregators: 2,
      projectors: 1,
      partitions: PARTITIONS,
    });
    lb = await startLoadBalancer(
      cluster.live('api').map((m) => ({ name: m.id, host: '127.0.0.1', port: m.port })),
      { name: 'e2e-lb' },
    );
    await lb.untilServers('UP', undefined, 30_000);
    // the group has settled: every partition owned, by both aggregators
    await waitFor(
      'both aggregators owning partitions',
      async () => {
        const owners = await cluster!.owners();
        return owners.size === PARTITIONS && new Set(owners.values()).size === 2;
      },
      60_000,
    );
  }, 240_000);
  afterAll(async () => {
    // the apps first, HAProxy last (as `npm start` stops them)
    try {
      await cluster?.stop();
    } finally {
      await lb?.stop();
    }
  });

  it('spreads likes over the 3 replicas; the counts read through the balancer equal the ground truth', async () => {
    const url = lb!.url;
    // every pair's actions in order (the truth is the last action of each pair), pairs in parallel
    const byPair = new Map<string, Action[]>();
    for (const a of actions)
      byPair.set(`${a.postId}/${a.userId}`, [...(byPair.get(`${a.postId}/${a.userId}`) ?? []), a]);
    const queue = [...byPair.values()];
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        for (let pair = queue.shift(); pair; pair = queue.shift())
          for (const a of pair) await send(url, await tokenOf(a.userId), a);
      }),
    );
    let last = new Map<string, number>();
    await waitFor(
      'the counts to reach the ground truth',
      async () => {
        last = await countsThrough(url, posts);
        return posts.every((p) => last.get(p) === truth.get(p));
      },
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: read ${JSON.stringify([...last])}, truth ${JSON.stringify([...truth])}`);
    });
    expect(last).toEqual(truth);
    // least connections spread the requests: every replica served a share
    const stats = await lb!.stats();
    // the api backend's servers (streams have a backend of their own on the same replicas: ADR 0022)
    const served = Object.fromEntries(
      stats.servers.filter((s) => s.proxy === 'api').map((s) => [s.server, s.totalSessions]),
    );
    expect(Object.keys(served).sort()).toEqual(['api-1', 'api-2', 'api-3']);
    for (const n of Object.values(served)) expect(n).toBeGreaterThan(actions.length / 10);
    process.stdout.write(
      `load-balancer e2e: ${actions.length} likes/unlikes through HAProxy, sessions per replica ${JSON.stringify(served)}\n`,
    );
  });

  it('answers likedByViewer through the balancer for partitions of both aggregators', async () => {
    const owners = await cluster!.owners();
    const checked = new Map<string, { liked: number; notLiked: number }>();
    for (const [pair, isLiked] of liked) {
      const [postId, userId] = pair.split('/');
      const owner = owners.get(homePartition(postId, userId, PARTITIONS))!;
      const seen = checked.get(owner) ?? { liked: 0, notLiked: 0 };
      if ((isLiked ? seen.liked : seen.notLiked) >= 3) continue;
      const res = await fetch(`${lb!.url}/v1/posts/${postId}/likes`, {
        headers: { authorization: `Bearer ${await tokenOf(userId)}` },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as CountView;
      expect({ pair, likedByViewer: body.likedByViewer }).toEqual({ pair, likedByViewer: isLiked });
      if (isLiked) seen.liked++;
      else seen.notLiked++;
      checked.set(owner, seen);
    }
    expect(Object.fromEntries(checked)).toEqual({
      'aggregator-1': { liked: 3, notLiked: 3 },
      'aggregator-2': { liked: 3, notLiked: 3 },
    });
  });

  it('an SSE stream through the balancer receives the count push', async () => {
    const url = lb!.url;
    const stream = await openStream(`${url}/v1/posts/lb-sse/likes/stream`);
    try {
      expect(stream.res.statusCode).toBe(200);
      expect(stream.res.headers['content-type']).toMatch(/^text\/event-stream/);
      await waitFor('the first count event', () => stream.events.length > 0, 10_000);
      expect(stream.events[0]).toMatchObject({ postId: 'lb-sse', count: 0 });
      await send(url, await tokenOf('sse-viewer'), {
        postId: 'lb-sse',
        userId: 'sse-viewer',
        action: 'LIKE',
      });
      await waitFor('the pushed count 1', () => stream.events.some((e) => e.count === 1), 30_000);
    } finally {
      stream.close();
    }
  });

  it('kill -9 of one api replica: HAProxy marks it DOWN within 2 s and reads keep succeeding', async () => {
    const [c, balancer] = [cluster!, lb!];
    const victim = c.list('api')[1];
    const failures: string[] = [];
    let reads = 0;
    let reading = true;
    const readers = Array.from({ length: 4 }, async () => {
      while (reading) {
        try {
          const counts = await countsThrough(balancer.url, posts);
          if (counts.size !== POSTS) failures.push(`${counts.size} posts answered`);
          reads++;
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await c.kill(victim.id);
    await balancer.untilServers('DOWN', [victim.id], 10_000);
    const downAfterMs = Date.now() - t0;
    const readsAtDown = reads;
    await new Promise((r) => setTimeout(r, 1000));
    reading = false;
    await Promise.all(readers);
    process.stdout.write(
      `load-balancer e2e: ${victim.id} killed, DOWN after ${downAfterMs} ms; ${reads} reads (${readsAtDown} before DOWN), ${failures.length} failed\n`,
    );
    expect(downAfterMs).toBeLessThan(2000);
    expect(failures).toEqual([]);
    expect(readsAtDown).toBeGreaterThan(0);
    expect(reads).toBeGreaterThan(readsAtDown);
    const states = Object.fromEntries(
      (await balancer.stats()).servers.filter((s) => s.proxy === 'api').map((s) => [s.server, s.state]),
    );
    expect(states).toEqual({ 'api-1': 'UP', [victim.id]: 'DOWN', 'api-3': 'UP' });
    // and the counts are still the truth, through the two replicas left
    expect(await countsThrough(balancer.url, posts)).toEqual(truth);
  });
});
