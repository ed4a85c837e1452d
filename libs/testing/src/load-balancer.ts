import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '@doubletap/auth';
import {
  startHaproxy,
  type BalancerChecks,
  type BalancerServer,
  type BalancerShedding,
  type BalancerTimeouts,
  type HaproxyProcess,
} from '@doubletap/balancer';
import { loadSettings, type Settings } from '@doubletap/config';
import {
  createKafka,
  deleteTopics,
  ensureTopics,
  topicNames,
  topicSpecs,
  type Kafka,
} from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import { spawnApp, stopApp, type AppName, type AppProcess } from './app-process';
import { freshNamesEnv, uniqueName } from './names';
import { aggregatorCaughtUp, type PartitionStatusView } from './pipeline';
import { freePort, untilStatus } from './processes';
import { REPO_ROOT, stackEnv } from './stack';

export interface LoadBalancerOptions {
  /** the file names under the stack dir: `haproxy-<name>-<unique>` (default lb) */
  name?: string;
  checks?: BalancerChecks;
  timeouts?: BalancerTimeouts;
  /** past capacity: requests in flight per replica, the queue (default: libs/balancer's, ADR 0022) */
  shedding?: BalancerShedding;
  /** HAProxy's lines (server state changes), prefixed with `haproxy | ` */
  log?: (line: string) => void;
}

/**
 * HAProxy (libs/balancer) on free loopback ports in front of `servers`, with the config and pid
 * file under $DOUBLETAP_STACK_DIR (else <repo>/.stack) as `haproxy-<name>-<unique>`, so a run that
 * dies leaves nothing `stack.sh down` cannot stop. Resolves once its stats page answers; the
 * servers are UP once their /ready says 200 (`untilServers('UP')`).
 */
export async function startLoadBalancer(
  servers: readonly BalancerServer[],
  options: LoadBalancerOptions = {},
): Promise<HaproxyProcess> {
  const [listen, stats] = [await freePort(), await freePort()];
  return startHaproxy({
    stackDir: process.env.DOUBLETAP_STACK_DIR ?? join(REPO_ROOT, '.stack'),
    instanceName: `haproxy-${uniqueName(options.name ?? 'lb')}`,
    listen: { host: '127.0.0.1', port: listen },
    stats: { host: '127.0.0.1', port: stats },
    servers,
    checks: options.checks,
    timeouts: options.timeouts,
    shedding: options.shedding,
    onLine: options.log ? (line) => options.log!(`haproxy | ${line}`) : undefined,
  });
}

/** One app process of a cluster. */
export interface ClusterInstance {
  /** `api-1`, `aggregator-2`, `projector-1` */
  readonly name: string;
  readonly app: AppName;
  readonly port: number;
  readonly url: string;
  readonly process: AppProcess;
  /** the environment it got (the cluster's plus its own port, data dir, advertised URL) */
  readonly env: Record<string, string>;
}

export interface ClusterOptions {
  /** api replicas behind HAProxy (default 3) */
  api?: number;
  /** aggregators, each with its own port, data dir and advertised URL (default 2) */
  aggregators?: number;
  /** projectors, one group (default 1) */
  projectors?: number;
  partitions?: number;
  env?: Record<string, string>;
  name?: string;
  /** every process's log lines, prefixed with the instance's name */
  log?: (line: string) => void;
  balancer?: Omit<LoadBalancerOptions, 'name' | 'log'>;
}

/** Several api replicas behind HAProxy, several aggregators and projectors, on fresh topics, groups, data dirs and Redis prefix. */
export interface Cluster {
  /** the balancer's URL: where clients go */
  readonly url: string;
  readonly haproxy: HaproxyProcess;
  readonly env: Record<string, string>;
  readonly settings: Settings;
  readonly kafka: Kafka;
  /** every instance started, in start order (killed ones stay listed) */
  readonly instances: readonly ClusterInstance[];
  of(app: AppName): ClusterInstance[];
  /** starts one more instance of `app` (an api replica is not added to the balancer) and waits until it is ready */
  add(app: AppName): Promise<ClusterInstance>;
  token(userId: string): Promise<string>;
  /** partition → the name of the aggregator that says it owns it (live instances only) */
  owners(): Promise<Map<number, string>>;
  /** every partition with records is applied to its end, live, with nothing left to publish, by some aggregator */
  aggregatorCaughtUp(): Promise<boolean>;
  /** stops the apps (SIGTERM), then HAProxy; deletes the topics, the Redis keys and the data dirs */
  stop(): Promise<void>;
}

