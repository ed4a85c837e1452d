/**
 * npm run bench — every figure of the suite in ONE run on the local stack, so ratios hold on a
 * noisy machine, scaled to finish in minutes on a 2-core box:
 *  1. the sub-benchmarks, run as their compiled entry points with small knobs (their own processes,
 *     their own JSON under bench/results/, their own BENCHMARKS.md sections): ingest vs hello-world,
 *     aggregation vs plain consume, projection + library reads, HTTP reads + freshness (bench:reads),
 *     rebuild (bench:rebuild) when present;
 *  2. the viral post through the whole pipeline (api, aggregator, projector as processes on fresh
 *     topics) with `doubletap load`'s engine at 80 % and 150 % of the measured api-only maximum
 *     ingest rate: open-loop, latency from the scheduled time, freshness via SSE, the final
 *     ground-truth check; accepted rate, p99 of the 202s, the fast 503 overloaded refusals (admission
 *     control, docs/adr/0011), client timeouts, and CPU per request of the generator, each app and the local broker (its produce round trip too);
 *  3. the PostgreSQL baseline (bench/pg-app.ts) at the same offered load as the 80 % run;
 *  4. peak RSS of every spawned process, a chart of the viral run (PNG via headless Chromium).
 * Writes bench/results/<timestamp>.json and the "## Summary (npm run bench)" section at the top of
 * BENCHMARKS.md; `--json` prints the JSON document on stdout (progress on stderr).
 * Knobs: BENCH_VIRAL_RAMP (10 s), BENCH_VIRAL_HOLD (15 s), BENCH_VIRAL_SHARES (0.8,1.5),
 * BENCH_VIRAL_CONNECTIONS (32), BENCH_PARTITIONS (12), BENCH_MAX_RATE (skip the measurement: use
 * this as the maximum ingest rate), BENCH_SKIP (comma list of ingest,aggregate,project,reads,
 * rebuild,pg), BENCH_ONLY=viral (the ingest sub-benchmark for the api-only maximum, unless
 * BENCH_MAX_RATE gives it, then only the viral runs; writes the "Graceful overload" section and its
 * JSON, not the summary), plus the sub-benchmarks' own knobs.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadSettings } from '@doubletap/config';
import { cpuLine, FAST_REFUSAL_MS, runLoad, type LoadOptions, type LoadReport } from '@doubletap/loadgen';
import { createRedis, redisReady } from '@doubletap/redis';
import { freePort, peakRssBytes, spawnBuilt, startPipeline, stopChild, untilStatus } from '@doubletap/testing';
import { writeSection } from './lib/benchmarks-md';
import { viralChartSvg, writeChart } from './lib/chart';
import { brokerPid, get, ROOT, writeResult } from './lib/common';
import { aggregatorOutputCounters, apiProduceCounters, type Committed, committedBetween, type Produced, producedBetween } from './lib/produce';
import { doneWhen, goalsTable } from './lib/goals';

const RESULTS = join(ROOT, 'bench', 'results');
const SUMMARY = 'Summary (npm run bench)';
const JSON_OUT = process.argv.includes('--json');
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const RAMP = num('BENCH_VIRAL_RAMP', 10);
const HOLD = num('BENCH_VIRAL_HOLD', 15);
const PARTITIONS = num('BENCH_PARTITIONS', 12);
const SHARES = (process.env.BENCH_VIRAL_SHARES ?? '0.8,1.5').split(',').map(Number);
if (SHARES.some((x) => !(x > 0))) throw new Error('BENCH_VIRAL_SHARES must be a comma list of positive numbers');
const CONNECTIONS = num('BENCH_VIRAL_CONNECTIONS', 32);
/** bench:ingest as the full run and the viral-only run take it (the api-only maximum comes from its rows[1]) */
const INGEST_KNOBS = { BENCH_SECONDS: '3', BENCH_WARMUP_SECONDS: '1', BENCH_ROUNDS: '5', BENCH_CONNECTIONS: '64' };
const ONLY_VIRAL = process.env.BENCH_ONLY === 'viral';
if (process.env.BENCH_ONLY && !ONLY_VIRAL) throw new Error('BENCH_ONLY takes only "viral"');
const OVERLOAD = 'Graceful overload (npm run bench, viral runs)';
const log = (m: string) => process.stderr.write(`bench ${m}\n`);
const since = (t: number) => Math.round((Date.now() - t) / 100) / 10;

type Json = Record<string, unknown>;
interface SubResult {
  command: string;
  seconds?: number;
  file?: string;
  result?: Json;
  skipped?: string;
}

