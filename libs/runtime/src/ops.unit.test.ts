import { createMetricsRegistry, counter, HealthRegistry } from '@doubletap/observability';
import { opsAnswer, type OpsDeps } from './ops';
import { startOpsServer } from './ops-server';

function deps(overrides: Partial<OpsDeps> = {}): OpsDeps {
  const metrics = createMetricsRegistry('ops_test');
  counter(metrics, 'doubletap_ops_test_total', 'a test counter').inc(3);
  return { health: new HealthRegistry(), metrics, ...overrides };
}

describe('opsAnswer', () => {
  it('/health is 200 ok while alive, a 503 problem naming why when not', async () => {
    const state: { why?: string } = {};
    const d = deps({ alive: () => state.why });
    const ok = await opsAnswer('/health', d);
    expect([ok.status, JSON.parse(ok.body)]).toEqual([200, { status: 'ok' }]);
    state.why = 'the consumer stopped';
    const dead = await opsAnswer('/health', d);
    expect(dead.status).toBe(503);
    expect(dead.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(dead.body)).toEqual({ type: 'about:blank', title: 'Not alive', status: 503, detail: 'the consumer stopped' });
  });

  it('/ready is 200 with every check, or a 503 problem with Retry-After naming the down checks', async () => {
    const d = deps();
    let redisUp = true;
    d.health.register('redis', async () => {
      if (!redisUp) throw new Error('ECONNREFUSED');
    });
    d.health.register('kafka', async () => undefined);
    const ok = await opsAnswer('/ready', d);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ status: 'ok', checks: { redis: { status: 'ok' }, kafka: { status: 'ok' } } });
    redisUp = false;
    const down = await opsAnswer('/ready', d);
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(JSON.parse(down.body)).toMatchObject({
      title: 'Not ready',
      status: 503,
      detail: 'redis: ECONNREFUSED',
      checks: { redis: { status: 'down', error: 'ECONNREFUSED' }, kafka: { status: 'ok' } },
    });
  });

  it('/metrics runs beforeMetrics, then renders the registry', async () => {
    const order: string[] = [];
    const d = deps({ beforeMetrics: async () => void order.push('refreshed') });
    const a = await opsAnswer('/metrics', d);
    expect(order).toEqual(['refreshed']);
    expect(a.headers['content-type']).toBe(d.metrics.contentType);
    expect(a.body).toMatch(/doubletap_ops_test_total\{app="ops_test"\} 3/);
  });
});

describe('startOpsServer', () => {
  it('serves the ops answers over HTTP, 404 and 405 as problems', async () => {
    const server = await startOpsServer({ ...deps({ alive: () => 'fatal: disk full' }), host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const health = await fetch(`${base}/health`);
      expect([health.status, ((await health.json()) as { detail: string }).detail]).toEqual([503, 'fatal: disk full']);
      expect((await fetch(`${base}/ready`)).status).toBe(200);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/doubletap_ops_test_total\{app="ops_test"\} 3/);
      const missing = await fetch(`${base}/nope`);
      expect([missing.status, missing.headers.get('content-type')]).toEqual([404, 'application/problem+json; charset=utf-8']);
      const post = await fetch(`${base}/health`, { method: 'POST' });
      expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    } finally {
      await server.close();
    }
  });
});