const alive = (i: ClusterInstance) =>
  i.process.child.exitCode === null && i.process.child.signalCode === null;

/**
 * Starts a cluster on the local stack: aggregators first (all at once, so the group forms once),
 * then the projectors, then the api replicas and HAProxy in front of them (startLoadBalancer).
 * Resolves when every instance's /ready is 200 and HAProxy has every api replica UP. Each
 * aggregator gets its own HTTP port, data dir and advertised URL, as `npm start -- --aggregators N`
 * gives them (planRun), so `likedByViewer` goes to the owner of the partition; ports are free
 * ones, not the fixed plan, so runs never collide.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const base = uniqueName(options.name ?? 'cluster');
  const dataRoot = await mkdtemp(join(tmpdir(), 'dt-cluster-'));
  const env: Record<string, string> = {
    ...stackEnv(),
    LOG_LEVEL: 'warn',
    ...freshNamesEnv(base),
    TOPIC_PARTITIONS: String(options.partitions ?? 12),
    RATE_LIMIT_PER_SEC: '0',
    ...options.env,
  };
  const settings = loadSettings(env);
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'cluster' });
  await ensureTopics(kafka, topicSpecs(settings.topics));
  const instances: ClusterInstance[] = [];
  const counters: Record<AppName, number> = { api: 0, aggregator: 0, projector: 0 };
  let haproxy: HaproxyProcess | undefined;

  const spawn = async (app: AppName): Promise<ClusterInstance> => {
    const n = ++counters[app];
    const name = `${app}-${n}`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const own: Record<string, string> =
      app === 'aggregator'
        ? {
            AGGREGATOR_PORT: String(port),
            AGGREGATOR_DATA_DIR: join(dataRoot, name),
            AGGREGATOR_ADVERTISED_URL: url,
          }
        : app === 'projector'
          ? { PROJECTOR_PORT: String(port) }
          : { API_PORT: String(port) };
    const instanceEnv = { ...env, ...own };
    const log = options.log;
    const proc = spawnApp(app, instanceEnv, {
      onLine: log ? (line) => log(line.replace(/^[a-z]+ \|/, `${name} |`)) : undefined,
    });
    const instance = { name, app, port, url, process: proc, env: instanceEnv };
    instances.push(instance);
    return instance;
  };
  const ready = (i: ClusterInstance) =>
    untilStatus(`${i.url}/ready`, (s) => s === 200, i.name, { child: i.process.child, timeoutMs: 90_000 });

  const stop = async () => {
    await Promise.all(instances.map((i) => stopApp(i.process)));
    await haproxy?.stop();
    await deleteTopics(kafka, topicNames(settings.topics)).catch(() => undefined);
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await rm(dataRoot, { recursive: true, force: true });
  };
  try {
    for (const [app, count] of [
      ['aggregator', options.aggregators ?? 2],
      ['projector', options.projectors ?? 1],
      ['api', options.api ?? 3],
    ] as const) {
      const started = await Promise.all(Array.from({ length: count }, () => spawn(app)));
      await Promise.all(started.map(ready));
    }
    const apis = instances.filter((i) => i.app === 'api');
    haproxy = await startLoadBalancer(
      apis.map((i) => ({ name: i.name, host: '127.0.0.1', port: i.port })),
      { ...options.balancer, name: options.name ?? 'cluster', log: options.log },
    );
    await haproxy.untilServers('UP', undefined, 30_000);
  } catch (e) {
    await stop();
    throw e;
  }
  const lb = haproxy;
  const of = (app: AppName) => instances.filter((i) => i.app === app);
  const partitionsOf = async (i: ClusterInstance): Promise<PartitionStatusView[]> => {
    const res = await fetch(`${i.url}/internal/partitions`);
    return ((await res.json()) as { partitions: PartitionStatusView[] }).partitions;
  };
  return {
    url: lb.url,
    haproxy: lb,
    env,
    settings,
    kafka,
    instances,
    of,
    add: async (app) => {
      const i = await spawn(app);
      await ready(i);
      return i;
    },
    token: (userId) => mintToken(settings.auth.hs256Secret, userId, { ttlSeconds: 600 }),
    owners: async () => {
      const out = new Map<number, string>();
      for (const i of of('aggregator').filter(alive))
        for (const s of await partitionsOf(i)) out.set(s.partition, i.name);
      return out;
    },
    aggregatorCaughtUp: async () => {
      const statuses = (await Promise.all(of('aggregator').filter(alive).map(partitionsOf))).flat();
      return aggregatorCaughtUp(kafka, settings.topics.events, statuses);
    },
    stop,
  };
}
