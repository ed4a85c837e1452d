import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventCodec } from '@doubletap/events';
import { GroundTruth, runLoad, type LoadOptions, type LoadReport } from '@doubletap/loadgen';
import { createRedis, LikesReader, MAX_POSTS_PER_READ, redisReady } from '@doubletap/redis';
import { AppCluster, startLoadBalancer, type LoadBalancerOptions } from '@doubletap/testing';
import { compareCounts, missingIds, type CountMismatch, type ExpectedRange } from './compare';
import { readCountChanges, readEvents } from './log-read';
import { Prober } from './prober';
import {
  baselineGaps,
  rebalanceFigures,
  settled,
  type RebalanceFigures,
  type ScaleEvent,
  type Snapshot,
} from './timeline';

export interface ScaleScenario {
  partitions: number;
  /** api replicas */
  apis: number;
  /** offered likes and unlikes per second (open loop) */
  rate: number;
  /** posts, Zipf-distributed: the hottest one takes the largest share */
  posts: number;
  zipf: number;
  users: number;
  doubleTap: number;
  unlike: number;
  /** keep-alive connections per api replica (the generator opens this many times the replicas to the balancer) */
  connections: number;
  /**
   * AGGREGATOR_STANDBYS of every aggregator: `all` (each keeps warm copies of the partitions it does
   * not own: a moved partition is promoted from its tail) or `none` (a moved partition is restored
   * from the changelog), the comparison the issue asks for
   */
  standbys: string;
  /** KAFKA_SESSION_TIMEOUT_MS of the group members: how long until a killed aggregator's partitions move */
  sessionTimeoutMs: number;
  /** seconds with one aggregator before the first step (the no-rebalance baseline) */
  warmSeconds: number;
  /** seconds between steps, after the group settled */
  holdSeconds: number;
  /** how long a step may take to settle (every partition owned by one live member, live) */
  settleTimeoutMs: number;
  /** how long the drain may take (aggregators at the log end, Redis equal to the recount) */
  drainTimeoutMs: number;
  pollMs: number;
  seed: number;
  /**
   * short saturating runs: 1 replica against all of them (null: skip). `connections`: the client's
   * connections either way (default: `connections` × the replicas). The generator pipelines on each;
   * HAProxy serves one request of a connection at a time, so with fewer connections than the
   * replicas' request slots (ADR 0022) the overload waits in the clients' connections, unseen by it.
   */
  throughput: { rate: number; seconds: number; connections?: number } | null;
  /** HAProxy's limits past capacity and its timeouts (default: libs/balancer's) */
  balancer: Pick<LoadBalancerOptions, 'shedding' | 'timeouts'>;
  /** where the logs and the evidence of a failed run go (null: nowhere) */
  artifactsDir: string | null;
  log: (line: string) => void;
}

export const DEFAULT_SCENARIO: ScaleScenario = {
  partitions: 6,
  apis: 3,
  rate: 400,
  posts: 50,
  zipf: 1.2,
  users: 3000,
  doubleTap: 0.1,
  unlike: 0.05,
  connections: 8,
  standbys: 'all',
  sessionTimeoutMs: 3000,
  warmSeconds: 12,
  holdSeconds: 10,
  settleTimeoutMs: 60_000,
  drainTimeoutMs: 120_000,
  pollMs: 250,
  seed: 13,
  throughput: { rate: 4000, seconds: 6 },
  balancer: {},
  artifactsDir: null,
  log: () => undefined,
};

export interface ThroughputRun {
  replicas: number;
  via: string;
  offered: number;
  connections: number;
  seconds: number;
  accepted: number;
  acceptedPerSecond: number;
  refused: number;
  timeouts: number;
  errors: number;
  /** every outcome: HTTP status, "503 overloaded", "timeout", "network", "dropped" */
  byStatus: Record<string, number>;
  p99AcceptedMs: number;
  /** how long the 503 overloaded refusals took (fast: the client can retry after Retry-After) */
  p99RefusedMs: number;
}

/** A mismatched post, with what locates it: per partition, the recount and what the aggregators last published. */
export interface MismatchEvidence extends CountMismatch {
  partitions: Array<{
    partition: number;
    recount: number;
    /** the last CountChanged of this (post, partition) in likes.counts */
    lastPublished: { count: number; sourceOffset: number; offset: number } | null;
    /** CountChanged records of this (post, partition) */
    published: number;
    differs: boolean;
  }>;
  /** the file with every event and CountChanged of the post, and the members' logs */
  traceFile: string | null;
}

