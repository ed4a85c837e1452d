import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { mintToken } from '@doubletap/auth';
import { problemType } from '@doubletap/problems';
import { checkCounts, type CheckResult } from './check';
import { cpuUse, ownCpu, processCpu, type CpuSample, type CpuUse } from './cpu';
import { GroundTruth, type Outcome, type Settle } from './ground-truth';
import { assertLoopback, HttpClient } from './http-client';
import { buildRequestPrefix, type NoAnswer, PipelinedClient } from '@doubletap/http-pipeline';
import { ApiCountSource, type CountSource } from './read-side';
import { RoundRobinClient, type RequestSink } from './round-robin';
import {
  arrivalTimes,
  expectedCount,
  profileSeconds,
  rampAndHold,
  rateAt,
  type RateProfile,
} from './schedule';
import { Workload, type WorkloadOptions } from './workload';

export interface LoadOptions extends WorkloadOptions {
  /** base URL of the api (loopback only); reads (freshness, the final check) go here */
  url: string;
  /**
   * several api replicas (loopback only, `url` usually among them): the likes and unlikes go round
   * robin over them, `connections` keep-alive connections to each (client-side balancing, no load
   * balancer in front)
   */
  urls?: readonly string[];
  /** target requests/s */
  rate: number;
  /** seconds from 0 to `rate` (the viral ramp; 0 = start at `rate`) */
  rampSeconds: number;
  /** seconds at `rate` after the ramp */
  holdSeconds: number;
  /** at most this many requests (the run also ends with its profile) */
  maxRequests: number;
  /** keep-alive connections; requests are pipelined on them */
  connections: number;
  /** a request without an answer after this long counts as a timeout (outcome unknown) */
  timeoutMs: number;
  /** requests allowed to wait for an answer; beyond it a due request is dropped and counted */
  maxInFlight: number;
  /** sample freshness on every n-th accepted LIKE of the hot post */
  sampleEvery: number;
  /** how freshness observes the read side: the SSE stream (falls back to polling), polling, or not at all */
  freshness: 'sse' | 'poll' | 'off';
  pollMs: number;
  /** run the final check */
  check: boolean;
  /** how long the final check waits for the pipeline to catch up */
  checkWaitMs: number;
  /** JWT signing for the synthetic users */
  auth: { secret: string; issuer?: string; audience?: string };
  /** where counts are read back (default: the api's read endpoints at `url`) */
  countSource?: CountSource;
  /** the tracker to record the ground truth into (default: a fresh one) */
  truth?: GroundTruth;
  /** progress lines */
  log?: (line: string) => void;
  /** every 202's body (the api answers the eventId it wrote) */
  onAccepted?: (body: string) => void;
  /** aborting ends the schedule early (in-flight requests are still awaited) */
  signal?: AbortSignal;
  /** other processes whose CPU the report gives next to the generator's (name → pid; Linux /proc) */
  watchPids?: Record<string, number>;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface TimelinePoint {
  /** second since the start */
  t: number;
  /** the profile's rate at this second (requests/s) */
  offered: number;
  /** requests due in this second */
  scheduled: number;
  /** 202 answers received in this second */
  accepted: number;
  /** 503 overloaded answers (definite refusals) received in this second */
  refused: number;
  /** other outcomes received (or dropped) in this second */
  errors: number;
  /** latency (ms, from the due time) of requests due in this second, every outcome */
  p50: number | null;
  p99: number | null;
  /** the same, of the 202s only */
  p99Accepted: number | null;
  /** freshness (ms) of samples accepted in this second */
  freshness: number | null;
}

export interface LoadReport {
  scenario: string;
  url: string;
  runId: string;
  settings: Record<string, unknown>;
  startedAt: string;
  seconds: number;
  requests: {
    scheduled: number;
    sent: number;
    accepted: number;
    acceptedPerSecond: number;
    /** 503 overloaded: refused before anything was written (the api's admission control) */
    refused: number;
    refusedPerSecond: number;
    /** refusals answered within FAST_REFUSAL_MS of their scheduled time */
    fastRefusals: number;
    /** requests without an answer by their deadline (and those behind them on their connection) */
    timeouts: number;
    /**
     * count per outcome: HTTP status codes, "503 overloaded", "timeout", "network", "dropped"
     * (never sent: over maxInFlight)
     */
    byStatus: Record<string, number>;
    /** everything but 202 */
    errors: number;
  };
  /** milliseconds from the scheduled time to the answer, every outcome */
  latencyMs: LatencySummary;
  /** the same, of the 202s only */
  acceptedLatencyMs: LatencySummary;
  /** the same, of the 503 overloaded refusals only */
  refusedLatencyMs: LatencySummary;
  /**
   * CPU over the run (first send until the last answer; the final check excluded): `generator` is
   * this process (the load generator and its bookkeeping), the others are `watchPids`; null where
   * it could not be read
   */
  cpu: Record<string, CpuUse | null>;
  freshness: {
    post: string;
    method: string;
    samples: number;
    observed: number;
    unresolved: number;
    ms: Omit<LatencySummary, 'p90' | 'p999'> | null;
  };
  timeline: TimelinePoint[];
  check: CheckResult | null;
}

const histogram = (digits: 2 | 3 = 3) =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: digits,
  });