/** Runs a compiled sub-benchmark with knobs (process env wins) and returns its result document. */
async function subBench(name: string, knobs: Record<string, string>): Promise<SubResult> {
  const script = join(ROOT, 'dist', 'bench', `${name}.js`);
  const env = Object.fromEntries(Object.entries(knobs).map(([k, v]) => [k, process.env[k] ?? v]));
  const command = `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} npm run bench:${name}`;
  if (SKIP.has(name)) return { command, skipped: 'skipped (BENCH_SKIP)' };
  if (!existsSync(script)) return { command, skipped: `not available (no bench/${name}.ts in this checkout)` };
  const t0 = Date.now();
  log(`${name}: ${command}`);
  const child = spawn(process.execPath, ['-r', join(ROOT, 'scripts', 'paths.js'), script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.pipe(process.stderr); // stdout stays one JSON document with --json
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) return { command, skipped: `failed (exit ${code}); see the log above` };
  const files = readdirSync(RESULTS)
    .filter((f) => f.startsWith(`${name}-`) && f.endsWith('.json'))
    .map((f) => ({ f, at: statSync(join(RESULTS, f)).mtimeMs }))
    .filter((x) => x.at >= t0)
    .sort((a, b) => b.at - a.at);
  if (files.length === 0) return { command, skipped: `wrote no bench/results/${name}-*.json` };
  log(`${name}: done in ${since(t0)} s`);
  return { command, seconds: since(t0), file: `bench/results/${files[0].f}`, result: JSON.parse(readFileSync(join(RESULTS, files[0].f), 'utf8')) as Json };
}

async function versions(): Promise<Json> {
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return null;
    }
  };
  const settings = loadSettings({ ...process.env, LOG_LEVEL: 'warn' });
  const redis = createRedis({ url: settings.redis.url, name: 'bench' });
  await redisReady(redis);
  const info = await redis.info('server');
  await redis.quit();
  const dist = join(ROOT, '.stack', 'dist');
  const kafka = existsSync(dist) ? readdirSync(dist).map((d) => /^kafka-(.+)$/.exec(d)?.[1]).find(Boolean) : undefined;
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  return {
    node: process.version,
    kafka: kafka ?? null,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? null,
    kafkajs: pkg('kafkajs'),
    platformaticKafka: pkg('@platformatic/kafka'),
    nestjs: pkg('@nestjs/core'),
    fastify: pkg('fastify'),
    ioredis: pkg('ioredis'),
    pg: pkg('pg'),
    git: git || null,
  };
}

function loadOptions(url: string, rate: number, settings: ReturnType<typeof loadSettings>, extra: Partial<LoadOptions> = {}): LoadOptions {
  const expected = rate * (RAMP / 2 + HOLD);
  return {
    scenario: 'viral',
    url,
    rate,
    rampSeconds: RAMP,
    holdSeconds: HOLD,
    maxRequests: Number.MAX_SAFE_INTEGER,
    users: Math.min(200_000, Math.max(1000, Math.ceil(expected))),
    posts: 1,
    zipf: 1,
    doubleTap: 0.1,
    unlike: 0.05,
    connections: CONNECTIONS,
    timeoutMs: 10_000,
    maxInFlight: 20_000,
    sampleEvery: Math.max(1, Math.min(100, Math.floor(expected / 400))),
    freshness: 'sse',
    pollMs: 20,
    check: true,
    checkWaitMs: 120_000,
    seed: 1,
    runId: `bench${Date.now().toString(36)}`,
    auth: { secret: settings.auth.hs256Secret, issuer: settings.auth.issuer, audience: settings.auth.audience },
    log,
    ...extra,
  };
}

const loadCommand = (o: LoadOptions, url = 'http://127.0.0.1:$API_PORT') =>
  `doubletap load viral --url ${url} --rate ${o.rate} --ramp ${o.rampSeconds} --duration ${o.holdSeconds} --double-tap ${o.doubleTap} --unlike ${o.unlike} --connections ${o.connections} --sample-every ${o.sampleEvery} --freshness ${o.freshness} --check-wait ${o.checkWaitMs}${o.watchPids?.api ? ' --cpu-of api=$API_PID' : ''}`;

