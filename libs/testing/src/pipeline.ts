import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '@doubletap/auth';
import { loadSettings, type Settings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, topicNames, topicOffsets, topicSpecs, type Kafka } from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import { spawnApp, stopApp, type AppName, type AppProcess } from './app-process';
import { freshNamesEnv, uniqueName } from './names';
import { freePort, peakRssBytes, untilStatus } from './processes';
import { stackEnv } from './stack';

export type PipelineApp = AppName;

/** What the aggregator's /internal/partitions says of one partition. */
export interface PartitionStatusView {
  partition: number;
  storedOffset: number | null;
  phase: string;
  dirty: number;
}

/** The built apps running as processes on fresh topics, groups, data dir and Redis key prefix. */
export interface Pipeline {
  /** the api's base URL */
  readonly url: string;
  readonly apiUrl: string;
  readonly aggregatorUrl: string;
  readonly projectorUrl: string;
  /** the environment every app got (settings included) */
  readonly env: Record<string, string>;
  readonly settings: Settings;
  readonly kafka: Kafka;
  readonly apps: readonly AppProcess[];
  readonly processes: ReadonlyMap<PipelineApp, ChildProcess>;
  /** a bearer token for `userId`, signed with the pipeline's secret */
  token(userId: string): Promise<string>;
  /** the aggregator applied everything in likes.events, is live everywhere and has nothing left to publish */
  aggregatorCaughtUp(): Promise<boolean>;
  /** VmHWM of each app, bytes (null where /proc is not available); read before stop() */
  peakRss(): Record<string, number | null>;
  /** stops the apps (SIGTERM), deletes the topics, the Redis keys and the data dir */
  stop(): Promise<void>;
  /** the same as stop() */
  close(): Promise<void>;
}

export interface PipelineOptions {
  partitions?: number;
  env?: Record<string, string>;
  apps?: readonly PipelineApp[];
  name?: string;
  /** every app's log lines, prefixed with its name */
  log?: (line: string) => void;
  /** another Redis for every app (default: the stack's) */
  redisUrl?: string;
  /** extra node arguments per app (e.g. `--cpu-prof` for a benchmark's profile) */
  nodeArgs?: Partial<Record<PipelineApp, string[]>>;
}

/** True when, for every partition with records, some status shows it applied to its end, live, nothing left to publish. */
export async function aggregatorCaughtUp(kafka: Kafka, topic: string, statuses: readonly PartitionStatusView[]): Promise<boolean> {
  const ends = await topicOffsets(kafka, topic);
  return ends.every(
    (e) => e.high === e.low || statuses.some((s) => s.partition === e.partition && s.storedOffset === e.high - 1 && s.phase === 'live' && s.dirty === 0),
  );
}

/**
 * Starts api, aggregator and projector (`dist/apps/<app>/src/main.js`: the e2e global setup builds
 * once) against the local stack, each on a fresh name so runs never see each other's data; waits
 * until each is ready. The projector is ready once every partition it owns is positioned from Redis
 * (its fresh key prefix makes it "heal" each, at once on an empty likes.counts), and the api only
 * once the read side is complete (ADR 0008): when startPipeline returns, reads are answered, not
 * refused. Started without a projector, the api never gets ready.
 */
export async function startPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  const base = uniqueName(options.name ?? 'pipe');
  const dataDir = await mkdtemp(join(tmpdir(), 'dt-pipeline-'));
  const [apiPort, aggPort, projPort] = [await freePort(), await freePort(), await freePort()];
  const env: Record<string, string> = {
    ...stackEnv(),
    // warn by default (benchmarks run on it; the api logs every request at info); pass LOG_LEVEL to read more
    LOG_LEVEL: 'warn',
    ...freshNamesEnv(base),
    TOPIC_PARTITIONS: String(options.partitions ?? 12),
    AGGREGATOR_DATA_DIR: dataDir,
    AGGREGATOR_PORT: String(aggPort),
    PROJECTOR_PORT: String(projPort),
    API_PORT: String(apiPort),
    RATE_LIMIT_PER_SEC: '0',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  };
  const settings = loadSettings(env);
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'pipeline' });
  await ensureTopics(kafka, topicSpecs(settings.topics));
  const apps: AppProcess[] = [];
  const ports: Record<PipelineApp, number> = { api: apiPort, aggregator: aggPort, projector: projPort };
  const urls = Object.fromEntries(Object.entries(ports).map(([app, port]) => [app, `http://127.0.0.1:${port}`])) as Record<PipelineApp, string>;
  const stop = async () => {
    await Promise.all(apps.map((a) => stopApp(a)));
    await deleteTopics(kafka, topicNames(settings.topics)).catch(() => undefined);
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    for (const name of options.apps ?? (['aggregator', 'projector', 'api'] as const)) {
      const app = spawnApp(name, env, { onLine: options.log, nodeArgs: options.nodeArgs?.[name] });
      apps.push(app);
      await untilStatus(`${urls[name]}/ready`, (s) => s === 200, name, { child: app.child, timeoutMs: 60_000 });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: urls.api,
    apiUrl: urls.api,
    aggregatorUrl: urls.aggregator,
    projectorUrl: urls.projector,
    env,
    settings,
    kafka,
    apps,
    processes: new Map(apps.map((a) => [a.name, a.child])),
    token: (userId) => mintToken(settings.auth.hs256Secret, userId, { ttlSeconds: 600 }),
    aggregatorCaughtUp: async () => {
      const res = await fetch(`${urls.aggregator}/internal/partitions`);
      const { partitions } = (await res.json()) as { partitions: PartitionStatusView[] };
      return aggregatorCaughtUp(kafka, settings.topics.events, partitions);
    },
    peakRss: () => Object.fromEntries(apps.map((a) => [a.name, peakRssBytes(a.child.pid)])),
    stop,
    close: stop,
  };
}
