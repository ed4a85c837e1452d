import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '@doubletap/auth';
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
import { parseLogLine, spawnApp, stopApp, type AppName, type AppProcess } from './app-process';
import { freshNamesEnv, uniqueName } from './names';
import { aggregatorCaughtUp, type PartitionStatusView } from './pipeline';
import { freePort } from './processes';
import { stackEnv } from './stack';

/** One app instance of a cluster: its own port, URL (and data dir for an aggregator). */
export interface ClusterMember {
  /** `api-1`, `aggregator-2`, `projector-1`: numbered per app in start order */
  readonly id: string;
  readonly app: AppName;
  readonly url: string;
  readonly port: number;
  /** the aggregator's data dir */
  readonly dataDir?: string;
  readonly proc: AppProcess;
  /** every line it logged (the last 20 000) */
  readonly history: string[];
  /** when it was spawned (Date.now()) */
  readonly startedAt: number;
}

export interface AppClusterOptions {
  /** api replicas (default 1) */
  apis?: number;
  /** aggregators at the start (default 1) */
  aggregators?: number;
  /** projectors, one group (default 1) */
  projectors?: number;
  /** partitions of the fresh topics (default 6) */
  partitions?: number;
  name?: string;
  /** extra environment for every app */
  env?: Record<string, string>;
  /** the stack's addresses (default: the local single-node stack, stackEnv()) */
  stackEnv?: Record<string, string>;
  /** lines of level error and above, prefixed with the member's id */
  log?: (line: string) => void;
  /** how long a member gets to answer /ready 200 (default 90 s) */
  readyMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = (m: ClusterMember) => m.proc.child.exitCode === null && m.proc.child.signalCode === null;

/**
 * Many instances of the built apps on the local stack, on fresh topics, groups, key prefix and data
 * dirs: N api replicas, M aggregators (each on its own port and data dir, with its advertised URL,
 * as `npm start -- --aggregators N` gives them, so the api's likedByViewer reaches whichever one
 * owns the partition), P projectors (one group). Ports are free ones, so runs never collide. Members
 * can be added, stopped gracefully (SIGTERM) or killed (SIGKILL) while the rest runs. stop() stops
 * every process it started, by its pid, then deletes the topics, the Redis keys and the data dirs.
 * A load balancer in front of the api replicas is the caller's (startLoadBalancer).
 */
export class AppCluster {
  private readonly members = new Map<string, ClusterMember>();
  private readonly dirs: string[] = [];
  private readonly made: Record<AppName, number> = { api: 0, aggregator: 0, projector: 0 };
  private stopped?: Promise<void>;

  private constructor(
    readonly env: Record<string, string>,
    readonly settings: Settings,
    readonly kafka: Kafka,
    private readonly log: (line: string) => void,
    private readonly readyMs: number,
  ) {}