/** The viral post at shares of the maximum ingest rate, against the full pipeline. */
async function viral(maxRate: number): Promise<Json> {
  const settings = loadSettings({ ...process.env, LOG_LEVEL: 'warn' });
  log(`pipeline: api + aggregator + projector on fresh topics (${PARTITIONS} partitions)`);
  const pipeline = await startPipeline({ partitions: PARTITIONS, name: 'bench', log });
  const runs: Json[] = [];
  let chartTimeline: LoadReport | undefined;
  const watchPids = Object.fromEntries([...pipeline.processes].filter(([, c]) => c.pid !== undefined).map(([name, c]) => [name, c.pid!]));
  // the broker too (its pid from the local stack; an external broker is not watched): in the full
  // pipeline the api's produce round trip, not the api, is most of a 202's latency
  const broker = brokerPid();
  if (broker) watchPids.broker = broker;
  try {
    // warm-up: connections, JIT, consumer fetch loops
    await runLoad(loadOptions(pipeline.url, Math.round(maxRate * 0.3), settings, { rampSeconds: 1, holdSeconds: 3, check: false, freshness: 'off', log: () => undefined }));
    for (const share of SHARES) {
      const o = loadOptions(pipeline.url, Math.round(maxRate * share), settings, { watchPids });
      log(`viral at ${Math.round(share * 100)}% of ${maxRate}/s: ${o.rate}/s`);
      const t0 = Date.now();
      const [producedBefore, committedBefore] = await Promise.all([apiProduceCounters(pipeline.url), aggregatorOutputCounters(pipeline.aggregatorUrl)]);
      const report = await runLoad(o);
      const [producedAfter, committedAfter] = await Promise.all([apiProduceCounters(pipeline.url), aggregatorOutputCounters(pipeline.aggregatorUrl)]);
      const produce = producedBetween(producedBefore, producedAfter);
      const aggregator = committedBetween(committedBefore, committedAfter);
      const c = report.cpu;
      log(`viral ${Math.round(share * 100)}%: accepted ${report.requests.accepted} (${report.requests.acceptedPerSecond}/s), p99 accepted ${report.acceptedLatencyMs.p99} ms, refused ${report.requests.refused} (p99 ${report.refusedLatencyMs.p99} ms), timeouts ${report.requests.timeouts}, cpu µs/request generator ${c.generator?.usPerRequest} api ${c.api?.usPerRequest} broker ${c.broker?.usPerRequest ?? '—'}, freshness p50 ${report.freshness.ms?.p50} p99 ${report.freshness.ms?.p99} ms, check ${report.check?.ok ? 'OK' : 'MISMATCH'} (${since(t0)} s)`);
      log(`viral ${Math.round(share * 100)}%: the api's produce requests ${produce.requests} (${produce.recordsPerRequest} records each, ${produce.meanMs} ms mean acks=all round trip); refusals by signal ${JSON.stringify(produce.refusedBy)}; the aggregator's batches ${aggregator.batches} (${aggregator.recordsPerBatch} records each), transactions ${aggregator.transactions}`);
      runs.push({ share, command: loadCommand(o), produce, aggregator, report: { ...report, timeline: share === SHARES[SHARES.length - 1] ? report.timeline : undefined } });
      if (share === SHARES[SHARES.length - 1]) chartTimeline = report;
    }
    return { partitions: PARTITIONS, runs, peakRssBytes: pipeline.peakRss(), chartRun: chartTimeline };
  } finally {
    await pipeline.stop();
  }
}

/** The produce figures of a viral run as the summary row shows them (none in result files before 2026-12-06). */
function producedText(p: Produced | undefined): string {
  if (!p) return '';
  const by = Object.entries(p.refusedBy).map(([reason, count]) => `${reason} ${count.toLocaleString('en-US')}`).join(', ');
  return `; the api's produce requests ${p.requests.toLocaleString('en-US')} (${p.recordsPerRequest} records each, ${p.meanMs} ms mean acks=all round trip)${by ? `; refused by ${by}` : ''}`;
}

/** The aggregator's batches and transactions of a viral run (none in result files before 2026-12-06 03:20). */
function committedText(c: Committed | undefined): string {
  return c ? `; the aggregator's batches ${c.batches.toLocaleString('en-US')} (${c.recordsPerBatch} records each), output transactions ${c.transactions.toLocaleString('en-US')}` : '';
}