export interface ScaleReport {
  /** the scenario, and how the likes reached the replicas */
  scenario: Omit<ScaleScenario, 'log'> & { balancer: string };
  startedAt: string;
  seconds: number;
  load: {
    sent: number;
    accepted: number;
    acceptedPerSecond: number;
    refused: number;
    timeouts: number;
    byStatus: Record<string, number>;
    p50AcceptedMs: number;
    p99AcceptedMs: number;
    maxAcceptedMs: number;
    uncertainPairs: number;
    /** per second: offered, accepted, refused, errors, p99 of the accepted */
    timeline: Array<{
      t: number;
      offered: number;
      accepted: number;
      refused: number;
      errors: number;
      p99Accepted: number | null;
    }>;
  };
  log: { records: number; duplicates: number; skipped: number };
  /** posts whose counts disagree (Redis or api against the 202s or the recount) */
  mismatches: number;
  mismatchList: MismatchEvidence[];
  /** 202'd event ids absent from likes.events */
  missing: number;
  missingExamples: string[];
  posts: number;
  drainMs: number;
  /** the longest stretch without progress of any partition while nothing rebalanced, and per partition */
  baselineMaxGapMs: number;
  baselineGapsMs: number[];
  rebalances: RebalanceFigures[];
  /** how finely the aggregators were polled (a pause shorter than the interval cannot be seen) */
  polling: { snapshots: number; medianIntervalMs: number | null; maxIntervalMs: number | null };
  /** every moved partition served again within the run */
  allMovedServed: boolean;
  throughput: ThroughputRun[];
  artifacts: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The scale-out scenario: N api replicas behind HAProxy, one projector, aggregators 1 → 2 → 3 → 2 (SIGTERM) → 1
 * (kill -9) under open-loop like/unlike load with a hot post; then the load stops, everything
 * drains, and the counts are checked against the 202s and against a recount of likes.events. The
 * aggregators are polled throughout: per rebalance, how long the partitions that kept their owner
 * stood still (against a window with no rebalance) and when the moved ones were served again.
 */
export async function runScale(partial: Partial<ScaleScenario> = {}): Promise<ScaleReport> {
  const s: ScaleScenario = { ...DEFAULT_SCENARIO, ...partial };
  const log = s.log;
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  log(
    `cluster: ${s.apis} api replicas, 1 aggregator, 1 projector, ${s.partitions} partitions; standbys ${s.standbys}, session ${s.sessionTimeoutMs} ms`,
  );
  const cluster = await AppCluster.start({
    name: 'scale',
    apis: s.apis,
    aggregators: 1,
    partitions: s.partitions,
    env: { AGGREGATOR_STANDBYS: s.standbys, KAFKA_SESSION_TIMEOUT_MS: String(s.sessionTimeoutMs) },
    log,
  });
  let balancer: { stop: () => Promise<void> } | undefined;
  const prober = new Prober(
    { aggregators: () => cluster.live('aggregator').map((m) => ({ id: m.id, url: m.url })) },
    s.partitions,
    now,
    s.pollMs,
  );
  let artifacts: string | null = null;
  try {
    const apiUrls = cluster.apiUrls;
    // HAProxy (libs/balancer: leastconn, /ready checks) in front of the replicas: where clients go
    const lb = await startLoadBalancer(
      cluster.live('api').map((m) => ({ name: m.id, host: '127.0.0.1', port: m.port })),
      {
        ...s.balancer,
        name: 'scale',
        log: (line) => (/DOWN|UP/.test(line) ? log(line) : undefined),
      },
    );
    balancer = lb;
    await lb.untilServers('UP', undefined, 30_000);
    const via = 'HAProxy (leastconn)';
    log(`load balancer ${via} at ${lb.url}`);
    const auth = {
      secret: cluster.settings.auth.hs256Secret,
      issuer: cluster.settings.auth.issuer,
      audience: cluster.settings.auth.audience,
    };
    prober.start();

    // the load, open loop, until aborted
    const truth = new GroundTruth();
    const acceptedIds: string[] = [];
    const abort = new AbortController();
    const runId = `sc${Date.now().toString(36)}`;
    const loadOptions: LoadOptions = {
      scenario: 'mixed',
      url: lb.url,
      rate: s.rate,
      rampSeconds: 1,
      holdSeconds: 3600,
      maxRequests: Number.MAX_SAFE_INTEGER,
      users: s.users,
      posts: s.posts,
      zipf: s.zipf,
      doubleTap: s.doubleTap,
      unlike: s.unlike,
      connections: s.connections * s.apis,
      timeoutMs: 10_000,
      maxInFlight: 20_000,
      sampleEvery: 1_000_000,
      freshness: 'off',
      pollMs: 100,
      check: false,
      checkWaitMs: 0,
      seed: s.seed,
      runId,
      auth,
      truth,
      signal: abort.signal,
      onAccepted: (body) => {
        const id = /"eventId":"([^"]+)"/.exec(body)?.[1];
        if (id) acceptedIds.push(id);
      },
    };
    const loadRun = runLoad(loadOptions);
    loadRun.catch(() => undefined);
    const loadStart = now();
    log(`load: ${s.rate}/s over ${s.posts} posts (Zipf ${s.zipf}), ${via}`);
    await sleep(s.warmSeconds * 1000);
    const baselineFrom = loadStart + 2000;
    const baselineTo = now();