  /**
   * Creates the topics, then starts the aggregators (together, so the group forms once), the
   * projectors, then the api replicas; resolves when every member answers /ready 200.
   */
  static async start(o: AppClusterOptions = {}): Promise<AppCluster> {
    const base = uniqueName(o.name ?? 'cluster');
    const env: Record<string, string> = {
      ...(o.stackEnv ?? stackEnv()),
      NODE_ENV: 'test',
      // info: the lifecycle lines (joins, assignments, restores) are the trace of a rebalance
      LOG_LEVEL: 'info',
      ...freshNamesEnv(base),
      TOPIC_PARTITIONS: String(o.partitions ?? 6),
      RATE_LIMIT_PER_SEC: '0',
      ...o.env,
    };
    const settings = loadSettings(env);
    const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'cluster' });
    await ensureTopics(kafka, topicSpecs(settings.topics));
    const c = new AppCluster(env, settings, kafka, o.log ?? (() => undefined), o.readyMs ?? 90_000);
    for (const [app, count] of [
      ['aggregator', o.aggregators ?? 1],
      ['projector', o.projectors ?? 1],
      ['api', o.apis ?? 1],
    ] as const) {
      // every start settles before the cluster stops: none is spawned after stop() looked
      const started = await Promise.allSettled(Array.from({ length: count }, () => c.add(app)));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) {
        await c.stop();
        throw failed.reason;
      }
    }
    return c;
  }

  /** A bearer token for `userId`, signed with the cluster's secret. */
  token(userId: string): Promise<string> {
    return mintToken(this.settings.auth.hs256Secret, userId, { ttlSeconds: 3600 });
  }

  /** Every member ever started (`app`: only those), in start order; stopped and killed ones stay listed. */
  list(app?: AppName): ClusterMember[] {
    return [...this.members.values()].filter((m) => !app || m.app === app);
  }

  /** The members of `app` whose process runs. */
  live(app?: AppName): ClusterMember[] {
    return this.list(app).filter(running);
  }

  member(id: string): ClusterMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id} in this cluster`);
    return m;
  }

  /** The api replicas' base URLs (running ones). */
  get apiUrls(): string[] {
    return this.live('api').map((m) => m.url);
  }

  /**
   * Starts one more `app` (`<app>-<n>`) on its own port (an aggregator also on its own data dir);
   * waits until it is ready unless told not to. A new api replica is not behind a balancer started before.
   */
  async add(app: AppName, options: { waitReady?: boolean } = {}): Promise<ClusterMember> {
    const port = await freePort();
    const dataDir = app === 'aggregator' ? await mkdtemp(join(tmpdir(), 'dt-cluster-')) : undefined;
    if (dataDir) this.dirs.push(dataDir);
    // numbered after the awaits: the ids follow the order of the members list
    const id = `${app}-${++this.made[app]}`;
    const url = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = { ...this.env };
    if (app === 'api') env.API_PORT = String(port);
    if (app === 'projector') env.PROJECTOR_PORT = String(port);
    if (dataDir) {
      env.AGGREGATOR_PORT = String(port);
      env.AGGREGATOR_DATA_DIR = dataDir;
      env.AGGREGATOR_ADVERTISED_URL = url;
      env.KAFKA_CLIENT_ID = `doubletap-${id}`;
    }
    const history: string[] = [];
    const proc = spawnApp(app, env, {
      keep: 2000,
      onLine: (line) => {
        const text = line.slice(app.length + 3);
        history.push(text);
        if (history.length > 20_000) history.splice(0, 5_000);
        if (/"level":(50|60)/.test(text)) this.log(`${id} | ${text.slice(0, 400)}`);
      },
    });
    const member: ClusterMember = { id, app, url, port, dataDir, proc, history, startedAt: Date.now() };
    this.members.set(id, member);
    if (options.waitReady ?? true) await this.ready(id);
    return member;
  }

  /** add('aggregator', options) */
  addAggregator(options: { waitReady?: boolean } = {}): Promise<ClusterMember> {
    return this.add('aggregator', options);
  }

  /** Waits until `id` answers /ready 200 (fails at once if it exits). */
  async ready(id: string, timeoutMs = this.readyMs): Promise<void> {
    const m = this.member(id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!running(m))
        throw new Error(`${id} exited before it was ready:\n${m.history.slice(-15).join('\n')}`);
      try {
        if ((await fetch(`${m.url}/ready`, { signal: AbortSignal.timeout(2000) })).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`${id} was not ready within ${timeoutMs} ms:\n${m.history.slice(-15).join('\n')}`);
      await sleep(200);
    }
  }

  /** SIGTERM (graceful: the member finishes its batch, closes its stores, leaves the group); waits for the exit. */
  async stopMember(id: string, graceMs = 30_000): Promise<void> {
    await stopApp(this.member(id).proc, graceMs);
  }

  /** kill -9; waits for the exit. */
  async kill(id: string): Promise<void> {
    const m = this.member(id);
    if (!running(m)) return;
    m.proc.child.kill('SIGKILL');
    await m.proc.exited;
  }

  /** What the running aggregators say of the partitions they own, per member (one that does not answer is left out). */
  async partitionsByMember(timeoutMs = 3000): Promise<Map<string, PartitionStatusView[]>> {
    const out = new Map<string, PartitionStatusView[]>();
    await Promise.all(
      this.live('aggregator').map(async (m) => {
        try {
          const res = await fetch(`${m.url}/internal/partitions`, { signal: AbortSignal.timeout(timeoutMs) });
          if (res.ok) out.set(m.id, ((await res.json()) as { partitions: PartitionStatusView[] }).partitions);
        } catch {
          // not answering now
        }
      }),
    );
    return out;
  }

  /** partition → the id of the running aggregator that says it owns it */
  async owners(): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const [id, statuses] of await this.partitionsByMember())
      for (const s of statuses) out.set(s.partition, id);
    return out;
  }

  /** Every partition with records is applied to its end by some running aggregator, live, nothing left to publish. */
  async caughtUp(): Promise<boolean> {
    const all = [...(await this.partitionsByMember()).values()].flat();
    return aggregatorCaughtUp(this.kafka, this.settings.topics.events, all);
  }

  /** The lines `id` logged, parsed where they are JSON. */
  lines(id: string): Array<Record<string, unknown>> {
    return this.member(id)
      .history.map(parseLogLine)
      .filter((e): e is Record<string, unknown> => e !== undefined);
  }

  /** Writes every member's log lines to `<dir>/<id>.log`; returns the paths. */
  async saveLogs(dir: string): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    const out: string[] = [];
    for (const m of this.members.values()) {
      const path = join(dir, `${m.id}.log`);
      await writeFile(path, `${m.history.join('\n')}\n`);
      out.push(path);
    }
    return out;
  }

  /** Stops every member it started (SIGTERM by pid, SIGKILL after a grace), then deletes topics, keys and data dirs. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    // the api replicas first (nothing new comes in), then the pipeline behind them
    for (const app of ['api', 'projector', 'aggregator'] as const)
      await Promise.all(this.live(app).map((m) => stopApp(m.proc, 10_000)));
    await deleteTopics(this.kafka, topicNames(this.settings.topics)).catch(() => undefined);
    const redis = createRedis({ url: this.settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, this.settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }
}
