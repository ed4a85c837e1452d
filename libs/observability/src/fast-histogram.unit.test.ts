import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram';

const BOUNDS = [0.001, 0.01, 0.1, 1];

/** The exposition with each line's labels in one order (their order in the text means nothing). */
const normalized = (text: string) =>
  text
    .split('\n')
    .map((line) => line.replace(/\{([^}]*)\}/, (_m, labels: string) => `{${labels.split(',').sort().join(',')}}`))
    .sort();

describe('FastHistogram', () => {
  it("exposes what prom-client's Histogram exposes for the same observations", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    for (const r of [theirs, ours]) r.setDefaultLabels({ app: 'api' });
    const reference = new Histogram({ name: 'req_seconds', help: 'latency', labelNames: ['method', 'route', 'status'], buckets: BOUNDS, registers: [theirs] });
    const fast = new FastHistogram(ours, 'req_seconds', 'latency', ['method', 'route', 'status'], BOUNDS);
    const observations: Array<[string, string, string, number]> = [
      ['POST', '/v1/posts/:postId/likes', '202', 0.0004],
      ['POST', '/v1/posts/:postId/likes', '202', 0.001], // on a bound: counted in it (le)
      ['POST', '/v1/posts/:postId/likes', '202', 0.05],
      ['POST', '/v1/posts/:postId/likes', '503', 7], // past the last bound: +Inf only
      ['GET', '/v1/posts/:postId/likes', '200', 0.02],
    ];
    for (const [method, route, status, v] of observations) {
      reference.observe({ method, route, status }, v);
      fast.labels(method, route, status)(v);
    }
    expect(normalized(await ours.metrics())).toEqual(normalized(await theirs.metrics()));
    ours.resetMetrics();
    theirs.resetMetrics();
    fast.labels('GET', '/v1/posts/:postId/likes', '200')(0.5);
    reference.observe({ method: 'GET', route: '/v1/posts/:postId/likes', status: '200' }, 0.5);
    expect(normalized(await ours.metrics())).toEqual(normalized(await theirs.metrics()));
  });

  it('hands out one observe per label set and refuses a wrong number of values or unordered bounds', () => {
    const fast = new FastHistogram(new Registry(), 'x_seconds', 'x', ['a', 'b'], BOUNDS);
    expect(fast.labels('1', '2')).toBe(fast.labels('1', '2'));
    expect(fast.labels('1', '3')).not.toBe(fast.labels('1', '2'));
    expect(() => fast.labels('1')).toThrow(/1 label values for 2 labels/);
    expect(() => new FastHistogram(new Registry(), 'y', 'y', [], [1, 1])).toThrow(/increasing/);
  });
});
