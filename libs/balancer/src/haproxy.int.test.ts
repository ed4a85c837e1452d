import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, REPO_ROOT } from '@doubletap/testing';
import {
  checkHaproxyConfig,
  haproxyConfig,
  startHaproxy,
  type HaproxyProcess,
  type StartHaproxyOptions,
} from '@doubletap/balancer';

// Debian's haproxy (scripts/ensure-haproxy.sh; `npm test` installs it) against two tiny HTTP
// servers standing in for api replicas: no Kafka, no apps, a few seconds.

interface FakeReplica {
  name: string;
  port: number;
  ready: boolean;
  server: Server;
  /** open SSE responses */
  streams: Set<ServerResponse>;
  /** when set, ordinary requests are held until `release()` (a saturated replica) */
  hold: boolean;
  held: ServerResponse[];
  /** ordinary requests in progress now, and the most at once */
  busy: number;
  maxBusy: number;
}

async function fakeReplica(name: string): Promise<FakeReplica> {
  const port = await freePort();
  const replica: FakeReplica = {
    name,
    port,
    ready: true,
    server: undefined as unknown as Server,
    streams: new Set(),
    hold: false,
    held: [],
    busy: 0,
    maxBusy: 0,
  };
  replica.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/ready') {
      res.writeHead(replica.ready ? 200 : 503).end();
    } else if (req.url?.endsWith('/stream')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: count\ndata: ${name}\n\n`);
      replica.streams.add(res);
      res.on('close', () => replica.streams.delete(res));
    } else if (req.url === '/slow') {
      setTimeout(() => res.writeHead(200).end(name), 1500);
    } else if (replica.hold) {
      replica.busy++;
      replica.maxBusy = Math.max(replica.maxBusy, replica.busy);
      res.on('close', () => replica.busy--);
      replica.held.push(res);
    } else {
      res.writeHead(200).end(name);
    }
  });
  await new Promise<void>((r) => replica.server.listen(port, '127.0.0.1', r));
  return replica;
}

/** Opens an SSE stream through the balancer; `events` fills as `data:` lines arrive. */
function openStream(url: string): Promise<{ res: IncomingMessage; events: string[]; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      const events: string[] = [];
      res.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line.startsWith('data: ')) events.push(line.slice(6));
      });
      res.on('error', () => undefined);
      resolve({ res, events, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  ms: number;
}

/** One request on a connection of its own (no pooling: each is a client), answered or failed. */
function send(url: string, method = 'POST', timeoutMs = 15_000): Promise<Answer> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: Date.now() - t0 }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const until = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** Requests waiting in the queue of the `api` backend (the stats' qcur of its BACKEND row). */
async function queueOf(lb: HaproxyProcess): Promise<number> {
  const csv = await (await fetch(`${lb.statsUrl};csv`)).text();
  const head = csv.split('\n')[0].replace(/^# /, '').split(',');
  const row = csv.split('\n').find((l) => l.startsWith('api,BACKEND,'));
  return Number(row?.split(',')[head.indexOf('qcur')] ?? -1);
}

describe('HAProxy with the generated config', () => {
  let dir: string;
  let replicas: FakeReplica[] = [];
  let lb: HaproxyProcess | undefined;
  /** HAProxy on fresh ports in front of `replicas`, as `lb` (stopped after each test) */
  const startInFront = async (
    instanceName: string,
    options: Partial<StartHaproxyOptions> = {},
  ): Promise<HaproxyProcess> => {
    const [listen, stats] = [await freePort(), await freePort()];
    lb = await startHaproxy({
      stackDir: dir,
      instanceName,
      listen: { host: '127.0.0.1', port: listen },
      stats: { host: '127.0.0.1', port: stats },
      servers: replicas.map((r) => ({ name: r.name, host: '127.0.0.1', port: r.port })),
      ...options,
    });
    return lb;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-balancer-'));
  });
  afterEach(async () => {
    await lb?.stop();
    lb = undefined;
    for (const r of replicas) {
      for (const s of r.streams) s.destroy();
      for (const h of r.held) h.destroy();
      r.server.closeAllConnections();
      await new Promise((done) => r.server.close(done));
    }
    replicas = [];
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes `haproxy -c -f`; a broken config is refused with HAProxy’s own words', async () => {
    const file = join(dir, 'check.cfg');
    await writeFile(
      file,
      haproxyConfig({
        listen: { host: '127.0.0.1', port: 8080 },
        stats: { host: '127.0.0.1', port: 8084 },
        servers: [1, 2, 3].map((n) => ({ name: `api-${n}`, host: '127.0.0.1', port: 8080 + 10 * n })),
      }),
    );
    await expect(checkHaproxyConfig(file)).resolves.toBeUndefined();
    await writeFile(join(dir, 'broken.cfg'), 'defaults\n    mode http\n    balance nosuchalgo\n');
    await expect(checkHaproxyConfig(join(dir, 'broken.cfg'))).rejects.toThrow(
      /refused the config[\s\S]*broken.cfg:3\] : balance only supports/,
    );
  });

  it('checks /ready: a replica answering 503 is DOWN within ~1 s and gets no traffic, then UP again', async () => {
    replicas = [await fakeReplica('api-1'), await fakeReplica('api-2')];
    lb = await startInFront('haproxy-ready');
    expect(readFileSync(join(dir, 'run', 'haproxy-ready.pid'), 'utf8').trim()).toBe(String(lb.pid));
    await lb.untilServers('UP', undefined, 5000);

    replicas[1].ready = false;
    const t0 = Date.now();
    await lb.untilServers('DOWN', ['api-2'], 3000);
    const downAfterMs = Date.now() - t0;
    expect(downAfterMs).toBeLessThan(2000); // inter 500 ms, fall 2
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => (await fetch(`${lb!.url}/x`)).text()),
    );
    expect(new Set(answers)).toEqual(new Set(['api-1']));

    replicas[1].ready = true;
    await lb.untilServers('UP', ['api-2'], 2000); // rise 1
    const stopped = lb;
    await stopped.stop();
    lb = undefined;
    expect(existsSync(stopped.pidFile)).toBe(false);
  });

  it('is SSE-safe: a silent stream outlives the server timeout that ends a slow request, and streams spread by least connections', async () => {
    replicas = [await fakeReplica('api-1'), await fakeReplica('api-2')];
    lb = await startInFront('haproxy-sse', {
      // an ordinary request may keep the server silent 500 ms, a stream 1 h
      timeouts: { serverMs: 500 },
    });
    await lb.untilServers('UP', undefined, 5000);

    const a = await openStream(`${lb.url}/v1/posts/p/likes/stream`);
    const b = await openStream(`${lb.url}/v1/posts/p/likes/stream`);
    expect(a.res.statusCode).toBe(200);
    expect(a.res.headers['content-type']).toBe('text/event-stream');
    await until('the first events', () => a.events.length === 1 && b.events.length === 1);
    // leastconn: the second stream went to the replica without one
    expect(new Set([a.events[0], b.events[0]])).toEqual(new Set(['api-1', 'api-2']));
    const byServer = Object.fromEntries(
      (await lb.stats()).servers.filter((s) => s.proxy === 'api-streams').map((s) => [s.server, s.sessions]),
    );
    expect(byServer).toEqual({ 'api-1': 1, 'api-2': 1 });

    // an ordinary request that keeps the server silent past `timeout server` is cut (504)
    expect((await fetch(`${lb.url}/slow`)).status).toBe(504);
    // the streams were silent as long (1.5 s): still open, and the next event passes at once (no buffering)
    for (const r of replicas) for (const s of r.streams) s.write('event: count\ndata: again\n\n');
    await until('the pushed events', () => a.events.length === 2 && b.events.length === 2, 2000);
    expect(a.res.destroyed).toBe(false);
    a.close();
    b.close();
  });
  it('past capacity: beyond maxconn per replica and the queue, a fast 503 overloaded problem with Retry-After (not a timeout); streams take no slot', async () => {
    replicas = [await fakeReplica('api-1'), await fakeReplica('api-2')];
    const queueMs = 3000;
    lb = await startInFront('haproxy-shed', {
      shedding: { maxConnPerServer: 2, maxQueue: 2, retryAfterSeconds: 2 },
      timeouts: { queueMs },
    });
    await lb.untilServers('UP', undefined, 5000);
    const url = `${lb.url}/v1/posts/p1/likes`;

    // streams first, two per replica: they take no request slot (a backend of their own)
    const streams = await Promise.all(
      [1, 2, 3, 4].map(() => openStream(`${lb!.url}/v1/posts/p/likes/stream`)),
    );
    await until('the streams’ first events', () => streams.every((s) => s.events.length === 1));

    // saturated replicas: every request is held; 4 fill the slots (2 each), 2 more wait in the queue
    for (const r of replicas) r.hold = true;
    const inService = Array.from({ length: 4 }, () => send(url));
    await until('4 requests in service', () => replicas.every((r) => r.busy === 2));
    const queued = [send(url), send(url)];
    await until('2 requests queued', async () => (await queueOf(lb!)) === 2);

    // beyond: refused at once, without waiting for the queue timeout
    const refused = await Promise.all(Array.from({ length: 6 }, () => send(url)));
    for (const a of refused) {
      expect(a.status).toBe(503);
      expect(a.headers['content-type']).toBe('application/problem+json');
      expect(a.headers['retry-after']).toBe('2');
      expect(JSON.parse(a.body)).toEqual({
        type: 'https://doubletap.dev/problems/overloaded',
        title: 'Service Unavailable',
        status: 503,
        detail: expect.stringContaining('nothing was written, retry after 2000 ms'),
        instance: '/v1/posts/p1/likes',
        reason: 'balancer-queue',
        retryAfterMs: 2000,
      });
      expect(a.ms).toBeLessThan(queueMs); // not queued until the timeout: refused on arrival
    }
    // a stream still opens and gets its event while every request slot is taken
    const late = await openStream(`${lb.url}/v1/posts/q/likes/stream`);
    expect(late.res.statusCode).toBe(200);
    await until('the late stream’s event', () => late.events.length === 1);

    // the queued ones: no slot within timeout queue, so HAProxy's own 503, the same problem
    for (const a of await Promise.all(queued)) {
      expect(a.status).toBe(503);
      expect(a.headers['retry-after']).toBe('2');
      expect(a.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(a.body)).toMatchObject({
        type: 'https://doubletap.dev/problems/overloaded',
        status: 503,
        reason: 'balancer-queue-timeout',
        instance: '/v1/posts/p1/likes',
      });
      expect(a.ms).toBeGreaterThanOrEqual(queueMs - 100);
    }
    // no replica ever had more than maxconn requests at once; the held ones are answered on release
    expect(replicas.map((r) => r.maxBusy)).toEqual([2, 2]);
    for (const r of replicas) {
      r.hold = false;
      for (const res of r.held.splice(0)) res.writeHead(202).end(r.name);
    }
    expect((await Promise.all(inService)).map((a) => a.status)).toEqual([202, 202, 202, 202]);
    // and with the slots free again, requests pass
    expect((await send(url)).status).toBe(200);
    for (const s of [...streams, late]) s.close();
  });

  it('no replica up: a fast 503 unavailable problem, for requests and streams', async () => {
    replicas = [await fakeReplica('api-1')];
    replicas[0].ready = false;
    lb = await startInFront('haproxy-none', {
      timeouts: { queueMs: 5000 },
    });
    await lb.untilServers('DOWN', undefined, 5000);
    for (const path of ['/v1/posts/p1/likes', '/v1/posts/p1/likes/stream']) {
      const a = await send(`${lb.url}${path}`, 'GET');
      expect(a.status).toBe(503);
      expect(a.headers['retry-after']).toBe('1');
      expect(JSON.parse(a.body)).toMatchObject({
        type: 'https://doubletap.dev/problems/unavailable',
        status: 503,
        instance: path,
        reason: 'balancer-no-server',
      });
      expect(a.ms).toBeLessThan(5000);
    }
  });

  it('`stack.sh status` shows it (address, health, api servers up) and `stack.sh down` stops it by pid', async () => {
    replicas = [await fakeReplica('api-1')];
    const [listen, stats] = [await freePort(), await freePort()];
    // a stack dir of its own: down there stops this HAProxy and finds nothing else to stop
    const stackDir = join(dir, 'stack');
    const started = await startHaproxy({
      stackDir,
      listen: { host: '127.0.0.1', port: listen },
      stats: { host: '127.0.0.1', port: stats },
      servers: [
        ...replicas.map((r) => ({ name: r.name, host: '127.0.0.1', port: r.port })),
        { name: 'api-2', host: '127.0.0.1', port: await freePort() },
      ],
    });
    lb = started;
    await started.untilServers('DOWN', ['api-2'], 5000);
    const stack = (...args: string[]) =>
      execFileSync('bash', [join(REPO_ROOT, 'scripts/stack/stack.sh'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, DOUBLETAP_STACK_DIR: stackDir },
      });
    const status = (): Record<string, unknown> => {
      try {
        return JSON.parse(stack('status', '--json')) as Record<string, unknown>;
      } catch (e) {
        // exit 1: Kafka and the registry of this stack dir are not ours; the document is still printed
        return JSON.parse((e as { stdout: string }).stdout) as Record<string, unknown>;
      }
    };
    expect(status().haproxy).toEqual({
      address: `127.0.0.1:${listen}`,
      stats: `http://127.0.0.1:${stats}/stats`,
      health: 'unhealthy',
      pid: started.pid,
      serversUp: 1,
      servers: 2,
    });
    stack('down');
    expect(await started.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(existsSync(started.pidFile)).toBe(false);
    expect(status().haproxy).toBeUndefined();
  });
});
