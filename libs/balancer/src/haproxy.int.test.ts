import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, REPO_ROOT } from '@doubletap/testing';
import { checkHaproxyConfig, haproxyConfig, startHaproxy, type HaproxyProcess } from '@doubletap/balancer';

// Debian's haproxy (scripts/ensure-haproxy.sh; `npm test` installs it) against two tiny HTTP
// servers standing in for api replicas: no Kafka, no apps, a few seconds.

interface FakeReplica {
  name: string;
  port: number;
  ready: boolean;
  server: Server;
  /** open SSE responses */
  streams: Set<ServerResponse>;
}

async function fakeReplica(name: string): Promise<FakeReplica> {
  const port = await freePort();
  const replica: FakeReplica = {
    name,
    port,
    ready: true,
    server: undefined as unknown as Server,
    streams: new Set(),
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

const until = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('HAProxy with the generated config', () => {
  let dir: string;
  let replicas: FakeReplica[] = [];
  let lb: HaproxyProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-balancer-'));
  });
  afterEach(async () => {
    await lb?.stop();
    lb = undefined;
    for (const r of replicas) {
      for (const s of r.streams) s.destroy();
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
    const [listen, stats] = [await freePort(), await freePort()];
    lb = await startHaproxy({
      stackDir: dir,
      instanceName: 'haproxy-ready',
      listen: { host: '127.0.0.1', port: listen },
      stats: { host: '127.0.0.1', port: stats },
      servers: replicas.map((r) => ({ name: r.name, host: '127.0.0.1', port: r.port })),
    });
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
    const [listen, stats] = [await freePort(), await freePort()];
    lb = await startHaproxy({
      stackDir: dir,
      instanceName: 'haproxy-sse',
      listen: { host: '127.0.0.1', port: listen },
      stats: { host: '127.0.0.1', port: stats },
      servers: replicas.map((r) => ({ name: r.name, host: '127.0.0.1', port: r.port })),
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
    const byServer = Object.fromEntries((await lb.stats()).servers.map((s) => [s.server, s.sessions]));
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