    const events: ScaleEvent[] = [];
    const settle = async (
      name: string,
      at: number,
      members: () => string[],
      joined?: () => number | undefined,
    ): Promise<void> => {
      const deadline = Date.now() + s.settleTimeoutMs;
      for (;;) {
        const snap = prober.snapshots[prober.snapshots.length - 1] as Snapshot | undefined;
        const want = members();
        if (snap && snap.t > at && settled(snap, s.partitions)) {
          const have = Object.keys(snap.byMember).filter((m) => snap.byMember[m].length > 0);
          if (want.every((m) => have.includes(m)) && have.every((m) => want.includes(m))) break;
        }
        if (Date.now() > deadline) {
          log(`${name}: not settled within ${s.settleTimeoutMs} ms`);
          break;
        }
        await sleep(s.pollMs / 2);
      }
      const settledAt = now();
      events.push({ name, at, settledAt, joinedAt: joined?.() });
      log(`${name}: settled after ${((settledAt - at) / 1000).toFixed(1)} s`);
    };
    const liveIds = () => cluster.live('aggregator').map((m) => m.id);
    const wantAtMost = (n: number) => () => liveIds().slice(0, Math.min(n, s.partitions));

    // 1 → 2 → 3
    for (const n of [2, 3]) {
      const at = now();
      const m = await cluster.addAggregator({ waitReady: false });
      let joinedAt: number | undefined;
      void m.proc.started.then(
        () => (joinedAt = now()),
        () => undefined,
      );
      await settle(`join ${m.id} (${n - 1} → ${n})`, at, wantAtMost(n), () => joinedAt);
      await sleep(s.holdSeconds * 1000);
    }
    // 3 → 2: the newest leaves gracefully; 2 → 1: the other newcomer is killed
    const [, second, third] = cluster.live('aggregator');
    {
      const at = now();
      const stopping = cluster.stopMember(third.id);
      await settle(`SIGTERM ${third.id} (3 → 2)`, at, () => liveIds().filter((id) => id !== third.id));
      await stopping;
      await sleep(s.holdSeconds * 1000);
    }
    {
      const at = now();
      await cluster.kill(second.id);
      await settle(`kill -9 ${second.id} (2 → 1)`, at, liveIds);
      await sleep(Math.min(s.holdSeconds, 5) * 1000);
    }
    abort.abort();
    const load: LoadReport = await loadRun;
    log(
      `load stopped: ${load.requests.accepted} accepted of ${load.requests.sent} sent, ${load.requests.refused} refused, ${load.requests.timeouts} timeouts`,
    );
    await prober.stop();

