import type { BalancerServer } from './config';

export type RunApp = 'api' | 'aggregator' | 'projector' | 'monitor';

/** How many of each app a local run starts, and the base settings it starts from. */
export interface RunPlanOptions {
  readonly api: number;
  readonly aggregators: number;
  readonly projectors: number;
  readonly monitor: boolean;
  /** HAProxy in front of the api replicas (default: when there is more than one) */
  readonly lb?: boolean;
  /** the base ports: API_PORT, AGGREGATOR_PORT, PROJECTOR_PORT, MONITOR_PORT */
  readonly ports: {
    readonly api: number;
    readonly aggregator: number;
    readonly projector: number;
    readonly monitor: number;
  };
  readonly hosts: { readonly api: string; readonly aggregator: string; readonly projector: string };
  /** AGGREGATOR_DATA_DIR: the first aggregator's; replica k (k ≥ 2) gets `<dir>-<k>` */
  readonly aggregatorDataDir: string;
}

/** One process of the run. */
export interface PlannedInstance {
  readonly app: RunApp;
  /** `api` when it is the only one of its app, `api-1`, `api-2`... when there are several */
  readonly name: string;
  /** its HTTP port */
  readonly port: number;
  /** the settings that make this instance itself (on top of the run's environment) */
  readonly env: Readonly<Record<string, string>>;
}

export interface PlannedBalancer {
  readonly host: string;
  /** API_PORT: where clients connect */
  readonly port: number;
  /** API_PORT + 4: the stats page and /metrics */
  readonly statsPort: number;
  readonly servers: readonly BalancerServer[];
}

export interface RunPlan {
  /** in start order: aggregators, projectors, api replicas, monitor */
  readonly instances: readonly PlannedInstance[];
  readonly balancer?: PlannedBalancer;
}

/** Replica n of an app listens on its base port + 10·n: the apps' bases (8080..8084) never meet. */
export const REPLICA_PORT_STEP = 10;
/** The balancer's stats listener: API_PORT + 4 (8084 by default). */
export const STATS_PORT_OFFSET = 4;

const ANY = new Set(['0.0.0.0', '::', '']);
const advertised = (host: string, port: number) => {
  const h = ANY.has(host) ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
};

function count(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 64)
    throw new Error(`${what} must be a whole number from 0 to 64 (got ${n})`);
  return n;
}

/**
 * The ports, data dirs and advertised URLs of a local multi-instance run (`npm start -- --api 3
 * --aggregators 2 --projectors 2`). Replica n (from 0) of an app listens on its base port + 10·n;
 * with the balancer, HAProxy takes API_PORT and the api replicas are n = 1..N (API_PORT + 10,
 * + 20, ...), its stats page API_PORT + 4. Each aggregator gets its own data dir and advertises
 * its own URL (the owners map in Redis sends `likedByViewer` queries to the owner of the
 * partition); projectors share the group and differ only by port. One instance of an app keeps
 * the plain settings (the same ports and data dir as a single-process run). Throws when two
 * listeners would share a port.
 */
export function planRun(options: RunPlanOptions): RunPlan {
  const api = count('--api', options.api);
  const aggregators = count('--aggregators', options.aggregators);
  const projectors = count('--projectors', options.projectors);
  const lb = (options.lb ?? api > 1) && api > 0;
  const { ports, hosts } = options;
  const named = (app: RunApp, total: number, i: number) => (total === 1 ? app : `${app}-${i + 1}`);
  const instances: PlannedInstance[] = [];
  for (let i = 0; i < aggregators; i++) {
    const port = ports.aggregator + REPLICA_PORT_STEP * i;
    instances.push({
      app: 'aggregator',
      name: named('aggregator', aggregators, i),
      port,
      env: {
        AGGREGATOR_PORT: String(port),
        AGGREGATOR_DATA_DIR:
          i === 0 ? options.aggregatorDataDir : `${options.aggregatorDataDir.replace(/\/+$/, '')}-${i + 1}`,
        AGGREGATOR_ADVERTISED_URL: advertised(hosts.aggregator, port),
      },
    });
  }
  for (let i = 0; i < projectors; i++) {
    const port = ports.projector + REPLICA_PORT_STEP * i;
    instances.push({
      app: 'projector',
      name: named('projector', projectors, i),
      port,
      env: { PROJECTOR_PORT: String(port) },
    });
  }
  const servers: BalancerServer[] = [];
  for (let i = 0; i < api; i++) {
    const port = ports.api + REPLICA_PORT_STEP * (lb ? i + 1 : i);
    const name = named('api', api, i);
    instances.push({ app: 'api', name, port, env: { API_PORT: String(port) } });
    servers.push({ name, host: ANY.has(hosts.api) ? '127.0.0.1' : hosts.api, port });
  }
  if (options.monitor) instances.push({ app: 'monitor', name: 'monitor', port: ports.monitor, env: {} });
  const balancer: PlannedBalancer | undefined = lb
    ? { host: hosts.api, port: ports.api, statsPort: ports.api + STATS_PORT_OFFSET, servers }
    : undefined;

  const taken = new Map<number, string>();
  const claim = (port: number, who: string) => {
    if (port === 0) return; // any free port (API_PORT=0): never shared
    if (port < 1 || port > 65535) throw new Error(`${who} would listen on port ${port}, outside 1..65535`);
    const other = taken.get(port);
    if (other)
      throw new Error(
        `${who} and ${other} would both listen on port ${port}: choose base ports further apart`,
      );
    taken.set(port, who);
  };
  if (balancer) {
    claim(balancer.port, 'haproxy');
    claim(balancer.statsPort, 'haproxy stats');
  }
  for (const inst of instances) claim(inst.port, inst.name);
  return balancer ? { instances, balancer } : { instances };
}
