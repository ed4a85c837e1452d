/**
 * npm run bench:ingest — accepted likes/s and latency of POST /v1/posts/:postId/likes (the api as
 * its own process, acks=all to the local Kafka, rate limit off) once per Kafka producer client
 * (KAFKA_PRODUCER_CLIENT: the api started once with each, on a fresh topic of its own), beside a
 * NestJS-on-Fastify hello-world endpoint measured in the same run, all with autocannon at a fixed
 * concurrency over loopback. Writes bench/results/ingest-<ts>.json, the "Ingest by Kafka client"
 * section of BENCHMARKS.md, and prints a table. rows[0] is the hello-world sent the likes' own
 * request stream (the reference of every share), the default client's row comes next (rows[1], what
 * `npm run bench` takes as the maximum ingest rate), the hello-world sent one fixed request last.
 * Every target is measured BENCH_ROUNDS times, in turn (hello-world, each client, the fixed-request
 * hello-world, then again), and each row is its target's median round (all rounds in `rounds`).
 * Knobs: BENCH_CONNECTIONS (64), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_FIRST_WARMUP_SECONDS (the
 * first round's, every target alike: 8, or BENCH_WARMUP_SECONDS when longer), BENCH_ROUNDS (3), BENCH_USERS (1000),
 * BENCH_CLIENTS (every client, the default first; a comma list to measure fewer), BENCH_API_CPU_PROF
 * (a directory: the api runs with `node --cpu-prof` and writes its V8 CPU profile there on exit).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { mintToken } from '@doubletap/auth';
import { loadSettings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, KAFKA_PRODUCER_CLIENTS, type KafkaProducerClient, topicSpecs } from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix, markReadSideComplete } from '@doubletap/redis';
import { processCpuSeconds } from '@doubletap/loadgen';
import { freePort, spawnBuilt, stopChild, uniqueName, untilStatus } from '@doubletap/testing';
import { autocannon, type CannonRequest, type CannonResult } from './lib/autocannon';
import { spawnHelloWorld } from './lib/hello';
import { describeMachine, writeSection } from './lib/benchmarks-md';
import { intKnob, machine, medianRound, ROOT, writeResult } from './lib/common';
import { apiProduceCounters, producedBetween } from './lib/produce';

const CONNECTIONS = intKnob('BENCH_CONNECTIONS', 64);
const SECONDS = intKnob('BENCH_SECONDS', 10);
const WARMUP = intKnob('BENCH_WARMUP_SECONDS', 2);
/**
 * The first round's warm-up, every target alike: a broker started shortly before (the JVM's JIT has
 * not compiled its produce path yet) and a fresh api answered the first rounds of a run at a fraction
 * of the later ones (rounds of 2026-12-05: 4,378 → 7,017 → 10,015 → 10,065 → 11,359 likes/s while the
 * hello-world stayed at 18.6k–22.5k), so without it the rows measured the warm-up.
 */
const FIRST_WARMUP = intKnob('BENCH_FIRST_WARMUP_SECONDS', Math.max(WARMUP, 8));
const USERS = intKnob('BENCH_USERS', 1000);
const ROUNDS = intKnob('BENCH_ROUNDS', 3);
const CPU_PROF = process.env.BENCH_API_CPU_PROF;
const log = (msg: string) => process.stderr.write(`bench:ingest ${msg}\n`);

interface Row {
  target: string;
  /** the api's Kafka producer client; absent for hello-world */
  client?: KafkaProducerClient;
  connections: number;
  seconds: number;
  reqPerSec: number;
  p50ms: number;
  p99ms: number;
  accepted: number;
  non2xx: number;
  errors: number;
  /** CPU time (user + system) the process under test spent per 2xx during the measured run */
  apiCpuMicrosPerLike?: number;
  /** the api's produce requests during the measured run (its /metrics): how many, records per request, mean acks=all round trip */
  produce?: { requests: number; recordsPerRequest: number; meanMs: number };
  /** req/s of every round, in order (the row is the median round) */
  rounds?: number[];
}

