/**
 * node -r ./scripts/paths.js dist/bench/http-edge.js — the api's HTTP layer alone (ADR 0015): the
 * ReadsModule with an in-memory CountRepository (what the near cache answers), configured by the
 * api's configureHttp, served in a child process, GET /v1/posts/:postId/likes anonymous with the
 * hot read (`hot`) and through Nest's pipeline (`nest`), and the hello-world of bench/hello-app.ts.
 * Besides req/s it reports each server's CPU per request from /proc/<pid>/stat, which holds up when
 * other work shares the cores (req/s does not). Arms alternate, BENCH_ROUNDS times.
 * Writes bench/results/http-edge-<ts>.json. Knobs: BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64).
 */
import 'reflect-metadata';
import { type ChildProcess, fork } from 'node:child_process';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { loadSettings } from '@doubletap/config';
import { processCpuSeconds } from '@doubletap/loadgen';
import { createLogger, createMetricsRegistry } from '@doubletap/observability';
import { type CountSnapshot, LiveCounts } from '@doubletap/redis';
import { configureHttp } from '../apps/api/src/app';
import { edgeServerOptions } from '../apps/api/src/http/edge';
import { PlatformModule } from '../apps/api/src/platform/platform.module';
import { CountRepository } from '../apps/api/src/reads/count.repository';
import { OwnerDirectory } from '../apps/api/src/reads/owner-directory';
import { ReadsModule } from '../apps/api/src/reads/reads.module';
import { autocannon, type CannonRequest } from './lib/autocannon';
import { spawnHelloWorld } from './lib/hello';
import { intKnob, machine, writeResult } from './lib/common';

const SECONDS = intKnob('BENCH_SECONDS', 5);
const ROUNDS = intKnob('BENCH_ROUNDS', 3);
const CONNECTIONS = intKnob('BENCH_CONNECTIONS', 64);
const POSTS = 1000;

/** The child: the api's reads on Fastify with fakes behind the repositories; sends its URL. */
async function serve(hotRead: boolean): Promise<void> {
  const settings = loadSettings({
    LOG_LEVEL: 'warn',
    ADMISSION_MAX_EVENT_LOOP_DELAY_MS: '0',
    ADMISSION_MAX_ELU_PERCENT: '0',
  });
  const logger = createLogger('api', 'warn');
  const metrics = createMetricsRegistry('api');
  const snapshots = new Map<string, CountSnapshot>();
  for (let i = 0; i < POSTS; i++)
    snapshots.set(`post_${i}`, { postId: `post_${i}`, count: i * 7, asOf: Date.now() });
  const read = (postId: string): CountSnapshot => snapshots.get(postId) ?? { postId, count: 0, asOf: null };
  const counts: CountRepository = {
    count: (postId) => Promise.resolve(read(postId)),
    counts: (postIds) => Promise.resolve(postIds.map(read)),
    healing: () => Promise.resolve(undefined),
  };
  const owners: Partial<OwnerDirectory> = { partitions: 0 };
  const live: Partial<LiveCounts> = {
    stats: () => ({ channels: 0, viewers: 0 }),
    close: () => Promise.resolve(),
  };
  const moduleRef = await Test.createTestingModule({
    imports: [PlatformModule.register(settings, logger, metrics), ReadsModule],
  })
    .overrideProvider(CountRepository)
    .useValue(counts)
    .overrideProvider(OwnerDirectory)
    .useValue(owners)
    .overrideProvider(LiveCounts)
    .useValue(live)
    .compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(
    new FastifyAdapter({ bodyLimit: settings.api.bodyLimitBytes, ...edgeServerOptions() }),
    { logger: false, bodyParser: false },
  );
  configureHttp(app, settings, logger, metrics, { hotRead });
  await app.listen(0, '127.0.0.1');
  process.send?.({ url: await app.getUrl() });
  process.once('disconnect', () => void app.close().then(() => process.exit(0)));
}

async function start(arm: string): Promise<{ child: ChildProcess; url: string; request: CannonRequest }> {
  if (arm === 'hello') {
    const hello = await spawnHelloWorld();
    await hello.ready();
    return { child: hello.child, url: hello.url, request: { method: 'POST', path: '/hello' } };
  }
  const child = fork(__filename, ['serve', arm], { execArgv: process.execArgv });
  const { url } = await new Promise<{ url: string }>((resolve) => child.once('message', resolve as never));
  let n = 0;
  const request: CannonRequest = {
    method: 'GET',
    path: '/v1/posts/post_0/likes',
    setupRequest: (req) => ({ ...req, path: `/v1/posts/post_${n++ % POSTS}/likes` }),
  };
  return { child, url, request };
}

async function main(): Promise<void> {
  const at = new Date().toISOString();
  const runs: Array<{ arm: string; reqPerSec: number; cpuMicrosPerRequest: number; non2xx: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const arm of ['hello', 'nest', 'hot']) {
      const { child, url, request } = await start(arm);
      await autocannon({ url, connections: CONNECTIONS, duration: 2, requests: [request] });
      const cpuNow = () => {
        const seconds = processCpuSeconds(child.pid);
        if (seconds === undefined)
          throw new Error(
            `no CPU time for the ${arm} server (pid ${child.pid}): it exited, or there is no /proc`,
          );
        return seconds;
      };
      const before = cpuNow();
      const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests: [request] });
      const cpu = (cpuNow() - before) * 1e6;
      const row = {
        arm,
        reqPerSec: Math.round(r.requests.average),
        cpuMicrosPerRequest: Math.round((100 * cpu) / r.requests.total) / 100,
        non2xx: r.non2xx,
      };
      runs.push(row);
      process.stderr.write(`bench:http-edge ${JSON.stringify(row)}\n`);
      if (arm === 'hello') child.kill('SIGTERM');
      else child.disconnect();
      await new Promise((r) => child.once('exit', r));
    }
  }
  const median = (arm: string, key: 'reqPerSec' | 'cpuMicrosPerRequest') => {
    const v = runs
      .filter((r) => r.arm === arm)
      .map((r) => r[key])
      .sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const summary = Object.fromEntries(
    ['hello', 'nest', 'hot'].map((arm) => [
      arm,
      { reqPerSec: median(arm, 'reqPerSec'), cpuMicrosPerRequest: median(arm, 'cpuMicrosPerRequest') },
    ]),
  );
  const file = writeResult('http-edge', at, {
    at,
    machine: machine(),
    seconds: SECONDS,
    connections: CONNECTIONS,
    runs,
    summary,
  });
  process.stdout.write(`${JSON.stringify({ file, summary })}\n`);
}

if (process.argv[2] === 'serve')
  serve(process.argv[3] === 'hot').catch((e: unknown) => {
    process.stderr.write(`http-edge serve: ${String(e)}\n`);
    process.exit(1);
  });
else
  main().catch((e: unknown) => {
    process.stderr.write(`bench:http-edge: ${String(e)}\n`);
    process.exit(1);
  });