function summarize(h: hdr.Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

/** The scheduled rate profile of the options: ramp then hold. */
export function loadProfile(o: Pick<LoadOptions, 'rate' | 'rampSeconds' | 'holdSeconds'>): RateProfile {
  return rampAndHold(o.rate, o.rampSeconds, o.holdSeconds);
}

/** Mints one token per synthetic user (`lt_u<i>`). */
export async function mintUserTokens(auth: LoadOptions['auth'], users: number): Promise<string[]> {
  const out: string[] = [];
  const CHUNK = 2000;
  for (let i = 0; i < users; i += CHUNK)
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(CHUNK, users - i) }, (_, j) =>
          mintToken(auth.secret, userId(i + j), {
            ttlSeconds: 3 * 3600,
            issuer: auth.issuer,
            audience: auth.audience,
          }),
        ),
      )),
    );
  return out;
}

export const userId = (i: number): string => `lt_u${i}`;

/** The problem type of a refusal that wrote nothing (the api's admission control, a full produce queue). */
export const OVERLOADED_TYPE = problemType('overloaded');
/** A refusal answered within this long from its scheduled time counts as fast. */
export const FAST_REFUSAL_MS = 100;

/**
 * What an answer means for the count. 202: in the log. 4xx: a definite refusal. A 503 whose problem
 * type is `overloaded` is a definite refusal too: the api answers it before anything is produced
 * (docs/adr/0011-admission-control.md). Any other 5xx, a timeout or a broken connection: unknown.
 */
export function outcomeOf(status: number, body = ''): Outcome {
  if (status === 202) return 'accepted';
  if (status >= 400 && status < 500) return 'rejected';
  if (status === 503 && isOverloaded(body)) return 'rejected';
  return 'unknown';
}

const isOverloaded = (body: string): boolean => body.includes(`"type":"${OVERLOADED_TYPE}"`);

/** The context of one request in flight (one object per request, no closure). */
interface Shot {
  due: number;
  postId: string;
  action: 'LIKE' | 'UNLIKE';
  request: Settle;
}