const HELLO = 'hello-world (NestJS + Fastify), the likes\' request stream';
const HELLO_FIXED = 'hello-world, one fixed request (the reference until 2026-12-04)';

const row = (target: string, r: CannonResult, client?: KafkaProducerClient): Row => ({
  target,
  client,
  connections: CONNECTIONS,
  seconds: SECONDS,
  reqPerSec: Math.round(r.requests.average),
  p50ms: r.latency.p50,
  p99ms: r.latency.p99,
  accepted: r['2xx'],
  non2xx: r.non2xx,
  errors: r.errors + r.timeouts,
});

async function main(): Promise<void> {
  const settings = loadSettings({ ...process.env, LOG_LEVEL: 'warn' });
  const defaultClient = settings.kafka.producerClient;
  const clients = (process.env.BENCH_CLIENTS?.split(',').filter(Boolean) ?? [
    defaultClient,
    ...KAFKA_PRODUCER_CLIENTS.filter((c) => c !== defaultClient),
  ]) as KafkaProducerClient[];
  for (const c of clients)
    if (!KAFKA_PRODUCER_CLIENTS.includes(c)) throw new Error(`BENCH_CLIENTS: unknown client ${c} (${KAFKA_PRODUCER_CLIENTS.join(', ')})`);
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'bench-ingest' });
  // the api is ready only once its read side is complete (ADR 0008); no projector runs here, so the
  // bench declares it complete under a key prefix of its own
  const prefix = `${uniqueName('bench-ingest')}:`;
  const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
  await markReadSideComplete(redis, prefix, settings.topics.partitions);
  const hello = await spawnHelloWorld(log);
  const rows: Row[] = [];
  const eventsInTopic: Partial<Record<KafkaProducerClient, number>> = {};
  const created: string[] = [];
  try {
    await hello.ready();
    log(`minting ${USERS} tokens`);
    const tokens = await Promise.all(
      Array.from({ length: USERS }, (_, i) => mintToken(settings.auth.hs256Secret, `bench_user_${i}`)),
    );
    let n = 0;
    // the likes' request stream; the hello-world gets the same stream (same builder, same bearer
    // header, the post in its query): autocannon shares the cores, and a fixed request costs it
    // ~20 % less than one built per request, which the hello-world's rate would otherwise gain
    const stream = (pathOf: (post: string) => string): CannonRequest[] => [
      {
        method: 'POST',
        path: pathOf('p'),
        setupRequest: (req) => {
          n++;
          return {
            ...req,
            path: pathOf(`post_${n % 997}`),
            headers: { authorization: `Bearer ${tokens[n % tokens.length]}` },
          };
        },
      },
    ];
    const likes = stream((post) => `/v1/posts/${post}/likes`);
    const helloStream = stream((post) => `/hello?post=${post}`);
    const measure = async (warmup: number, name: string, url: string, requests: CannonRequest[], client?: KafkaProducerClient, pid?: number) => {
      log(`${name}: warm-up ${warmup}s`);
      await autocannon({ url, connections: CONNECTIONS, duration: warmup, requests: [...requests] });
      log(`${name}: ${SECONDS}s at ${CONNECTIONS} connections`);
      const producedBefore = client ? await apiProduceCounters(url) : undefined;
      const cpuBefore = processCpuSeconds(pid);
      const r = row(name, await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests: [...requests] }), client);
      const cpuAfter = processCpuSeconds(pid);
      if (cpuBefore !== undefined && cpuAfter !== undefined && r.accepted > 0)
        r.apiCpuMicrosPerLike = Math.round(((cpuAfter - cpuBefore) * 1e6) / r.accepted);
      if (producedBefore) {
        const { requests: sent, recordsPerRequest, meanMs } = producedBetween(producedBefore, await apiProduceCounters(url));
        if (sent > 0) r.produce = { requests: sent, recordsPerRequest, meanMs };
      }
      return r;
    };
    // every api started first (one per client, each on a fresh topic of its own), then the targets
    // measured in turn, ROUNDS times over: the machine's other load changes from minute to minute,
    // and a ratio is only fair between figures taken close together; each row is its target's
    // median round
    const apis: Array<{ client: KafkaProducerClient; url: string; child: ChildProcess; topic: string }> = [];
    try {
      for (const client of clients) {
        const topics = {
          events: uniqueName(`bench-events-${client}`),
          counts: uniqueName('bench-counts'),
          deadLetter: uniqueName('bench-dlq'),
          partitions: settings.topics.partitions,
        };
        await ensureTopics(kafka, topicSpecs(topics));
        created.push(topics.events, topics.counts, topics.deadLetter);
        const apiPort = await freePort();
        const child = spawnBuilt('apps/api/src/main.js', {
          KAFKA_PRODUCER_CLIENT: client,
          REDIS_KEY_PREFIX: prefix,
          API_PORT: String(apiPort),
          TOPIC_EVENTS: topics.events,
          TOPIC_COUNTS: topics.counts,
          TOPIC_DEAD_LETTER: topics.deadLetter,
          RATE_LIMIT_PER_SEC: '0',
          LOG_LEVEL: 'warn',
        }, log, { nodeArgs: CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [] });
        apis.push({ client, url: `http://127.0.0.1:${apiPort}`, child, topic: topics.events });
      }
      for (const api of apis) await untilStatus(`${api.url}/ready`, (s) => s === 200, `api (${api.client})`, { child: api.child });
      const targets: Array<(warmup: number) => Promise<Row>> = [
        (w) => measure(w, HELLO, hello.url, helloStream, undefined, hello.child.pid),
        ...apis.map((api) => (w: number) => measure(w, `POST like (acks=all, ${api.client})`, api.url, likes, api.client, api.child.pid)),
        // the reference before 2026-12-04: one fixed request, for comparison with older runs
        (w) => measure(w, HELLO_FIXED, hello.url, [{ method: 'POST', path: '/hello' }], undefined, hello.child.pid),
      ];
      const measured: Row[][] = targets.map(() => []);
      for (let round = 1; round <= ROUNDS; round++) {
        log(`round ${round} of ${ROUNDS}`);
        for (let t = 0; t < targets.length; t++) measured[t].push(await targets[t](round === 1 ? FIRST_WARMUP : WARMUP));
      }
      for (const runs of measured) rows.push(medianRound(runs));
    } finally {
      await Promise.all(apis.map((api) => stopChild(api.child)));
    }
    const admin = kafka.admin();
    await admin.connect();
    for (const api of apis)
      eventsInTopic[api.client] = (await admin.fetchTopicOffsets(api.topic)).reduce((s, p) => s + Number(p.high), 0);
    await admin.disconnect();
  } finally {
    await stopChild(hello.child);
    await deleteTopics(kafka, created).catch(() => undefined);
    await deleteKeysWithPrefix(redis, prefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
  }

  const base = rows[0];
  const share = (r: Row) => Math.round((r.reqPerSec / base.reqPerSec) * 100) / 100;
  const byClient: Partial<Record<KafkaProducerClient, Pick<Row, 'reqPerSec' | 'apiCpuMicrosPerLike'> & { likesVsHello: number; eventsInTopic?: number }>> = {};
  for (const r of rows)
    if (r.client) byClient[r.client] = { reqPerSec: r.reqPerSec, likesVsHello: share(r), eventsInTopic: eventsInTopic[r.client] };
  const result = {
    at: new Date().toISOString(),
    machine: machine(),
    settings: {
      connections: CONNECTIONS,
      seconds: SECONDS,
      rounds: ROUNDS,
      warmupSeconds: WARMUP,
      firstWarmupSeconds: FIRST_WARMUP,
      users: USERS,
      partitions: settings.topics.partitions,
      lingerMs: settings.api.lingerMs,
      batchMaxSize: settings.api.batchMaxSize,
      defaultClient,
      clients,
    },
    rows,
    /** the first measured client's share (the default client's unless BENCH_CLIENTS says otherwise) */
    likesVsHello: share(rows[1]),
    eventsInTopic: eventsInTopic[clients[0]],
    byClient,
  };
  const file = writeResult('ingest', result.at, result);
  writeIngestSection(result.at, result.machine, rows, share, eventsInTopic, file, settings.topics.partitions);

  const pad = (s: string | number, w: number) => String(s).padStart(w);
  process.stdout.write(
    [
      `${'target'.padEnd(66)}${pad('req/s', 9)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('2xx', 9)}${pad('non-2xx', 9)}${pad('errors', 8)}${pad('/hello', 8)}${pad('µs CPU', 8)}  produce requests (records each, mean ms)`,
      ...rows.map(
        (r) =>
          `${r.target.padEnd(66)}${pad(r.reqPerSec, 9)}${pad(r.p50ms, 8)}${pad(r.p99ms, 8)}${pad(r.accepted, 9)}${pad(r.non2xx, 9)}${pad(r.errors, 8)}${pad(`${Math.round(share(r) * 100)}%`, 8)}${pad(r.apiCpuMicrosPerLike ?? '', 8)}${r.produce ? `  ${r.produce.requests} (${r.produce.recordsPerRequest}, ${r.produce.meanMs} ms)` : ''}`,
      ),
      `events in topic (warm-up + run): ${clients.map((c) => `${c} ${eventsInTopic[c]}`).join(', ')}`,
      `written ${join(ROOT, file)}`,
    ].join('\n') + '\n',
  );
}