    // drain: the aggregators reach the log end, then Redis reaches the recount
    const drainFrom = Date.now();
    while (!(await cluster.caughtUp().catch(() => false))) {
      if (Date.now() - drainFrom > s.drainTimeoutMs) {
        log('drain: the aggregators did not reach the log end in time');
        break;
      }
      await sleep(250);
    }
    const codec = new EventCodec(cluster.settings.registry.url, cluster.settings.topics);
    await codec.init();
    const events0 = await readEvents(cluster.kafka, codec, cluster.settings.topics.events);
    const expected = new Map<string, ExpectedRange>(truth.postIds().map((p) => [p, truth.expected(p)]));
    const posts = [...new Set([...expected.keys(), ...events0.counts.keys()])];
    const redis = createRedis({ url: cluster.settings.redis.url, name: 'scale' });
    await redisReady(redis);
    const reader = new LikesReader(redis, cluster.settings.redis.keyPrefix);
    const readRedis = async () => {
      const out = new Map<string, number>();
      for (let i = 0; i < posts.length; i += MAX_POSTS_PER_READ)
        for (const c of await reader.getMany(posts.slice(i, i + MAX_POSTS_PER_READ)))
          out.set(c.postId, c.count);
      return out;
    };
    const readApi = async () => {
      const out = new Map<string, number>();
      for (let i = 0; i < posts.length; i += MAX_POSTS_PER_READ) {
        const res = await fetch(
          `${cluster.apiUrls[0]}/v1/likes?posts=${posts.slice(i, i + MAX_POSTS_PER_READ).join(',')}`,
          { signal: AbortSignal.timeout(10_000) },
        );
        if (!res.ok) throw new Error(`GET /v1/likes: ${res.status}`);
        for (const p of ((await res.json()) as { posts: Array<{ postId: string; count: number }> }).posts)
          out.set(p.postId, p.count);
      }
      return out;
    };
    let mismatches: CountMismatch[] = [];
    let redisCounts = new Map<string, number>();
    for (;;) {
      try {
        redisCounts = await readRedis();
        mismatches = compareCounts(expected, events0.counts, redisCounts, await readApi());
      } catch (e) {
        log(`drain: reading counts failed (${(e as Error).message}); again`);
      }
      if (mismatches.length === 0 && redisCounts.size > 0) break;
      if (Date.now() - drainFrom > s.drainTimeoutMs) break;
      await sleep(500);
    }
    await redis.quit().catch(() => undefined);
    const drainMs = Date.now() - drainFrom;
    const missing = missingIds(acceptedIds, events0.ids);
    log(
      `drained in ${(drainMs / 1000).toFixed(1)} s: ${mismatches.length} mismatched posts, ${missing.length} of ${acceptedIds.length} 202s missing from the log`,
    );

    // evidence of a failure: which partition, which offsets, the trace
    const mismatchList: MismatchEvidence[] = [];
    if (mismatches.length > 0 || missing.length > 0) {
      artifacts = s.artifactsDir ? join(s.artifactsDir, `scale-${startedAt.replace(/[:.]/g, '-')}`) : null;
      if (artifacts) {
        await mkdir(artifacts, { recursive: true });
        await cluster.saveLogs(join(artifacts, 'logs'));
        await writeFile(join(artifacts, 'missing.json'), JSON.stringify(missing));
        await writeFile(join(artifacts, 'mismatches.json'), JSON.stringify(mismatches, null, 1));
        await writeFile(
          join(artifacts, 'timeline.json'),
          JSON.stringify({ snapshots: prober.snapshots, probes: prober.probes, events }),
        );
        log(`evidence: ${artifacts}`);
      }
      try {
        mismatchList.push(...(await evidence(mismatches)));
      } catch (e) {
        log(
          `evidence: reading the traces failed (${(e as Error).message}); the logs and mismatches are in ${artifacts ?? '(no artifacts dir)'}`,
        );
        mismatchList.push(...mismatches.map((m) => ({ ...m, partitions: [], traceFile: null })));
      }
    }
    async function evidence(list: readonly CountMismatch[]): Promise<MismatchEvidence[]> {
      const out: MismatchEvidence[] = [];
      const bad = new Set(list.map((m) => m.postId));
      const traced = await readEvents(cluster.kafka, codec, cluster.settings.topics.events, bad);
      const changes = await readCountChanges(cluster.kafka, codec, cluster.settings.topics.counts, bad);
      for (const m of list) {
        const partitions = Array.from({ length: s.partitions }, (_, p) => {
          const mine = changes.filter((c) => c.postId === m.postId && c.partition === p);
          const last = mine[mine.length - 1];
          const recount = traced.perPartition.get(m.postId)?.get(p) ?? 0;
          return {
            partition: p,
            recount,
            lastPublished: last
              ? { count: last.count, sourceOffset: last.sourceOffset, offset: last.offset }
              : null,
            published: mine.length,
            differs: (last?.count ?? 0) !== recount,
          };
        });
        let traceFile: string | null = null;
        if (artifacts) {
          traceFile = join(artifacts, `trace-${m.postId}.json`);
          await writeFile(
            traceFile,
            JSON.stringify({
              mismatch: m,
              events: traced.trace.get(m.postId) ?? [],
              countChanges: changes.filter((c) => c.postId === m.postId),
            }),
          );
        }
        out.push({ ...m, partitions, traceFile });
      }
      return out;
    }