/**
 * One open-loop load run: requests are sent at their scheduled times (arrivalTimes) whatever the
 * answers, pipelined over keep-alive connections (PipelinedClient); then (optionally) waits for the
 * pipeline and checks every post's count against the ground truth tracked from the answers.
 *
 * The schedule is served by a timer every millisecond (or sooner when the next request is due later
 * than that): every request due by then is sent at once, so a request may leave up to a tick after
 * its due time. Latency is measured from the due time, so that lateness is charged too.
 */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const base = assertLoopback(o.url);
  const log = o.log ?? (() => undefined);
  for (const [name, v] of Object.entries({
    rate: o.rate,
    connections: o.connections,
    timeoutMs: o.timeoutMs,
    maxInFlight: o.maxInFlight,
    sampleEvery: o.sampleEvery,
    users: o.users,
    maxRequests: o.maxRequests,
  }))
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`${name} must be a positive number (got ${v})`);
  const profile = loadProfile(o);
  const total = Math.min(expectedCount(profile), o.maxRequests);
  log(`minting ${o.users} user tokens`);
  const tokens = await mintUserTokens(o.auth, o.users);
  // reads get their own small pool so a saturated write pool cannot delay what freshness observes
  const readClient = new HttpClient(base, 4, Math.max(o.timeoutMs, 10_000));
  const source =
    o.countSource ??
    new ApiCountSource(
      readClient,
      base,
      { authorization: `Bearer ${tokens[0]}` },
      { stream: o.freshness !== 'poll', pollMs: o.pollMs },
    );
  const workload = new Workload(o);
  // each synthetic user's id, built once (not a new string per request)
  const userIds = Array.from({ length: o.users }, (_, i) => userId(i));
  const truth = o.truth ?? new GroundTruth();
  const hot = workload.hotPost;

  const all = histogram();
  const acceptedLatency = histogram();
  const refusedLatency = histogram();
  const seconds = Math.ceil(profileSeconds(profile));
  type Point = {
    t: number;
    offered: number;
    scheduled: number;
    accepted: number;
    refused: number;
    errors: number;
    latency: hdr.Histogram;
    acceptedLatency: hdr.Histogram;
    fresh: number[];
  };
  // one point per second, made as the run reaches it (a long or open-ended profile costs nothing
  // ahead); seconds after the schedule's end (the drain) get points of their own
  const points: Point[] = [];
  const at = (ms: number) => {
    const t = Math.max(0, Math.floor(ms / 1000));
    while (points.length <= t) {
      const s = points.length;
      points.push({
        t: s,
        offered: s < seconds ? Math.round(rateAt(profile, s + 0.5)) : 0,
        scheduled: 0,
        accepted: 0,
        refused: 0,
        errors: 0,
        latency: histogram(2),
        acceptedLatency: histogram(2),
        fresh: [],
      });
    }
    return points[t];
  };
  const byStatus: Record<string, number> = {};
  const count = (k: string) => (byStatus[k] = (byStatus[k] ?? 0) + 1);
  let sent = 0;
  let accepted = 0;
  let refused = 0;
  let fastRefusals = 0;
  let hotLikes = 0;

  // freshness: a sample is visible once the read side shows at least the floor the ground truth
  // guaranteed when its 202 arrived
  const pending: Array<{ at: number; floor: number }> = [];
  const freshness = histogram();
  let samples = 0;
  let start = 0;
  const onCount = (c: number) => {
    const now = performance.now() - start;
    for (let i = pending.length - 1; i >= 0; i--) {
      const s = pending[i];
      if (c >= s.floor) {
        const ms = now - s.at;
        freshness.recordValue(Math.max(1, Math.round(ms * 1000)));
        at(s.at).fresh.push(ms);
        pending.splice(i, 1);
      }
    }
  };
  const stopWatch = o.freshness === 'off' ? () => undefined : await source.watch(hot, onCount);
  const method =
    o.freshness === 'off'
      ? 'off'
      : source instanceof ApiCountSource
        ? `api ${source.mode}`
        : `${source.name} poll`;

  let drained: (() => void) | undefined;
  const onAnswer = (shot: Shot, status: number, body: string, error: NoAnswer | undefined) => {
    const done = performance.now() - start;
    const us = Math.max(1, Math.round((done - shot.due) * 1000));
    all.recordValue(us);
    const point = at(shot.due);
    point.latency.recordValue(us);
    const outcome = outcomeOf(status, body);
    shot.request.settle(outcome);
    if (outcome === 'accepted') {
      count('202');
      accepted++;
      acceptedLatency.recordValue(us);
      point.acceptedLatency.recordValue(us);
      at(done).accepted++;
      o.onAccepted?.(body);
      if (
        shot.postId === hot &&
        shot.action === 'LIKE' &&
        ++hotLikes % o.sampleEvery === 0 &&
        o.freshness !== 'off'
      ) {
        samples++;
        pending.push({ at: done, floor: truth.visibleFloor(hot) });
      }
    } else if (status === 503 && outcome === 'rejected') {
      count('503 overloaded');
      refused++;
      refusedLatency.recordValue(us);
      if (us <= FAST_REFUSAL_MS * 1000) fastRefusals++;
      at(done).refused++;
    } else {
      count(error ?? String(status));
      at(done).errors++;
    }
    if (drained && client.inFlight === 0) drained();
  };
  const targets = (o.urls ?? []).map((u) => assertLoopback(u));
  const client: RequestSink<Shot> =
    targets.length > 1
      ? new RoundRobinClient<Shot>(targets, o.connections, o.timeoutMs, onAnswer)
      : new PipelinedClient<Shot>(targets[0] ?? base, o.connections, o.timeoutMs, onAnswer);
  const host = base.host;
  // the request of each (action, post), up to its bearer token
  const prefixes = new Map<string, string>();
  const prefix = (action: 'LIKE' | 'UNLIKE', postId: string) => {
    const key = `${action}${postId}`;
    let p = prefixes.get(key);
    if (p === undefined) {
      p = `${buildRequestPrefix(action === 'LIKE' ? 'POST' : 'DELETE', `/v1/posts/${postId}/likes`, host)}authorization: Bearer `;
      prefixes.set(key, p);
    }
    return p;
  };

  const startedAt = new Date().toISOString();
  const fire = (due: number) => {
    const plan = workload.next();
    const point = at(due);
    point.scheduled++;
    if (client.inFlight >= o.maxInFlight) {
      count('dropped');
      point.errors++;
      return;
    }
    const request = truth.begin(plan.postId, userIds[plan.user], plan.action);
    sent++;
    // written in this turn of the event loop: from now on it may reach the log
    request.dispatched();
    client.send(`${prefix(plan.action, plan.postId)}${tokens[plan.user]}\r\n\r\n`, {
      due,
      postId: plan.postId,
      action: plan.action,
      request,
    });
  };

  log(
    `${o.scenario}: ${total} requests over ${profileSeconds(profile)} s (ramp ${o.rampSeconds} s to ${o.rate}/s, hold ${o.holdSeconds} s), ${o.connections} connections`,
  );
  const pids = Object.entries(o.watchPids ?? {});
  const cpuFrom = {
    generator: ownCpu(),
    ...Object.fromEntries(pids.map(([name, pid]) => [name, processCpu(pid)])),
  };
  start = performance.now();
  const due = arrivalTimes(profile, o.maxRequests);
  let next = due.next();
  let lastLog = 0;
  while (!next.done && !o.signal?.aborted) {
    const now = performance.now() - start;
    while (!next.done && next.value <= now) {
      fire(next.value);
      next = due.next();
    }
    if (now - lastLog >= 5000) {
      lastLog = now;
      log(
        `  t=${(now / 1000).toFixed(0)}s sent ${sent} accepted ${accepted} refused ${refused} in flight ${client.inFlight}`,
      );
    }
    if (next.done) break;
    // one timer per tick (never a spin): everything due by the next tick goes out together
    const wait = next.value - (performance.now() - start);
    await new Promise((r) => setTimeout(r, Math.min(Math.max(wait, 1), 100)));
  }
  const scheduleEnd = performance.now() - start;
  if (client.inFlight > 0) await new Promise<void>((r) => (drained = r));
  const runMs = performance.now() - start;
  const cpuTo = {
    generator: ownCpu(),
    ...Object.fromEntries(pids.map(([name, pid]) => [name, processCpu(pid)])),
  };
  client.close();
  const cpu: Record<string, CpuUse | null> = {};
  for (const [name, from] of Object.entries(cpuFrom)) {
    const to = (cpuTo as Record<string, CpuSample | undefined>)[name];
    cpu[name] = from && to ? cpuUse(from, to, sent, runMs / 1000) : null;
  }

  let check: CheckResult | null = null;
  try {
    if (o.check) {
      log(
        `final check: waiting up to ${o.checkWaitMs} ms for ${truth.postIds().length} posts to match the ground truth`,
      );
      check = await checkCounts(source, truth, { waitMs: o.checkWaitMs });
    } else if (pending.length > 0) {
      // give the last samples a moment to become visible
      const until = Date.now() + Math.min(o.checkWaitMs, 10_000);
      while (pending.length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    stopWatch();
    readClient.close();
  }

  const errors = sent - accepted + (byStatus.dropped ?? 0);
  const perSecond = (n: number) => Math.round(n / Math.max(scheduleEnd / 1000, 0.001));
  return {
    scenario: o.scenario,
    url: base.origin,
    runId: o.runId,
    settings: {
      rate: o.rate,
      rampSeconds: o.rampSeconds,
      holdSeconds: o.holdSeconds,
      maxRequests: o.maxRequests,
      users: o.users,
      posts: o.scenario === 'mixed' ? o.posts : 1,
      zipf: o.scenario === 'mixed' ? o.zipf : null,
      doubleTap: o.doubleTap,
      unlike: o.unlike,
      connections: o.connections,
      timeoutMs: o.timeoutMs,
      maxInFlight: o.maxInFlight,
      sampleEvery: o.sampleEvery,
      seed: o.seed,
    },
    startedAt,
    seconds: Math.round(runMs) / 1000,
    requests: {
      scheduled: points.reduce((s, p) => s + p.scheduled, 0),
      sent,
      accepted,
      acceptedPerSecond: perSecond(accepted),
      refused,
      refusedPerSecond: perSecond(refused),
      fastRefusals,
      timeouts: byStatus.timeout ?? 0,
      byStatus,
      errors,
    },
    latencyMs: summarize(all),
    acceptedLatencyMs: summarize(acceptedLatency),
    refusedLatencyMs: summarize(refusedLatency),
    cpu,
    freshness: {
      post: hot,
      method,
      samples,
      observed: freshness.totalCount,
      unresolved: pending.length,
      ms:
        freshness.totalCount === 0
          ? null
          : (({ count: c, p50, p99, max }) => ({ count: c, p50, p99, max }))(summarize(freshness)),
    },
    timeline: points.map((p) => {
      const fresh = p.fresh.sort((a, b) => a - b);
      return {
        t: p.t,
        offered: p.offered,
        scheduled: p.scheduled,
        accepted: p.accepted,
        refused: p.refused,
        errors: p.errors,
        p50: p.latency.totalCount ? p.latency.getValueAtPercentile(50) / 1000 : null,
        p99: p.latency.totalCount ? p.latency.getValueAtPercentile(99) / 1000 : null,
        p99Accepted: p.acceptedLatency.totalCount ? p.acceptedLatency.getValueAtPercentile(99) / 1000 : null,
        freshness: fresh.length ? Math.round(fresh[Math.floor(fresh.length / 2)]) : null,
      };
    }),
    check,
  };
}
