import {
  monitorEventLoopDelay,
  performance,
  type EventLoopUtilization,
  type IntervalHistogram,
} from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AdmissionSettings } from '@doubletap/config';
import { Counter, Gauge, type Registry } from '@doubletap/observability';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { overloaded } from './problem-types';
import type { ProblemException } from './problem';

/** Why a write was refused (the `reason` label of doubletap_api_overload_refusals_total). */
export type OverloadReason =
  | 'event-loop-delay'
  | 'event-loop-utilization'
  | 'heap'
  | 'in-flight'
  | 'queue-depth'
  /** the producer's own bound (PRODUCER_QUEUE_MAX) refused the message: counted by the service */
  | 'producer-queue';

/** What the sampled signals read; injectable so the logic is tested without a real event loop. */
export interface AdmissionProbes {
  /** the longest event-loop delay since the previous call, ms (and start over) */
  eventLoopDelayMs(): number;
  /** event-loop utilization since the previous call, 0..1 */
  eventLoopUtilization(): number;
  /** V8 heap used, share of its limit, 0..1 */
  heapUsed(): number;
  /** messages in the producer's queue (waiting or in flight) */
  queueDepth(): number;
  /** releases what the probes hold (called by stop()) */
  close?(): void;
}

/** The signals as last read (the admission gauge shows them). */
export interface AdmissionSignals {
  eventLoopDelayMs: number;
  eventLoopUtilization: number;
  heapUsed: number;
  inFlight: number;
  queueDepth: number;
}

/**
 * Admission control of likes and unlikes (docs/adr/0011-admission-control.md): past capacity the
 * api answers 503 `overloaded` with Retry-After at once, before the token is verified and before
 * anything is produced, instead of letting requests queue for seconds.
 *
 * Two kinds of signal:
 * - sampled every `sampleMs` (a timer): the event-loop delay (the longest since the last sample:
 *   how long a request that arrived then waited before the api even read it), the event-loop
 *   utilization, and the V8 heap. While one is over its threshold, every write is refused until the
 *   next sample says otherwise;
 * - counted on every request: the writes admitted and not answered yet (a concurrency limit: under
 *   CPU pressure each request takes longer, so they pile up here first), and the producer's queue
 *   depth (Kafka is the slow part).
 * A threshold of 0 turns its signal off. Reads, health, readiness and metrics are never refused.
 */
export class AdmissionControl implements OnApplicationBootstrap, OnApplicationShutdown {
  private inFlightCount = 0;
  private shedding?: OverloadReason;
  private readonly last: AdmissionSignals = {
    eventLoopDelayMs: 0,
    eventLoopUtilization: 0,
    heapUsed: 0,
    inFlight: 0,
    queueDepth: 0,
  };
  private timer?: NodeJS.Timeout;
  private readonly refusals?: Counter;
  /** the prepared answer per reason, until the next sample */
  private readonly prepared = new Map<
    OverloadReason,
    { before: string; after: string; retryAfter: string }
  >();

  constructor(
    private readonly settings: AdmissionSettings,
    private readonly probes: AdmissionProbes,
    metrics?: Registry,
  ) {
    if (metrics) {
      this.refusals = new Counter({
        name: 'doubletap_api_overload_refusals_total',
        help: 'likes and unlikes refused with 503 overloaded (nothing written), by the signal that refused them',
        labelNames: ['reason'],
        registers: [metrics],
      });
      const last = this.last;
      const inFlight = () => this.inFlightCount;
      const shedding = () => (this.shedding ? 1 : 0);
      const queueDepth = () => this.probes.queueDepth();
      new Gauge({
        name: 'doubletap_api_admission_signal',
        help: 'the admission signals as last read: event_loop_delay_ms, event_loop_utilization, heap_used (share of the limit), in_flight, queue_depth, shedding (1 while a sampled signal refuses every write)',
        labelNames: ['signal'],
        registers: [metrics],
        collect() {
          this.set({ signal: 'event_loop_delay_ms' }, last.eventLoopDelayMs);
          this.set({ signal: 'event_loop_utilization' }, last.eventLoopUtilization);
          this.set({ signal: 'heap_used' }, last.heapUsed);
          this.set({ signal: 'in_flight' }, inFlight());
          this.set({ signal: 'queue_depth' }, queueDepth());
          this.set({ signal: 'shedding' }, shedding());
        },
      });
    }
  }

