/**
 * npm run bench:reads — the read API over HTTP and freshness, with api + aggregator + projector
 * running as their own processes on fresh topics, groups, key prefix and data dir:
 *  1. reads/s (autocannon, fixed concurrency, loopback) of GET /v1/posts/:id/likes (anonymous and
 *     with a bearer token, i.e. with the likedByViewer query to the owning aggregator) and of
 *     GET /v1/likes?posts=<100 ids>; and, in the same run with the same settings, the NestJS-on-Fastify
 *     hello-world of bench/ingest.ts (bench/hello-app.ts), so the GET figures come with their ratio;
 *  2. freshness: an open-loop steady ingest (BENCH_RATE likes/s for BENCH_FRESH_SECONDS, every
 *     like a new (post, user) pair over BENCH_FRESH_POSTS posts) while one SSE stream per post
 *     watches the read API. For each post the k-th 202 is matched with the first SSE event whose
 *     count is ≥ k: freshness = that event's arrival − the 202's arrival (p50/p99/max).
 * Writes bench/results/reads-<ts>.json and replaces/appends the "## Reads and freshness" section
 * of BENCHMARKS.md.
 * The HTTP targets are measured in turn, BENCH_ROUNDS times over, each row its target's median round.
 * Knobs: BENCH_CONNECTIONS (64), BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_RATE (1000), BENCH_FRESH_SECONDS (10),
 * BENCH_FRESH_POSTS (50), BENCH_TARGETS (a comma list of hello, get, viewer, many, hello-fixed: only
 * those, and BENCHMARKS.md is not written), BENCH_API_CPU_PROF (a directory: the api and the aggregator run with
 * `node --cpu-prof` and write their V8 CPU profiles to its api/ and aggregator/ on exit).
 */
import { performance } from 'node:perf_hooks';
import { mintToken } from '@doubletap/auth';
import { cpuUse, ownCpu, processCpu, type CpuSample, type CpuUse } from '@doubletap/loadgen';
import { startPipeline, stopChild } from '@doubletap/testing';
import { autocannon, type CannonRequest } from './lib/autocannon';
import { spawnHelloWorld } from './lib/hello';
import { describeMachine, writeSection } from './lib/benchmarks-md';
import { intKnob, machine, medianRound, writeResult } from './lib/common';

const CONNECTIONS = intKnob('BENCH_CONNECTIONS', 64);
const SECONDS = intKnob('BENCH_SECONDS', 10);
const RATE = intKnob('BENCH_RATE', 1000);
const FRESH_SECONDS = intKnob('BENCH_FRESH_SECONDS', 10);
const FRESH_POSTS = intKnob('BENCH_FRESH_POSTS', 50);
const ROUNDS = intKnob('BENCH_ROUNDS', 3);
/** BENCH_TARGETS=viewer,get: measure only these targets (hello, get, viewer, many, hello-fixed); the JSON is written, BENCHMARKS.md is not */
const ONLY = process.env.BENCH_TARGETS ? new Set(process.env.BENCH_TARGETS.split(',').map((t) => t.trim())) : undefined;
const TARGET_KEYS = ['hello', 'get', 'viewer', 'many', 'hello-fixed'];
const unknownTargets = [...(ONLY ?? [])].filter((t) => !TARGET_KEYS.includes(t));
if (unknownTargets.length > 0 || ONLY?.size === 0)
  throw new Error(`BENCH_TARGETS takes a comma list of ${TARGET_KEYS.join(', ')} (got ${JSON.stringify(process.env.BENCH_TARGETS)})`);