/** PostgreSQL, one row per like + a counter row, at the same offered load (bench/pg-app.ts). */
async function postgres(rate: number): Promise<Json> {
  const settings = loadSettings({ ...process.env, LOG_LEVEL: 'warn' });
  const conn = { host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'postgres', connectionTimeoutMillis: 3000 };
  const admin = new Client(conn);
  try {
    await admin.connect();
  } catch (e) {
    return { skipped: `no PostgreSQL at ${conn.host}:${conn.port} (${e instanceof Error ? e.message : String(e)}): baseline skipped` };
  }
  const version = (await admin.query<{ v: string }>('SELECT version() AS v')).rows[0].v;
  const syncCommit = (await admin.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0].s;
  const table = `bench_${Date.now().toString(36)}`;
  const port = await freePort();
  const app: ChildProcess = spawnBuilt('bench/pg-app.js', { BENCH_PG_PORT: String(port), BENCH_PG_TABLE: table }, log);
  try {
    await untilStatus(`http://127.0.0.1:${port}/ready`, (s) => s === 200, 'pg-app', { child: app });
    const url = `http://127.0.0.1:${port}`;
    await runLoad(loadOptions(url, Math.round(rate * 0.4), settings, { rampSeconds: 1, holdSeconds: 3, check: false, freshness: 'off', log: () => undefined }));
    const o = loadOptions(url, rate, settings, { freshness: 'poll' });
    log(`postgres baseline at ${rate}/s`);
    const report = await runLoad(o);
    log(`postgres: accepted ${report.requests.accepted}, p99 ${report.latencyMs.p99} ms, check ${report.check?.ok ? 'OK' : 'MISMATCH'}`);
    return {
      version,
      synchronousCommit: syncCommit,
      pool: Number(process.env.BENCH_PG_POOL ?? 16),
      command: `${loadCommand(o, 'http://127.0.0.1:<pg-app port>')} (against node dist/bench/pg-app.js)`,
      report,
      peakRssBytes: { 'pg-app': peakRssBytes(app.pid) },
    };
  } finally {
    await stopChild(app);
    await admin.query(`DROP TABLE IF EXISTS ${table}_rows, ${table}_counts`).catch(() => undefined);
    await admin.end();
  }
}

const n = (v: unknown) => (typeof v === 'number' ? v.toLocaleString('en-US') : '—');
const mib = (b: unknown) => (typeof b === 'number' ? `${Math.round(b / 1048576)} MiB` : '—');

