import type { LikeEvent } from '@doubletap/events';
import { createMetricsRegistry } from '@doubletap/observability';
import { LikeEventRepository } from '../likes/like-event.repository';
import { LikesModule } from '../likes/likes.module';
import { RateLimitRepository } from '../likes/rate-limit.repository';
import { FakeLikeEvents, FakeRateLimits } from '../testing/fakes';
import { startUnitApp, unitSettings, type UnitApp } from '../testing/unit-app';
import { AdmissionControl, type AdmissionProbes, processProbes } from './admission';

/** Probes whose readings the test sets. */
function fakeProbes() {
  const reading = { delay: 0, elu: 0, heap: 0, depth: 0 };
  const probes: AdmissionProbes = {
    eventLoopDelayMs: () => reading.delay,
    eventLoopUtilization: () => reading.elu,
    heapUsed: () => reading.heap,
    queueDepth: () => reading.depth,
  };
  return { reading, probes };
}

const admissionSettings = (env: Record<string, string> = {}) => unitSettings(env).api.admission;

describe('AdmissionControl', () => {
  it('admits while every signal is under its threshold', () => {
    const { probes } = fakeProbes();
    const a = new AdmissionControl(admissionSettings(), probes);
    a.sample();
    expect(a.check()).toBeUndefined();
  });

  it('a sampled signal over its threshold refuses every write until a sample says otherwise', () => {
    const { reading, probes } = fakeProbes();
    const a = new AdmissionControl(
      admissionSettings({
        ADMISSION_MAX_EVENT_LOOP_DELAY_MS: '40',
        ADMISSION_MAX_ELU_PERCENT: '95',
        ADMISSION_MAX_HEAP_PERCENT: '90',
      }),
      probes,
    );
    reading.delay = 41;
    a.sample();
    expect(a.check()).toBe('event-loop-delay');
    expect(a.check()).toBe('event-loop-delay');
    reading.delay = 40; // at the threshold is fine
    a.sample();
    expect(a.check()).toBeUndefined();
    reading.elu = 0.96;
    a.sample();
    expect(a.check()).toBe('event-loop-utilization');
    reading.elu = 0.5;
    reading.heap = 0.91;
    a.sample();
    expect(a.check()).toBe('heap');
    reading.heap = 0.2;
    a.sample();
    expect(a.check()).toBeUndefined();
  });

  it('counted signals: writes in flight and the producer queue depth, read on every request', () => {
    const { reading, probes } = fakeProbes();
    const a = new AdmissionControl(
      admissionSettings({ ADMISSION_MAX_IN_FLIGHT: '2', ADMISSION_MAX_QUEUE_DEPTH: '10' }),
      probes,
    );
    a.enter();
    expect(a.check()).toBeUndefined();
    a.enter();
    expect(a.check()).toBe('in-flight');
    a.leave();
    expect(a.check()).toBeUndefined();
    reading.depth = 10;
    expect(a.check()).toBe('queue-depth');
    reading.depth = 9;
    expect(a.check()).toBeUndefined();
    a.leave();
    a.leave(); // one too many never goes below zero
    expect(a.inFlight).toBe(0);
  });

  it('a threshold of 0 turns its signal off; ADMISSION_ENABLED=false admits everything', () => {
    const { reading, probes } = fakeProbes();
    const off = new AdmissionControl(
      admissionSettings({
        ADMISSION_MAX_EVENT_LOOP_DELAY_MS: '0',
        ADMISSION_MAX_HEAP_PERCENT: '0',
        ADMISSION_MAX_IN_FLIGHT: '0',
        ADMISSION_MAX_QUEUE_DEPTH: '0',
      }),
      probes,
    );
    Object.assign(reading, { delay: 10_000, elu: 1, heap: 1, depth: 1e6 });
    for (let i = 0; i < 5000; i++) off.enter();
    off.sample();
    expect(off.check()).toBeUndefined();
    const disabled = new AdmissionControl(
      admissionSettings({ ADMISSION_ENABLED: 'false', ADMISSION_MAX_IN_FLIGHT: '1' }),
      probes,
    );
    disabled.enter();
    disabled.sample();
    expect(disabled.check()).toBeUndefined();
  });

  it('a refusal is a 503 overloaded problem with Retry-After in seconds and the hint in ms, counted by reason', async () => {
    const { reading, probes } = fakeProbes();
    const metrics = createMetricsRegistry('api');
    const a = new AdmissionControl(
      admissionSettings({ ADMISSION_RETRY_AFTER_MS: '1500', ADMISSION_MAX_EVENT_LOOP_DELAY_MS: '40' }),
      probes,
      metrics,
    );
    reading.delay = 123.4;
    a.sample();
    const p = a.refuse(a.check()!);
    expect(p.getStatus()).toBe(503);
    expect(p.headers).toEqual({ 'retry-after': '2' });
    expect(p.toProblem('/v1/posts/p/likes')).toEqual({
      type: 'https://doubletap.dev/problems/overloaded',
      title: 'Service Unavailable',
      status: 503,
      detail:
        'the api is past capacity: the event loop is 123 ms behind (limit 40 ms); nothing was written, retry after 1500 ms',
      instance: '/v1/posts/p/likes',
      reason: 'event-loop-delay',
      retryAfterMs: 1500,
    });
    a.refuse('producer-queue', 'the produce queue is full (10 messages pending)');
    a.refuse('producer-queue', 'the produce queue is full (10 messages pending)');
    const text = await metrics.metrics();
    expect(text).toContain('doubletap_api_overload_refusals_total{reason="event-loop-delay",app="api"} 1');
    expect(text).toContain('doubletap_api_overload_refusals_total{reason="producer-queue",app="api"} 2');
    expect(text).toContain('doubletap_api_admission_signal{signal="event_loop_delay_ms",app="api"} 123.4');
    expect(text).toContain('doubletap_api_admission_signal{signal="shedding",app="api"} 1');
  });

  it('the process probes read a blocked event loop as delay', async () => {
    const probes = processProbes(20, () => 7);
    try {
      probes.eventLoopDelayMs();
      probes.eventLoopUtilization();
      const until = Date.now() + 80;
      while (Date.now() < until); // block the loop
      await new Promise((r) => setTimeout(r, 20));
      expect(probes.eventLoopDelayMs()).toBeGreaterThanOrEqual(50);
      expect(probes.eventLoopUtilization()).toBeGreaterThan(0.5);
      expect(probes.heapUsed()).toBeGreaterThan(0);
      expect(probes.heapUsed()).toBeLessThan(1);
      expect(probes.queueDepth()).toBe(7);
    } finally {
      probes.close?.();
    }
  });
});