const HELLO = 'hello-world (NestJS + Fastify, bench/hello-app.ts), the GET\'s request stream';
const HELLO_FIXED = 'hello-world, one fixed request (the reference until 2026-12-04)';
const GET_ONE = 'GET one post (anonymous)';
const GET_VIEWER = 'GET one post + likedByViewer (bearer)';
const log = (msg: string) => process.stderr.write(`bench:reads ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pct = (sorted: number[], q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

interface Row {
  target: string;
  connections: number;
  reqPerSec: number;
  postsPerSec: number;
  p50ms: number;
  p99ms: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** req/s of every round, in order (the row is the median round) */
  rounds?: number[];
  /**
   * CPU over the measured window: the process that answered (the api or the hello-world), the
   * aggregator (the likedByViewer answers) and the load generator (this process); per request and
   * cores busy. Tells a target bound by CPU from one bound by a round trip.
   */
  cpu?: { server: CpuUse | null; aggregator: CpuUse | null; generator: CpuUse };
}

/** "24 (0.71) · 3 (0.08) · 11 (0.33)": server, aggregator (its background work shows in every row), generator */
function cpuCell(cpu: Row['cpu']): string {
  if (!cpu) return 'n/a';
  const one = (c: CpuUse | null) => (c ? `${Math.round(c.usPerRequest)} (${c.cores})` : 'n/a');
  return [one(cpu.server), one(cpu.aggregator), one(cpu.generator)].join(' · ');
}

/** One SSE stream per post: the arrival time of every count event. */
function watch(url: string, onCount: (count: number, at: number) => void): AbortController {
  const controller = new AbortController();
  void (async () => {
    const res = await fetch(url, { signal: controller.signal });
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const at = performance.now();
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (data) onCount((JSON.parse(data.slice(6)) as { count: number }).count, at);
      }
    }
  })().catch(() => undefined);
  return controller;
}

async function main(): Promise<void> {
  const cpuProf = process.env.BENCH_API_CPU_PROF;
  const pipeline = await startPipeline({
    name: 'bench-reads',
    nodeArgs: cpuProf
      ? { api: ['--cpu-prof', `--cpu-prof-dir=${cpuProf}/api`], aggregator: ['--cpu-prof', `--cpu-prof-dir=${cpuProf}/aggregator`] }
      : undefined,
  });
  const { settings, url } = pipeline;
  const apiPid = pipeline.processes.get('api')?.pid;
  const aggregatorPid = pipeline.processes.get('aggregator')?.pid;
  const pidCpu = (pid: number | undefined) => (pid === undefined ? undefined : processCpu(pid));
  const hello = await spawnHelloWorld(log);
  const rows: Row[] = [];
  const fresh: number[] = [];
  let sent = 0;
  let accepted = 0;
  let late = 0;
  let unmatched = 0;
  try {
    // some counts to read: 2,000 likes over 1,000 posts
    log('seeding 2,000 likes over 1,000 posts');
    const seedTokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => mintToken(settings.auth.hs256Secret, `seed_${i}`)),
    );
    for (let i = 0; i < 2000; i += 200) {
      await Promise.all(
        Array.from({ length: 200 }, (_, j) =>
          fetch(`${url}/v1/posts/post_${(i + j) % 1000}/likes`, {
            method: 'POST',
            headers: { authorization: `Bearer ${seedTokens[(i + j) % 20]}` },
          }).then((r) => r.arrayBuffer()),
        ),
      );
    }
    const viewerTokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => mintToken(settings.auth.hs256Secret, `viewer_${i}`)),
    );
    let n = 0;
    // the GET's request stream; the hello-world gets the same stream (the same builder, the post in
    // its query): autocannon shares the cores, and a fixed request costs it ~20 % less than one
    // built per request, which the hello-world's rate would otherwise gain
    const stream = (method: string, pathOf: (post: string) => string): CannonRequest => ({
      method,
      path: pathOf('post_0'),
      setupRequest: (req) => ({ ...req, path: pathOf(`post_${n++ % 1000}`) }),
    });
    const single = stream('GET', (post) => `/v1/posts/${post}/likes`);
    const helloStream = stream('POST', (post) => `/hello?post=${post}`);
    const singleAuthed: CannonRequest = {
      method: 'GET',
      path: '/v1/posts/post_0/likes',
      setupRequest: (req) => {
        n++;
        return {
          ...req,
          path: `/v1/posts/post_${n % 1000}/likes`,
          headers: { authorization: `Bearer ${viewerTokens[n % viewerTokens.length]}` },
        };
      },
    };
    const batch: CannonRequest = {
      method: 'GET',
      path: '/v1/likes',
      setupRequest: (req) => {
        const from = (n++ * 100) % 1000;
        return {
          ...req,
          path: `/v1/likes?posts=${Array.from({ length: 100 }, (_, i) => `post_${from + i}`).join(',')}`,
        };
      },
    };
    await hello.ready();
    // the targets in turn, ROUNDS times over; each row is its target's median round
    const targets = (
      [
        ['hello', HELLO, helloStream, 1, hello.url],
        ['get', GET_ONE, single, 1, url],
        ['viewer', GET_VIEWER, singleAuthed, 1, url],
        ['many', 'GET /v1/likes, 100 posts', batch, 100, url],
        ['hello-fixed', HELLO_FIXED, { method: 'POST', path: '/hello' } as CannonRequest, 1, hello.url],
      ] as const
    )
      .filter(([key]) => !ONLY || ONLY.has(key))
      .map(([, ...rest]) => rest);
    const measured: Row[][] = targets.map(() => []);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [t, [name, request, posts, target]] of targets.entries()) {
        const warmup = round === 1 ? 2 : 1;
        log(`round ${round} of ${ROUNDS}, ${name}: warm-up ${warmup}s, then ${SECONDS}s at ${CONNECTIONS} connections`);
        await autocannon({ url: target, connections: CONNECTIONS, duration: warmup, requests: [request] });
        const server = target === url ? apiPid : hello.child.pid;
        const before = { server: pidCpu(server), aggregator: pidCpu(aggregatorPid), generator: ownCpu(), at: performance.now() };
        const r = await autocannon({ url: target, connections: CONNECTIONS, duration: SECONDS, requests: [request] });
        const wall = (performance.now() - before.at) / 1000;
        const sent = r.requests.total;
        const use = (from: CpuSample | undefined, to: CpuSample | undefined) => (from && to ? cpuUse(from, to, sent, wall) : null);
        measured[t].push({
          target: name,
          connections: CONNECTIONS,
          reqPerSec: Math.round(r.requests.average),
          postsPerSec: Math.round(r.requests.average * posts),
          p50ms: r.latency.p50,
          p99ms: r.latency.p99,
          ok: r['2xx'],
          non2xx: r.non2xx,
          errors: r.errors + r.timeouts,
          cpu: { server: use(before.server, pidCpu(server)), aggregator: use(before.aggregator, pidCpu(aggregatorPid)), generator: cpuUse(before.generator, ownCpu(), sent, wall) },
        });
      }
    }
    for (const runs of measured) rows.push(medianRound(runs));

    // freshness at a steady, open-loop ingest rate
    log(`freshness: ${RATE} likes/s for ${FRESH_SECONDS}s over ${FRESH_POSTS} posts, SSE on each`);
    const posts = Array.from({ length: FRESH_POSTS }, (_, i) => `fresh_${i}`);
    const seen = new Map<string, { count: number; at: number }[]>(posts.map((p) => [p, []]));
    const streams = posts.map((p) =>
      watch(`${url}/v1/posts/${p}/likes/stream`, (count, at) => seen.get(p)!.push({ count, at })),
    );
    const users = Math.ceil((RATE * FRESH_SECONDS) / FRESH_POSTS) + 1;
    const tokens = await Promise.all(
      Array.from({ length: users }, (_, i) => mintToken(settings.auth.hs256Secret, `fresh_user_${i}`)),
    );
    while ([...seen.values()].some((e) => e.length === 0)) await sleep(20); // every stream delivered its first count
    const acks = new Map<string, number[]>(posts.map((p) => [p, []]));
    const inflight: Promise<void>[] = [];
    const t0 = performance.now();
    const total = RATE * FRESH_SECONDS;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
      for (; sent < due; sent++) {
        const post = posts[sent % FRESH_POSTS];
        const token = tokens[Math.floor(sent / FRESH_POSTS)];
        inflight.push(
          fetch(`${url}/v1/posts/${post}/likes`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
          })
            .then(async (r) => {
              const at = performance.now();
              await r.arrayBuffer();
              if (r.status === 202) {
                accepted++;
                acks.get(post)!.push(at);
              }
            })
            .catch(() => undefined),
        );
      }
      await sleep(2);
    }
    await Promise.all(inflight);
    const deadline = performance.now() + 60000;
    while (performance.now() < deadline) {
      if (posts.every((p) => (seen.get(p)!.at(-1)?.count ?? 0) >= acks.get(p)!.length)) break;
      await sleep(50);
    }
    streams.forEach((s) => s.abort());
    for (const p of posts) {
      const events = seen.get(p)!;
      acks
        .get(p)!
        .sort((a, b) => a - b)
        .forEach((ackAt, k) => {
          const visible = events.find((e) => e.count >= k + 1);
          if (!visible) {
            unmatched++;
            return;
          }
          const ms = visible.at - ackAt;
          if (ms < 0) late++; // visible before the 202 arrived (the ack travelled slower than the count)
          fresh.push(Math.max(0, ms));
        });
    }
  } finally {
    await Promise.all([pipeline.stop(), stopChild(hello.child)]);
  }
  const rate = (name: string) => rows.find((r) => r.target === name)?.reqPerSec ?? NaN;
  const ratios = {
    getOneVsHello: round(rate(GET_ONE) / rate(HELLO), 2),
    /** the same against the hello-world sent one fixed request (the reference until 2026-12-04) */
    getOneVsFixedHello: round(rate(GET_ONE) / rate(HELLO_FIXED), 2),
    viewerVsGetOne: round(rate(GET_VIEWER) / rate(GET_ONE), 2),
  };

  fresh.sort((a, b) => a - b);
  const freshness = {
    rate: RATE,
    seconds: FRESH_SECONDS,
    posts: FRESH_POSTS,
    sent,
    accepted,
    measured: fresh.length,
    unmatched,
    visibleBeforeAck: late,
    p50ms: round(pct(fresh, 0.5)),
    p90ms: round(pct(fresh, 0.9)),
    p99ms: round(pct(fresh, 0.99)),
    maxms: round(fresh.at(-1) ?? NaN),
  };
  const result = {
    at: new Date().toISOString(),
    machine: machine(),
    settings: { connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, partitions: settings.topics.partitions },
    rows,
    ratios,
    freshness,
  };
  const file = writeResult('reads', result.at, result);
  if (ONLY) {
    log(`wrote ${file} (BENCH_TARGETS: BENCHMARKS.md left as it was)`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }

  const fmt = (v: number) => v.toLocaleString('en-US');
  writeSection('Reads and freshness', [
    'Command: `npm run bench:reads` (knobs: `BENCH_CONNECTIONS` (64), `BENCH_SECONDS` (10), `BENCH_ROUNDS` (3), `BENCH_RATE` (1000), `BENCH_FRESH_SECONDS` (10), `BENCH_FRESH_POSTS` (50)). The HTTP targets are measured in turn, every round, and each row is its target\'s median round (every round in the last column): a ratio compares figures taken close together.',
    `Last run ${result.at} on ${describeMachine(result.machine)}; api, aggregator and projector as their own processes (fresh ${settings.topics.partitions}-partition topics), Kafka, the registry, Redis and the load generator on the same cores; raw numbers in \`${file}\`.`,
    '',
    `| HTTP reads (${CONNECTIONS} connections, ${SECONDS} s, loopback, median of ${ROUNDS} rounds) | req/s | posts/s | p50 | p99 | non-2xx | rounds (req/s) | CPU µs per request (cores): server · aggregator · generator |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.target} | **${fmt(r.reqPerSec)}** | ${fmt(r.postsPerSec)} | ${r.p50ms} ms | ${r.p99ms} ms | ${r.non2xx + r.errors} | ${(r.rounds ?? []).map(fmt).join(' · ')} | ${cpuCell(r.cpu)} |`,
    ),
    '',
    `GET one post = **${ratios.getOneVsHello}×** the hello-world of the same run sent the same request stream (${ratios.getOneVsFixedHello}× the hello-world sent one fixed request, the reference until 2026-12-04); GET + likedByViewer = **${ratios.viewerVsGetOne}×** the plain GET.`,
    '',
    `Freshness (202 → visible in the read API's SSE stream), open-loop ${fmt(RATE)} likes/s for ${FRESH_SECONDS} s over ${FRESH_POSTS} posts (${fmt(accepted)} of ${fmt(sent)} accepted): ` +
      `**p50 ${freshness.p50ms} ms, p99 ${freshness.p99ms} ms** (p90 ${freshness.p90ms} ms, max ${freshness.maxms} ms; ${unmatched} not matched).`,
    '',
    "Method: for each post the k-th 202 (in arrival order) is matched with the first SSE event whose count is ≥ k. The path measured is api → Kafka (acks=all) → aggregator (LevelDB batch, CountChanged acks=all) → projector (Lua apply + PUBLISH) → api's shared subscriber → SSE. Reads without a token come from the api's near cache for hot posts (ADR 0013: admitted on the second miss, kept exact by the same pub/sub stream, dropped on any gap) and from one Redis script call otherwise; with a token the api also asks the aggregator owning partition(postId/userId) over HTTP (bounded at 250 ms), concurrent questions to one aggregator batched into one request on kept-alive connections, the owners map cached.",
  ]);

  process.stdout.write(
    `${JSON.stringify(result, null, 2)}\nwritten ${file} and BENCHMARKS.md\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:reads: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