    // the figures of each rebalance
    const snapshots = prober.snapshots;
    const probes = [...prober.probes].sort((a, b) => a.t - b.t);
    const baseline = baselineGaps(snapshots, s.partitions, baselineFrom, baselineTo);
    const rebalances = events.map((e) => rebalanceFigures(snapshots, probes, e, baseline, s.partitions));
    const allMovedServed = rebalances.every((r) => r.moved.every((m) => m.servesAgainMs !== null));

    // throughput at saturation: one replica, then all of them, short runs on fresh posts
    const throughput: ThroughputRun[] = [];
    if (s.throughput) {
      const targets = [
        { replicas: 1, via: 'direct', url: apiUrls[0] },
        { replicas: apiUrls.length, via, url: lb.url },
      ];
      // the same connections either way: only where they go differs
      const connections = s.throughput.connections ?? s.connections * apiUrls.length;
      for (const t of targets) {
        const r = await runLoad({
          ...loadOptions,
          url: t.url,
          connections,
          rate: s.throughput.rate,
          rampSeconds: 0,
          holdSeconds: s.throughput.seconds,
          signal: undefined,
          truth: undefined,
          onAccepted: undefined,
          timeoutMs: 5000,
          runId: `tp${t.replicas}${Date.now().toString(36)}`,
          seed: s.seed + t.replicas,
        });
        throughput.push({
          replicas: t.replicas,
          via: t.via,
          offered: s.throughput.rate,
          connections,
          seconds: r.seconds,
          accepted: r.requests.accepted,
          acceptedPerSecond: r.requests.acceptedPerSecond,
          refused: r.requests.refused,
          timeouts: r.requests.timeouts,
          errors: r.requests.errors,
          byStatus: r.requests.byStatus,
          p99AcceptedMs: r.acceptedLatencyMs.p99,
          p99RefusedMs: r.refusedLatencyMs.p99,
        });
        log(
          `throughput, ${t.replicas} replica(s) via ${t.via}: ${r.requests.acceptedPerSecond} accepted/s (${r.requests.refused} refused, ${r.requests.timeouts} timeouts)`,
        );
        await sleep(2000);
      }
    }

    const { log: _l, ...rest } = s;
    return {
      scenario: { ...rest, balancer: via },
      startedAt,
      seconds: Math.round(now() / 100) / 10,
      load: {
        sent: load.requests.sent,
        accepted: load.requests.accepted,
        acceptedPerSecond: load.requests.acceptedPerSecond,
        refused: load.requests.refused,
        timeouts: load.requests.timeouts,
        byStatus: load.requests.byStatus,
        p50AcceptedMs: load.acceptedLatencyMs.p50,
        p99AcceptedMs: load.acceptedLatencyMs.p99,
        maxAcceptedMs: load.acceptedLatencyMs.max,
        uncertainPairs: truth.uncertainPairs(),
        timeline: load.timeline.map((p) => ({
          t: p.t,
          offered: p.offered,
          accepted: p.accepted,
          refused: p.refused,
          errors: p.errors,
          p99Accepted: p.p99Accepted,
        })),
      },
      log: { records: events0.records, duplicates: events0.duplicates, skipped: events0.skipped },
      mismatches: mismatches.length,
      mismatchList,
      missing: missing.length,
      missingExamples: missing.slice(0, 5),
      posts: posts.length,
      drainMs,
      baselineMaxGapMs: Math.max(0, ...baseline),
      baselineGapsMs: baseline,
      rebalances,
      polling: prober.resolution(),
      allMovedServed,
      throughput,
      artifacts,
    };
  } finally {
    await prober.stop();
    await balancer?.stop().catch(() => undefined);
    await cluster.stop();
  }
}

/** Exit code of a scale run: 2 when a count is wrong or a 202 is missing from the log. */
export function exitCodeOf(report: Pick<ScaleReport, 'mismatches' | 'missing'>): number {
  return report.mismatches > 0 || report.missing > 0 ? 2 : 0;
}
