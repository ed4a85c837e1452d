import { planRun, type RunPlanOptions } from './plan';

const defaults: RunPlanOptions = {
  api: 1,
  aggregators: 1,
  projectors: 1,
  monitor: true,
  ports: { api: 8080, aggregator: 8081, projector: 8082, monitor: 8083 },
  hosts: { api: '127.0.0.1', aggregator: '127.0.0.1', projector: '127.0.0.1' },
  aggregatorDataDir: '.data/aggregator',
};

const summary = (options: Partial<RunPlanOptions>) =>
  planRun({ ...defaults, ...options }).instances.map((i) => `${i.name}:${i.port}`);

describe('planRun', () => {
  it('one of each: the plain settings of a single-process run, no balancer', () => {
    const plan = planRun(defaults);
    expect(plan.balancer).toBeUndefined();
    expect(plan.instances).toEqual([
      {
        app: 'aggregator',
        name: 'aggregator',
        port: 8081,
        env: {
          AGGREGATOR_PORT: '8081',
          AGGREGATOR_DATA_DIR: '.data/aggregator',
          AGGREGATOR_ADVERTISED_URL: 'http://127.0.0.1:8081',
        },
      },
      { app: 'projector', name: 'projector', port: 8082, env: { PROJECTOR_PORT: '8082' } },
      { app: 'api', name: 'api', port: 8080, env: { API_PORT: '8080' } },
      { app: 'monitor', name: 'monitor', port: 8083, env: {} },
    ]);
  });

  it('several api replicas: HAProxy on API_PORT, replica n on API_PORT + 10n, stats on API_PORT + 4', () => {
    const plan = planRun({ ...defaults, api: 3 });
    expect(plan.balancer).toEqual({
      host: '127.0.0.1',
      port: 8080,
      statsPort: 8084,
      servers: [
        { name: 'api-1', host: '127.0.0.1', port: 8090 },
        { name: 'api-2', host: '127.0.0.1', port: 8100 },
        { name: 'api-3', host: '127.0.0.1', port: 8110 },
      ],
    });
    expect(plan.instances.filter((i) => i.app === 'api').map((i) => i.env)).toEqual([
      { API_PORT: '8090' },
      { API_PORT: '8100' },
      { API_PORT: '8110' },
    ]);
  });

  it('each aggregator has its own port, data dir and advertised URL; projectors differ by port', () => {
    const plan = planRun({ ...defaults, aggregators: 3, projectors: 2, aggregatorDataDir: '/var/dt/agg/' });
    expect(plan.instances.filter((i) => i.app === 'aggregator').map((i) => [i.name, i.env])).toEqual([
      [
        'aggregator-1',
        {
          AGGREGATOR_PORT: '8081',
          AGGREGATOR_DATA_DIR: '/var/dt/agg/',
          AGGREGATOR_ADVERTISED_URL: 'http://127.0.0.1:8081',
        },
      ],
      [
        'aggregator-2',
        {
          AGGREGATOR_PORT: '8091',
          AGGREGATOR_DATA_DIR: '/var/dt/agg-2',
          AGGREGATOR_ADVERTISED_URL: 'http://127.0.0.1:8091',
        },
      ],
      [
        'aggregator-3',
        {
          AGGREGATOR_PORT: '8101',
          AGGREGATOR_DATA_DIR: '/var/dt/agg-3',
          AGGREGATOR_ADVERTISED_URL: 'http://127.0.0.1:8101',
        },
      ],
    ]);
    expect(plan.instances.filter((i) => i.app === 'projector').map((i) => `${i.name}:${i.port}`)).toEqual([
      'projector-1:8082',
      'projector-2:8092',
    ]);
  });

  it('advertises a reachable address when the aggregator listens on every interface', () => {
    const plan = planRun({ ...defaults, hosts: { ...defaults.hosts, aggregator: '0.0.0.0' } });
    expect(plan.instances[0].env.AGGREGATOR_ADVERTISED_URL).toBe('http://127.0.0.1:8081');
  });

  it('--lb with one replica, --no-lb with several, --no-monitor, and zero of an app', () => {
    expect(planRun({ ...defaults, lb: true }).balancer?.servers).toEqual([
      { name: 'api', host: '127.0.0.1', port: 8090 },
    ]);
    expect(summary({ api: 2, lb: false, monitor: false })).toEqual([
      'aggregator:8081',
      'projector:8082',
      'api-1:8080',
      'api-2:8090',
    ]);
    expect(planRun({ ...defaults, api: 0, lb: true }).balancer).toBeUndefined();
    expect(summary({ api: 0, aggregators: 0, projectors: 2, monitor: false })).toEqual([
      'projector-1:8082',
      'projector-2:8092',
    ]);
  });

  it('refuses two listeners on one port, and counts out of range', () => {
    expect(() => planRun({ ...defaults, api: 2, ports: { ...defaults.ports, aggregator: 8090 } })).toThrow(
      'api-1 and aggregator would both listen on port 8090',
    );
    expect(() => planRun({ ...defaults, api: 2, ports: { ...defaults.ports, monitor: 8084 } })).toThrow(
      'monitor and haproxy stats',
    );
    expect(() => planRun({ ...defaults, api: 2, ports: { ...defaults.ports, api: 65530 } })).toThrow(
      'outside 1..65535',
    );
    expect(() => planRun({ ...defaults, aggregators: -1 })).toThrow('--aggregators');
    expect(() => planRun({ ...defaults, api: 1.5 })).toThrow('--api');
  });
});
