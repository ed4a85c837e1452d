import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, topicNames, topicSpecs } from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import { freshNamesEnv, uniqueName } from './names';
import { freePort, peakRssBytes, spawnBuilt, stopChild, untilStatus } from './processes';

export type PipelineApp = 'api' | 'aggregator' | 'projector';

/** The built apps running as processes on fresh topics, groups, data dir and Redis key prefix. */
export interface Pipeline {
  /** the api's base URL */
  readonly url: string;
  /** the environment every app got (settings included) */
  readonly env: Record<string, string>;
  readonly settings: Settings;
  readonly processes: ReadonlyMap<PipelineApp, ChildProcess>;
  /** VmHWM of each app, bytes (null where /proc is not available); read before stop() */
  peakRss(): Record<string, number | null>;
  /** stops the apps (SIGTERM), deletes the topics, the Redis keys and the data dir */
  stop(): Promise<void>;
}

/**
 * Starts api, aggregator and projector (`dist/apps/<app>/src/main.js`, so build first) against the
 * local stack, each on a fresh name so runs never see each other's data; waits until each is ready.
 * The projector is ready once every partition it owns is positioned from Redis (its fresh key prefix
 * makes it "heal" each, at once on an empty likes.counts), and the api only once the read side is
 * complete (ADR 0008): when startPipeline returns, reads are answered, not refused. Started without
 * a projector, the api never gets ready (nothing would ever complete its read side).
 */
export async function startPipeline(options: {
  partitions?: number;
  env?: Record<string, string>;
  apps?: readonly PipelineApp[];
  name?: string;
  log?: (line: string) => void;
} = {}): Promise<Pipeline> {
  const base = uniqueName(options.name ?? 'pipe');
  const dataDir = await mkdtemp(join(tmpdir(), 'dt-pipeline-'));
  const [apiPort, aggPort, projPort] = [await freePort(), await freePort(), await freePort()];
  const env: Record<string, string> = {
    LOG_LEVEL: 'warn',
    ...freshNamesEnv(base),
    TOPIC_PARTITIONS: String(options.partitions ?? 12),
    AGGREGATOR_DATA_DIR: dataDir,
    AGGREGATOR_PORT: String(aggPort),
    PROJECTOR_PORT: String(projPort),
    API_PORT: String(apiPort),
    RATE_LIMIT_PER_SEC: '0',
    ...options.env,
  };
  const settings = loadSettings({ ...process.env, ...env });
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'pipeline' });
  await ensureTopics(kafka, topicSpecs(settings.topics));
  const processes = new Map<PipelineApp, ChildProcess>();
  const ports: Record<PipelineApp, number> = { api: apiPort, aggregator: aggPort, projector: projPort };
  const stop = async () => {
    await Promise.all([...processes.values()].map((c) => stopChild(c)));
    await deleteTopics(kafka, topicNames(settings.topics)).catch(() => undefined);
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    for (const app of options.apps ?? (['aggregator', 'projector', 'api'] as const)) {
      const child = spawnBuilt(`apps/${app}/src/main.js`, env, options.log);
      processes.set(app, child);
      await untilStatus(`http://127.0.0.1:${ports[app]}/ready`, (s) => s === 200, app, { child, timeoutMs: 60_000 });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: `http://127.0.0.1:${apiPort}`,
    env,
    settings,
    processes,
    peakRss: () => Object.fromEntries([...processes].map(([app, c]) => [app, peakRssBytes(c.pid)])),
    stop,
  };
}