/** The "Ingest by Kafka client" section of BENCHMARKS.md: this run's rows, its command and machine. */
function writeIngestSection(
  at: string,
  m: ReturnType<typeof machine>,
  rows: Row[],
  share: (r: Row) => number,
  events: Partial<Record<KafkaProducerClient, number>>,
  file: string,
  partitions: number,
): void {
  const knobs = ['BENCH_SECONDS', 'BENCH_WARMUP_SECONDS', 'BENCH_FIRST_WARMUP_SECONDS', 'BENCH_ROUNDS', 'BENCH_CONNECTIONS', 'BENCH_CLIENTS', 'PRODUCER_LINGER_MS']
    .filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${process.env[k]} `)
    .join('');
  writeSection('Ingest by Kafka client', [
    `Command: \`${knobs}npm run bench:ingest\` (the api started once per client with \`KAFKA_PRODUCER_CLIENT\`, each on a fresh ${partitions}-partition topic; the targets measured in turn, ${ROUNDS} rounds, each row its target's median round (every round's req/s in the last column); the hello-world sent the same request stream as the likes (the same builder and bearer header, the post in its query: autocannon shares the cores and spends ~20 % more per request it builds than on one fixed request), and, last in each round, one fixed request (the reference until 2026-12-04); ${CONNECTIONS} connections, ${FIRST_WARMUP} s warm-up before a target's first round and ${WARMUP} s before the others, ${SECONDS} s measured, autocannon over loopback).`,
    `Last run ${at} on ${describeMachine(m)}; Kafka, the registry, Redis, the api and autocannon share the cores, with whatever else ran on the machine (the hello-world row shows how much CPU was left). "CPU per request" is the process's user + system CPU time during the measured run divided by its 2xx answers (/proc), which depends less on that noise than the rates do. Raw numbers: \`${file}\`. Why the default client is the default: docs/adr/0012-platformatic-kafka-producer.md.`,
    '',
    '| target | req/s | p50 | p99 | 2xx | non-2xx | errors | share of hello-world | CPU per request | events in topic | rounds (req/s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.target} | ${r.client ? `**${r.reqPerSec.toLocaleString('en-US')}**` : r.reqPerSec.toLocaleString('en-US')} | ${r.p50ms} ms | ${r.p99ms} ms | ${r.accepted} | ${r.non2xx} | ${r.errors} | ${Math.round(share(r) * 100)} % | ${r.apiCpuMicrosPerLike === undefined ? '' : `${r.apiCpuMicrosPerLike} µs`} | ${r.client ? String(events[r.client] ?? '') : ''} | ${(r.rounds ?? []).map((x) => x.toLocaleString('en-US')).join(' · ')} |`,
    ),
  ]);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:ingest: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