  /** Starts sampling (a no-op when admission control is off). */
  start(): void {
    if (!this.settings.enabled || this.timer) return;
    // the first window starts now: what the loop did before (module loading, connecting) is no load
    this.probes.eventLoopDelayMs();
    this.probes.eventLoopUtilization();
    this.timer = setInterval(() => this.sample(), this.settings.sampleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.probes.close?.();
  }

  /** Nest: sampling runs while the app does. */
  onApplicationBootstrap(): void {
    this.start();
  }

  onApplicationShutdown(): void {
    this.stop();
  }

  /** Reads the sampled signals and decides whether writes are refused until the next sample. */
  sample(): void {
    const s = this.settings;
    const l = this.last;
    l.eventLoopDelayMs = this.probes.eventLoopDelayMs();
    l.eventLoopUtilization = this.probes.eventLoopUtilization();
    l.heapUsed = this.probes.heapUsed();
    this.prepared.clear();
    this.shedding =
      s.maxEventLoopDelayMs > 0 && l.eventLoopDelayMs > s.maxEventLoopDelayMs
        ? 'event-loop-delay'
        : s.maxEventLoopUtilizationPercent > 0 &&
            l.eventLoopUtilization * 100 > s.maxEventLoopUtilizationPercent
          ? 'event-loop-utilization'
          : s.maxHeapPercent > 0 && l.heapUsed * 100 > s.maxHeapPercent
            ? 'heap'
            : undefined;
  }

  /** Writes admitted and not answered yet. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** The signals as last read, with the counted ones as of now. */
  signals(): AdmissionSignals {
    return { ...this.last, inFlight: this.inFlightCount, queueDepth: this.probes.queueDepth() };
  }

  /**
   * Why this write must be refused now, or undefined to admit it. An admitted write must be
   * followed by exactly one leave() when it was answered (or abandoned).
   */
  check(): OverloadReason | undefined {
    const s = this.settings;
    if (!s.enabled) return undefined;
    if (this.shedding) return this.shedding;
    if (s.maxInFlight > 0 && this.inFlightCount >= s.maxInFlight) return 'in-flight';
    if (s.maxQueueDepth > 0 && this.probes.queueDepth() >= s.maxQueueDepth) return 'queue-depth';
    return undefined;
  }

  enter(): void {
    this.inFlightCount++;
  }

  /** Bound: usable as a listener. */
  readonly leave = (): void => {
    if (this.inFlightCount > 0) this.inFlightCount--;
  };

  /**
   * Answers a refused write on the raw response: the problem's JSON is prepared once per reason and
   * sample (only `instance`, the path, is filled in per request).
   */
  answer(reason: OverloadReason, req: IncomingMessage, res: ServerResponse): void {
    this.refusals?.inc({ reason });
    let parts = this.prepared.get(reason);
    if (!parts) {
      const problem = overloaded(
        reason,
        describe(reason, this.settings, this.signals()),
        this.settings.retryAfterMs,
      );
      const json = JSON.stringify(problem.toProblem('\u0000'));
      const cut = json.indexOf('"\\u0000"');
      parts = {
        before: json.slice(0, cut + 1),
        after: json.slice(cut + 7),
        retryAfter: problem.headers['retry-after'],
      };
      this.prepared.set(reason, parts);
    }
    // the path matched WRITE_PATH: nothing in it needs escaping in JSON
    const body = `${parts.before}${(req.url ?? '').split('?')[0]}${parts.after}`;
    res.writeHead(503, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'retry-after': parts.retryAfter,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  /** Counts the refusal and returns its problem (503 overloaded, Retry-After). */
  refuse(reason: OverloadReason, detail?: string): ProblemException {
    this.refusals?.inc({ reason });
    return overloaded(
      reason,
      detail ?? describe(reason, this.settings, this.signals()),
      this.settings.retryAfterMs,
    );
  }
}

function describe(reason: OverloadReason, s: AdmissionSettings, now: AdmissionSignals): string {
  switch (reason) {
    case 'event-loop-delay':
      return `the event loop is ${Math.round(now.eventLoopDelayMs)} ms behind (limit ${s.maxEventLoopDelayMs} ms)`;
    case 'event-loop-utilization':
      return `the event loop is ${Math.round(now.eventLoopUtilization * 100)} % busy (limit ${s.maxEventLoopUtilizationPercent} %)`;
    case 'heap':
      return `the heap is ${Math.round(now.heapUsed * 100)} % full (limit ${s.maxHeapPercent} %)`;
    case 'in-flight':
      return `${now.inFlight} likes and unlikes are being processed (limit ${s.maxInFlight})`;
    case 'queue-depth':
      return `${now.queueDepth} messages wait for Kafka (limit ${s.maxQueueDepth})`;
    case 'producer-queue':
      return 'the produce queue is full';
  }
}

/**
 * The probes of this process: event-loop delay from perf_hooks' monitorEventLoopDelay (a 10 ms
 * timer; its mean interval over the window minus the resolution: one long pause, a GC or the
 * process being descheduled on a busy machine, does not refuse writes on its own) and from the
 * sampling timer's own lateness, whichever is longer (a loop blocked for a whole window records
 * nothing in the histogram);
 * utilization from performance.eventLoopUtilization; the heap from v8.
 */
export function processProbes(sampleMs: number, queueDepth: () => number): AdmissionProbes {
  const RESOLUTION_MS = 10;
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let lastAt = performance.now();
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  const limit = getHeapStatistics().heap_size_limit;
  return {
    eventLoopDelayMs() {
      const now = performance.now();
      const late = now - lastAt - sampleMs;
      lastAt = now;
      const mean = histogram.count > 0 ? histogram.mean / 1e6 - RESOLUTION_MS : 0;
      histogram.reset();
      return Math.max(0, late, mean);
    },
    eventLoopUtilization() {
      const next = performance.eventLoopUtilization();
      const delta = performance.eventLoopUtilization(next, elu);
      elu = next;
      return delta.utilization;
    },
    heapUsed() {
      return getHeapStatistics().used_heap_size / limit;
    },
    queueDepth,
    close() {
      histogram.disable();
    },
  };
}

/** Which requests admission control may refuse: likes and unlikes (POST and DELETE on a post's likes). */
const WRITE_PATH = /^\/v1\/posts\/[A-Za-z0-9_-]{1,64}\/likes(?:\?|$)/;
export const isWrite = (req: IncomingMessage): boolean =>
  (req.method === 'POST' || req.method === 'DELETE') && req.url !== undefined && WRITE_PATH.test(req.url);

/**
 * The gate, in front of Fastify on the api's HTTP server: a write is checked as soon as Node parsed
 * its head, before Fastify builds its request and reply, routes it, runs hooks, reads the token or
 * the body. A refused one is answered right there with a prepared problem+json (so a refusal costs
 * little more than Node's own parsing: the excess of a viral peak must not eat the capacity it
 * protects); an admitted one is counted until its response closed (sent, failed or abandoned).
 * Refusals are counted by doubletap_api_overload_refusals_total, not in the request-duration
 * histogram or the request log (they never reach Fastify).
 */
export function installAdmission(server: Server, admission: AdmissionControl): void {
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  if (handlers.length !== 1)
    throw new Error(`expected Fastify's one request listener, found ${handlers.length}`);
  const [fastify] = handlers;
  server.removeListener('request', fastify);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (isWrite(req)) {
      const reason = admission.check();
      if (reason) return admission.answer(reason, req, res);
      admission.enter();
      res.once('close', admission.leave);
    }
    fastify(req, res);
  });
}
