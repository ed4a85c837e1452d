import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadSettings } from '@doubletap/config';
import { likeKey } from '@doubletap/events';
import { partitionForKey } from '@doubletap/kafka';
import { VIEWER_BATCH_PATH, ViewerLikeClient } from '@doubletap/queries';
import { createRedis, deleteKeysWithPrefix, ownersKey, readOwner, redisReady, type Redis } from '@doubletap/redis';
import { stackEnv, uniqueName } from '@doubletap/testing';

/** A stand-in aggregator speaking the interactive-query protocol: GET /internal/partitions/:p/likes/:postId/:userId */
async function fakeOwner(
  answer: (req: IncomingMessage, res: ServerResponse, m: RegExpExecArray) => void,
): Promise<{ url: string; server: Server; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const m = /^\/internal\/partitions\/(\d+)\/likes\/([^/]+)\/([^/]+)$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    answer(req, res, m);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits };
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

describe('ViewerLikeClient (interactive query to the partition owner)', () => {
  const settings = loadSettings(stackEnv());
  const prefix = `${uniqueName('t')}:`;
  const P = 12;
  let redis: Redis;
  let client: ViewerLikeClient;
  const servers: Server[] = [];

  const setOwner = (partition: number, url: string) =>
    redis.hset(ownersKey(prefix), String(partition), JSON.stringify({ url, memberId: 'm1', generation: 3, updatedAt: new Date().toISOString() }));

  beforeAll(async () => {
    redis = createRedis({ url: settings.redis.url, name: 'viewer-like-test' });
    await redisReady(redis);
    client = new ViewerLikeClient({ lookupOwner: (p) => readOwner(redis, prefix, p), timeoutMs: 300 });
  });
  afterEach(async () => {
    await redis.del(ownersKey(prefix));
  });
  afterAll(async () => {
    client.close();
    servers.forEach((s) => s.closeAllConnections());
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await deleteKeysWithPrefix(redis, prefix);
    await redis.quit();
  });

  it("asks the owner of partition(postId/userId) and returns its answer", async () => {
    const liked = new Set(['post-1/alice']);
    const owner = await fakeOwner((_req, res, m) => {
      const [, p, postId, userId] = m;
      json(res, 200, { postId, userId, partition: Number(p), liked: liked.has(`${postId}/${userId}`), asOfOffset: 41 });
    });
    servers.push(owner.server);
    for (let p = 0; p < P; p++) await setOwner(p, owner.url);

    const alice = await client.likedByViewer('post-1', 'alice', P);
    const bob = await client.likedByViewer('post-1', 'bob', P);
    expect(alice).toEqual({ liked: true, partition: partitionForKey(likeKey('post-1', 'alice'), P), asOfOffset: 41 });
    expect(bob).toMatchObject({ liked: false, partition: partitionForKey(likeKey('post-1', 'bob'), P) });
    expect(owner.hits).toEqual([
      `/internal/partitions/${alice.partition}/likes/post-1/alice`,
      `/internal/partitions/${bob.partition}/likes/post-1/bob`,
    ]);
  });

  it('concurrent questions to one owner leave as ONE batch request; an owner without the batch endpoint is asked one by one', async () => {
    const liked = new Set(['post-9/u1', 'post-9/u4']);
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const batches: number[] = [];
    const batching = createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== VIEWER_BATCH_PATH) return void res.writeHead(404).end();
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { queries } = JSON.parse(body) as { queries: { partition: number; postId: string; userId: string }[] };
        batches.push(queries.length);
        json(res, 200, {
          answers: queries.map((q) =>
            q.userId === 'u6'
              ? { status: 409, partition: q.partition, postId: q.postId, userId: q.userId }
              : { status: 200, ...q, liked: liked.has(`${q.postId}/${q.userId}`), asOfOffset: 7 },
          ),
        });
      });
    });
    await new Promise<void>((r) => batching.listen(0, '127.0.0.1', r));
    servers.push(batching);
    const url = `http://127.0.0.1:${(batching.address() as AddressInfo).port}`;
    for (let p = 0; p < P; p++) await setOwner(p, url);
    const expected = users.map((u) => {
      const partition = partitionForKey(likeKey('post-9', u), P);
      return u === 'u6'
        ? { liked: null, reason: 'rebalancing', partition }
        : { liked: liked.has(`post-9/${u}`), partition, asOfOffset: 7 };
    });
    // the owners map is read once for all of them (lookups in the same turn), so they ask together
    const cached = new Map<number, { url: string }>();
    for (let p = 0; p < P; p++) cached.set(p, (await readOwner(redis, prefix, p))!);
    const batched = new ViewerLikeClient({ lookupOwner: async (p) => cached.get(p), timeoutMs: 1000 });
    expect(await Promise.all(users.map((u) => batched.likedByViewer('post-9', u, P)))).toEqual(expected);
    expect(batches).toEqual([users.length]);

    // an older aggregator (no batch endpoint: 404) answers the same questions one at a time
    const single = await fakeOwner((_req, res, m) => {
      const [, p, postId, userId] = m;
      if (userId === 'u6') return json(res, 409, { title: 'not the owner' });
      json(res, 200, { postId, userId, partition: Number(p), liked: liked.has(`${postId}/${userId}`), asOfOffset: 7 });
    });
    servers.push(single.server);
    for (let p = 0; p < P; p++) cached.set(p, { url: single.url });
    expect(await Promise.all(users.map((u) => batched.likedByViewer('post-9', u, P)))).toEqual(expected);
    expect(single.hits.filter((h) => h.startsWith('/internal/partitions/'))).toHaveLength(users.length);
    batched.close();
  });

  it("says 'no-owner' when nobody owns the viewer's partition", async () => {
    const p = partitionForKey(likeKey('post-2', 'carol'), P);
    await setOwner((p + 1) % P, 'http://127.0.0.1:1');
    await expect(client.likedByViewer('post-2', 'carol', P)).resolves.toEqual({ liked: null, reason: 'no-owner', partition: p });
  });

  it("says 'timeout' when the owner does not answer in time (never hangs)", async () => {
    const owner = await fakeOwner(() => undefined); // accepts, never answers
    servers.push(owner.server);
    const p = partitionForKey(likeKey('post-3', 'dave'), P);
    await setOwner(p, owner.url);
    await expect(client.likedByViewer('post-3', 'dave', P)).resolves.toEqual({ liked: null, reason: 'timeout', partition: p });
    expect(owner.hits).toHaveLength(1);
  });

  it("says 'rebalancing' when the owner is not (any more) the owner, 'error' on a wrong answer", async () => {
    let mode: 'moved' | 'wrong-partition' | 'garbage' = 'moved';
    const owner = await fakeOwner((_req, res, m) => {
      if (mode === 'moved') return json(res, 409, { title: 'not the owner' });
      if (mode === 'wrong-partition') return json(res, 200, { postId: m[2], userId: m[3], partition: 99, liked: true });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{nope');
    });
    servers.push(owner.server);
    const p = partitionForKey(likeKey('post-4', 'erin'), P);
    await setOwner(p, owner.url);
    await expect(client.likedByViewer('post-4', 'erin', P)).resolves.toMatchObject({ liked: null, reason: 'rebalancing' });
    mode = 'wrong-partition';
    await expect(client.likedByViewer('post-4', 'erin', P)).resolves.toMatchObject({ liked: null, reason: 'error' });
    mode = 'garbage';
    await expect(client.likedByViewer('post-4', 'erin', P)).resolves.toMatchObject({ liked: null, reason: 'error' });
  });

  it("says 'rebalancing' when the advertised owner is gone, 'error' when the owners map cannot be read", async () => {
    const gone = await fakeOwner(() => undefined);
    await new Promise((r) => gone.server.close(r));
    const p = partitionForKey(likeKey('post-5', 'frank'), P);
    await setOwner(p, gone.url);
    await expect(client.likedByViewer('post-5', 'frank', P)).resolves.toMatchObject({ liked: null, reason: 'rebalancing' });

    const broken = new ViewerLikeClient({ lookupOwner: () => Promise.reject(new Error('redis down')), timeoutMs: 300 });
    await expect(broken.likedByViewer('post-5', 'frank', P)).resolves.toMatchObject({ liked: null, reason: 'error' });
    const stuck = new ViewerLikeClient({ lookupOwner: () => new Promise(() => undefined), timeoutMs: 100 });
    await expect(stuck.likedByViewer('post-5', 'frank', P)).resolves.toMatchObject({ liked: null, reason: 'timeout' });
    await expect(client.likedByViewer('bad/id', 'frank', P)).resolves.toEqual({ liked: null, reason: 'error' });
  });

  it('asks once more on a new connection when the owner dropped the one it was asked on (an idle keep-alive closing as we wrote)', async () => {
    let dropNext = false;
    const owner = await fakeOwner((req, res, m) => {
      const [, p, postId, userId] = m;
      if (dropNext) {
        dropNext = false;
        req.socket.destroy();
        return;
      }
      json(res, 200, { postId, userId, partition: Number(p), liked: true, asOfOffset: 7 });
    });
    servers.push(owner.server);
    const p = partitionForKey(likeKey('post-6', 'gina'), P);
    await setOwner(p, owner.url);
    await expect(client.likedByViewer('post-6', 'gina', P)).resolves.toMatchObject({ liked: true, asOfOffset: 7 });
    dropNext = true;
    await expect(client.likedByViewer('post-6', 'gina', P)).resolves.toMatchObject({ liked: true, asOfOffset: 7 });
    expect(owner.hits).toHaveLength(3);
  });
});