/** The summary section's body (without its heading). */
function summary(doc: Json, file: string): string {
  const m = doc.machine as Json;
  const v = doc.versions as Json;
  const sub = doc.benchmarks as Record<string, SubResult | undefined>;
  const row = (what: string, result: string, command: string) => `| ${what} | ${result} | \`${command}\` |`;
  const subRes = (name: string) => sub[name]?.result;
  const why = (name: string) => sub[name]?.skipped ?? 'not available';
  const cmd = (name: string) => sub[name]?.command ?? `npm run bench:${name}`;
  const lines: string[] = [
    `Last run ${String(doc.at)}: \`${String(doc.command)}\` took ${String(doc.wallSeconds)} s on ${String(m.cores)}× ${String(m.cpu)}, ${mib(m.memoryBytes)} RAM, Linux ${String(m.kernel)}; Node ${String(v.node)}, Kafka ${String(v.kafka)} (single local broker), Redis ${String(v.redis)}, kafkajs ${String(v.kafkajs)}, @platformatic/kafka ${String(v.platformaticKafka)}, NestJS ${String(v.nestjs)}, Fastify ${String(v.fastify)}; git ${String(v.git)}${doc.dirty ? ' + uncommitted changes' : ''}. Everything (Kafka, registry, Redis, PostgreSQL, the apps and the load generator) shares these cores, and other work ran on the machine; raw numbers in \`${file}\`, each sub-benchmark's own file and section below.`,
    '',
    '| figure | result | command |',
    '| --- | --- | --- |',
  ];
  const ingest = subRes('ingest');
  if (ingest) {
    const rows = ingest.rows as Json[];
    // one row per Kafka producer client (older result files have one row, without a client)
    // rows[0]: the hello-world sent the likes' request stream (the reference); since 2026-12-04 a
    // last row without a client: the hello-world sent one fixed request
    const fixed = rows.length > 2 && typeof rows[rows.length - 1].client !== 'string' ? rows[rows.length - 1] : undefined;
    const share = (r: Json, of: Json) => Math.round((Number(r.reqPerSec) / Number(of.reqPerSec)) * 100);
    for (const r of rows.slice(1).filter((x) => x !== fixed)) {
      const client = typeof r.client !== 'string' ? '' : `, ${r.client}${r === rows[1] ? ' (the default)' : ''}`;
      lines.push(row(`ingest: POST like, 202 after acks=all (closed loop, 64 connections${client})`, `**${n(r.reqPerSec)} req/s**, p50 ${String(r.p50ms)} ms, p99 ${String(r.p99ms)} ms; ${share(r, rows[0])} % of hello-world${fixed ? ` (${share(r, fixed)} % of the hello-world sent one fixed request)` : ''}`, cmd('ingest')));
    }
    lines.push(row(`NestJS-on-Fastify hello-world, same run${fixed ? ', sent the likes\' request stream' : ''}`, `${n(rows[0].reqPerSec)} req/s, p50 ${String(rows[0].p50ms)} ms, p99 ${String(rows[0].p99ms)} ms`, cmd('ingest')));
    if (fixed) lines.push(row('the same hello-world sent one fixed request (the reference until 2026-12-04)', `${n(fixed.reqPerSec)} req/s, p50 ${String(fixed.p50ms)} ms, p99 ${String(fixed.p99ms)} ms`, cmd('ingest')));
  } else lines.push(row('ingest vs hello-world', why('ingest'), cmd('ingest')));
  const agg = subRes('aggregate');
  if (agg) {
    lines.push(row('aggregation: apply backlog with stores (events/s)', `**${n(get(agg, 'apply.eventsPerSecond'))} events/s**`, cmd('aggregate')));
    lines.push(row('plain kafkajs consume-and-discard, same topic', `${n(get(agg, 'discardBaseline.recordsPerSecond'))} records/s`, cmd('aggregate')));
    lines.push(row('aggregator replay from the earliest offset (empty stores)', `${n(get(agg, 'replay.eventsPerSecond'))} events/s`, cmd('aggregate')));
    lines.push(row('moved partitions restored from the changelog vs replay', `${String(get(agg, 'changelogRestore.vsReplay'))}× faster from the process start; a moved partition's takeover (assignment → live) ${String(get(agg, 'changelogRestore.movedPartition.restoreSeconds'))} s vs ${String(get(agg, 'changelogRestore.movedPartition.replaySeconds'))} s: **${String(get(agg, 'changelogRestore.movedPartition.vsReplay'))}× faster**`, cmd('aggregate')));
  } else lines.push(row('aggregation', why('aggregate'), cmd('aggregate')));
  const proj = subRes('project');
  if (proj) {
    lines.push(row('projection: likes.counts → Redis', `**${n(get(proj, 'projection.recordsPerSecondSteady'))} records/s**`, cmd('project')));
    lines.push(row('reads (library, LikesReader): 1 post / 100 posts', `${n(get(proj, 'reads.getCount.opsPerSecond'))} reads/s / ${n(get(proj, 'reads.getMany100.opsPerSecond'))} calls/s`, cmd('project')));
  } else lines.push(row('projection', why('project'), cmd('project')));
  const reads = subRes('reads');
  if (reads) {
    for (const r of (reads.rows as Json[] | undefined) ?? []) {
      lines.push(row(`reads over HTTP: ${String(r.target)}`, `**${n(r.reqPerSec)} req/s** (${n(r.postsPerSec)} posts/s), p50 ${String(r.p50ms)} ms, p99 ${String(r.p99ms)} ms`, cmd('reads')));
    }
  }
  if (!reads) lines.push(row('reads over HTTP: single and 100-post', why('reads'), cmd('reads')));
  const rebuild = subRes('rebuild');
  if (rebuild) {
    lines.push(row('rebuild --target state (stores from likes.events)', `**${n(get(rebuild, 'state.recordsPerSecond'))} records/s**`, cmd('rebuild')));
    lines.push(row('rebuild --target read-side (new generation from likes.counts, then switch)', `**${n(get(rebuild, 'readSide.recordsPerSecond'))} records/s**`, cmd('rebuild')));
    lines.push(row('verify (independent recount of likes.events)', `${n(get(rebuild, 'verify.eventsPerSecond'))} events/s`, cmd('rebuild')));
  }
  if (!rebuild) lines.push(row('rebuild rates (read side, state)', `${why('rebuild')}; the state-restore rate above is the aggregator's rebuild from the log`, cmd('rebuild')));
  const vir = doc.viral as Json | undefined;
  const runs = (vir?.runs as Json[] | undefined) ?? [];
  for (const r of runs) {
    const rep = r.report as LoadReport;
    lines.push(
      row(
        `viral post at ${Math.round(Number(r.share) * 100)} % of the api-only max ingest (${n(rep.settings.rate)}/s offered, open loop), full pipeline`,
        `accepted **${n(rep.requests.acceptedPerSecond)}/s** mean over ramp + hold (${n(rep.requests.accepted)}), **p99 of the 202s ${rep.acceptedLatencyMs.p99} ms**; **${n(rep.requests.refused)} fast 503 overloaded** (${n(rep.requests.fastRefusals)} within ${FAST_REFUSAL_MS} ms, p99 ${rep.refusedLatencyMs.p99} ms); **${n(rep.requests.timeouts)} client timeouts**; outcomes ${JSON.stringify(rep.requests.byStatus)}${producedText(r.produce as Produced | undefined)}${committedText(r.aggregator as Committed | undefined)}; CPU per request: ${cpuLine(rep.cpu)}; **freshness p50 ${rep.freshness.ms?.p50 ?? '—'} ms, p99 ${rep.freshness.ms?.p99 ?? '—'} ms** (${rep.freshness.observed} samples, ${rep.freshness.method}); final check ${rep.check ? `${rep.check.ok ? '**OK**' : '**MISMATCH**'}: ${rep.check.mismatchCount} mismatches, ${rep.check.uncertainPairs} uncertain pairs` : 'skipped'}`,
        String(r.command),
      ),
    );
  }
  const pg = doc.postgres as Json | undefined;
  if (pg?.report) {
    const rep = pg.report as LoadReport;
    lines.push(
      row(
        `**baseline: PostgreSQL** row per like + counter row UPDATE, same viral load (${n(rep.settings.rate)}/s), pool ${String(pg.pool)}, synchronous_commit=${String(pg.synchronousCommit)}`,
        `accepted **${n(rep.requests.acceptedPerSecond)}/s** mean over ramp + hold (${n(rep.requests.accepted)}, errors ${n(rep.requests.errors)}: ${JSON.stringify(rep.requests.byStatus)}); latency p50 ${rep.latencyMs.p50} / p99 ${rep.latencyMs.p99} / p99.9 ${rep.latencyMs.p999} ms; freshness p50 ${rep.freshness.ms?.p50 ?? '—'} ms (polling); check ${rep.check?.ok ? 'OK' : 'MISMATCH'}`,
        String(pg.command),
      ),
    );
  } else lines.push(row('baseline: PostgreSQL', typeof pg?.skipped === 'string' ? pg.skipped : 'skipped', 'npm run bench'));
  const rss = { ...((vir?.peakRssBytes as Json) ?? {}), ...((pg?.peakRssBytes as Json) ?? {}), 'bench + load generator': doc.benchPeakRssBytes };
  lines.push(row('peak RSS (VmHWM) per process', Object.entries(rss).map(([k, b]) => `${k} ${mib(b)}`).join(', '), 'npm run bench'));
  lines.push('', ...goalsTable(doneWhen(doc)));
  lines.push(
    '',
    typeof doc.chart === 'string' ? `Chart of the viral run at ${Math.round(SHARES[SHARES.length - 1] * 100)} % (offered vs accepted rate, latency, freshness over time; PostgreSQL, at 80 %, in blue): \`${doc.chart}\`.` : `Chart: ${typeof doc.chartNote === 'string' ? doc.chartNote : 'none'}.`,
    '',
    'How to read it: the viral runs are open loop (requests leave at their scheduled times whatever the answers; latency is measured from the scheduled time, so a stall is charged in full). Freshness = time from a sampled 202 (every n-th accepted like of the viral post) until the SSE stream of `GET /v1/posts/:postId/likes/stream` shows a count at least the ground-truth floor at that 202 (certain likes minus unlikes still in flight). The final check waits for the pipeline, then compares the count read back through `GET /v1/likes?posts=` with the ground truth the generator tracked from its own 202s; a (post, user) whose order or fate is unknown (a LIKE racing an UNLIKE of the same pair, or a 503/timeout: ADR 0002) widens that post\'s expected range instead of being guessed. PostgreSQL gets the same offered load through the same generator, one statement per like (insert row ON CONFLICT DO NOTHING + counter upsert, one round trip), durable before its 202 like acks=all, on a lighter HTTP stack (plain Fastify), so the comparison favours it.',
    '',
  );
  return lines.join('\n');
}