/** An events log whose appends wait until release() (requests stay in flight). */
class HeldLikeEvents extends FakeLikeEvents {
  private held: Array<() => void> = [];

  override async append(event: LikeEvent): Promise<void> {
    await new Promise<void>((r) => this.held.push(r));
    return super.append(event);
  }

  get waiting(): number {
    return this.held.length;
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

/** Waits (bounded) until `ok()` holds. */
async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('admission control on the api server (repositories faked, loopback port)', () => {
  let events: HeldLikeEvents;
  let api: UnitApp;
  let base: string;

  beforeEach(async () => {
    events = new HeldLikeEvents();
    api = await startUnitApp(
      LikesModule,
      [
        [LikeEventRepository, events],
        [RateLimitRepository, new FakeRateLimits()],
      ],
      { ADMISSION_MAX_IN_FLIGHT: '2' },
    );
    // the gate sits on the HTTP server, in front of Fastify: inject() would not pass it
    await api.app.listen(0, '127.0.0.1');
    base = await api.app.getUrl();
  });
  afterEach(() => api.close());

  const send = (method: 'POST' | 'DELETE' | 'GET', path: string, token?: string) =>
    fetch(`${base}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('past the in-flight limit a write is refused at once, before its token is even read; admitted writes still complete', async () => {
    const alice = await api.token('alice');
    const first = send('POST', '/v1/posts/p1/likes', alice);
    const second = send('DELETE', '/v1/posts/p1/likes', alice);
    await until(() => events.waiting === 2, 'two appends in flight');

    const refused = await send('POST', '/v1/posts/p1/likes?x=1', alice);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toEqual({
      type: 'https://doubletap.dev/problems/overloaded',
      title: 'Service Unavailable',
      status: 503,
      detail:
        'the api is past capacity: 2 likes and unlikes are being processed (limit 2); nothing was written, retry after 1000 ms',
      instance: '/v1/posts/p1/likes',
      reason: 'in-flight',
      retryAfterMs: 1000,
    });
    // no token at all: still the overload answer (nothing of the request is processed)
    expect((await send('DELETE', '/v1/posts/p2/likes')).status).toBe(503);
    // anything but a write is never refused (here: GET on the likes path, not served by this module)
    expect((await send('GET', '/v1/posts/p1/likes')).status).not.toBe(503);

    events.release();
    expect((await first).status).toBe(202);
    expect((await second).status).toBe(202);
    expect(events.appended.map((e) => e.action)).toEqual(['LIKE', 'UNLIKE']);

    // answered: the slots are free again
    const third = send('POST', '/v1/posts/p2/likes', alice);
    await until(() => events.waiting === 1, 'one append in flight');
    events.release();
    expect((await third).status).toBe(202);
    const admission = api.app.get(AdmissionControl);
    await until(() => admission.inFlight === 0, 'no write in flight');
  });
});