/** The "Graceful overload" section: one row per viral run, the figures issue 12 asks for. */
function overloadSection(doc: Json, file: string): string {
  const vir = doc.viral as Json | undefined;
  const runs = (vir?.runs as Json[] | undefined) ?? [];
  const max = doc.maxIngestRate as Json;
  const lines = [
    `Last run ${String(doc.at)}: \`${String(doc.command)}\`; the api-only maximum ingest rate ${n(max.perSecond)}/s (${String(max.from)}); raw numbers in \`${file}\`. Everything (Kafka, Redis, the three apps, the load generator, and other engineers' work) shares the machine's ${String((doc.machine as Json).cores)} cores.`,
    '',
    '| offered (share of the api-only max) | accepted | p99 of the 202s | 503 overloaded (fast: within 100 ms) | client timeouts | other outcomes | CPU µs per request: generator / api (generator ÷ api) | final check | command |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of runs) {
    const rep = r.report as LoadReport;
    const q = rep.requests;
    const gen = rep.cpu.generator;
    const api = rep.cpu.api;
    const other = Object.entries(q.byStatus).filter(([k]) => k !== '202' && k !== '503 overloaded');
    lines.push(
      `| ${n(rep.settings.rate)}/s (${Math.round(Number(r.share) * 100)} %) | **${n(q.acceptedPerSecond)}/s** (${n(q.accepted)}) | **${rep.acceptedLatencyMs.p99} ms** (p50 ${rep.acceptedLatencyMs.p50}) | **${n(q.refused)}** (${n(q.fastRefusals)} fast; p50 ${rep.refusedLatencyMs.p50}, p99 ${rep.refusedLatencyMs.p99} ms) | **${n(q.timeouts)}** | ${other.length ? other.map(([k, v]) => `${k}: ${n(v)}`).join(', ') : 'none'} | ${gen?.usPerRequest ?? '—'} / ${api?.usPerRequest ?? '—'} (**${gen && api ? Math.round((gen.usPerRequest / api.usPerRequest) * 100) / 100 : '—'}**); aggregator ${rep.cpu.aggregator?.usPerRequest ?? '—'}, projector ${rep.cpu.projector?.usPerRequest ?? '—'} | ${rep.check ? `${rep.check.ok ? 'OK' : 'MISMATCH'}: ${rep.check.mismatchCount} mismatches, ${rep.check.uncertainPairs} uncertain pairs` : 'skipped'} | \`${String(r.command)}\` |`,
    );
  }
  lines.push(
    '',
    'Admission control (docs/adr/0011-admission-control.md) refuses a like past capacity with 503 `overloaded` and Retry-After before its token is read or anything is produced, so the generator counts such a 503 as a definite refusal: it widens no expected range. Latency is from the scheduled time (open loop); CPU is each process\'s user + system time from the first request to the last answer (the final check excluded), divided by the requests sent. The generator pipelines pre-built requests over keep-alive connections (libs/http-pipeline/src/pipelined-client.ts).',
  );
  return lines.join('\n');
}

/** The newest api-only maximum on disk (bench/results/ingest-*.json), for BENCH_ONLY=viral. */
function lastIngestMax(): { perSecond: number; from: string } | undefined {
  const files = existsSync(RESULTS) ? readdirSync(RESULTS).filter((f) => /^ingest-\d{4}-.*\.json$/.test(f)).sort() : [];
  for (const f of files.reverse()) {
    const v = get(JSON.parse(readFileSync(join(RESULTS, f), 'utf8')), 'rows.1.reqPerSec');
    if (typeof v === 'number') return { perSecond: v, from: `bench/results/${f} (ingest, closed loop, 64 connections)` };
  }
  return undefined;
}

/**
 * BENCH_ONLY=viral: the api-only maximum measured now (the ingest sub-benchmark, as in the full
 * run; BENCH_MAX_RATE skips it), then the viral runs at shares of it.
 */
async function onlyViral(doc: Json, stamp: string): Promise<void> {
  let given: { perSecond: number; from: string } | undefined;
  if (process.env.BENCH_MAX_RATE) given = { perSecond: num('BENCH_MAX_RATE', 1), from: 'BENCH_MAX_RATE' };
  else {
    const ingest = await subBench('ingest', INGEST_KNOBS);
    doc.benchmarks = { ingest };
    const measured = get(ingest, 'result.rows.1.reqPerSec');
    given = typeof measured === 'number' ? { perSecond: measured, from: `ingest, same run (\`${ingest.command}\`, closed loop, 64 connections)` } : lastIngestMax();
  }
  if (!given) throw new Error('BENCH_ONLY=viral: no api-only maximum (the ingest run failed and no bench/results/ingest-*.json)');
  doc.maxIngestRate = given;
  const vir = await viral(given.perSecond);
  delete vir.chartRun;
  doc.viral = vir;
  const file = writeResult('overload', String(doc.at), doc);
  writeSection(OVERLOAD, overloadSection(doc, file));
  log(`wrote ${file} and the "${OVERLOAD}" section of BENCHMARKS.md (${stamp})`);
  process.stdout.write(`## ${OVERLOAD}\n\n${overloadSection(doc, file)}\n`);
  const failed = ((vir.runs as Json[]) ?? []).some((r) => !(r.report as LoadReport).check?.ok);
  process.exitCode = failed ? 2 : 0;
}

async function main(): Promise<void> {
  const started = Date.now();
  mkdirSync(RESULTS, { recursive: true });
  const at = new Date().toISOString();
  const stamp = at.replace(/[:.]/g, '-');
  const doc: Json = {
    benchmark: 'all',
    at,
    command: `npm run bench${JSON_OUT ? ' -- --json' : ''}${process.env.BENCH_SKIP ? ` (BENCH_SKIP=${process.env.BENCH_SKIP})` : ''}`,
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryBytes: totalmem(), kernel: release() },
    versions: await versions(),
    dirty: spawnSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '',
  };
  if (ONLY_VIRAL) {
    doc.command = `BENCH_ONLY=viral npm run bench${process.env.BENCH_MAX_RATE ? ` (BENCH_MAX_RATE=${process.env.BENCH_MAX_RATE})` : ''}`;
    return onlyViral(doc, stamp);
  }
  const benchmarks: Record<string, SubResult> = {};
  doc.benchmarks = benchmarks;
  benchmarks.ingest = await subBench('ingest', INGEST_KNOBS);
  // 1M events (the bench's default): at 200k the process start and group joins are most of each phase
  benchmarks.aggregate = await subBench('aggregate', {});
  benchmarks.project = await subBench('project', { BENCH_RECORDS: '100000', BENCH_READ_SECONDS: '3' });
  benchmarks.reads = await subBench('reads', { BENCH_SECONDS: '3', BENCH_ROUNDS: '5', BENCH_FRESH_SECONDS: '5', BENCH_RATE: '500' });
  benchmarks.rebuild = await subBench('rebuild', { BENCH_EVENTS: '200000' });

  const measured = get(benchmarks.ingest, 'result.rows.1.reqPerSec');
  const maxRate = process.env.BENCH_MAX_RATE ? num('BENCH_MAX_RATE', 1) : typeof measured === 'number' ? measured : 4000;
  doc.maxIngestRate = { perSecond: maxRate, from: process.env.BENCH_MAX_RATE ? 'BENCH_MAX_RATE' : typeof measured === 'number' ? 'ingest (closed loop, 64 connections)' : 'fallback 4000/s (ingest not measured)' };
  const vir = await viral(maxRate);
  const chartRun = vir.chartRun as LoadReport | undefined;
  delete vir.chartRun;
  doc.viral = vir;
  doc.postgres = SKIP.has('pg') ? { skipped: 'skipped (BENCH_SKIP)' } : await postgres(Math.round(maxRate * 0.8));
  doc.benchPeakRssBytes = process.resourceUsage().maxRSS * 1024;

  if (chartRun) {
    const pgReport = (doc.postgres as Json).report as LoadReport | undefined;
    const svg = viralChartSvg(
      `Viral post at ${chartRun.settings.rate as number}/s (${Math.round(SHARES[SHARES.length - 1] * 100)} % of the api-only max ingest), ${at.slice(0, 16)}`,
      chartRun.timeline,
      pgReport ? { label: 'PostgreSQL', timeline: pgReport.timeline } : undefined,
    );
    try {
      const r = await writeChart(svg, join(RESULTS, `viral-${stamp}.svg`), join(RESULTS, `viral-${stamp}.png`));
      doc.chart = r.png ? `bench/results/viral-${stamp}.png` : undefined;
      doc.chartNote = r.note ?? null;
    } catch (e) {
      doc.chartNote = `PNG not rendered (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); SVG at bench/results/viral-${stamp}.svg`;
    }
    doc.viralTimeline = chartRun.timeline;
  }
  doc.wallSeconds = since(started);
  doc.doneWhen = doneWhen(doc);
  const file = writeResult(undefined, at, doc);
  writeSection(SUMMARY, summary(doc, file), { at: 'first' });
  writeSection(OVERLOAD, overloadSection(doc, file));
  log(`wrote ${file} and the summary in BENCHMARKS.md (${doc.wallSeconds as number} s)`);
  if (JSON_OUT) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  else process.stdout.write(`## ${SUMMARY}\n\n${summary(doc, file)}\n`);
  const failed = ((vir.runs as Json[]) ?? []).some((r) => !(r.report as LoadReport).check?.ok);
  process.exitCode = failed ? 2 : 0;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
