import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mintToken } from '@doubletap/auth';
import { loadSettings, type Settings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, type Kafka, topicSpecs } from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import { freshNamesEnv, REPO_ROOT, stackEnv, stopChild, uniqueName, waitFor } from '@doubletap/testing';
import { caughtUp, type PartitionStatus } from './truth';

/** One built app running as its own process (node -r ./scripts/paths.js dist/apps/<app>/src/main.js). */
export interface AppProcess {
  name: string;
  child: ChildProcess;
  logs: string[];
  /** the fields of the first log line with msg === startedMsg */
  started: Promise<Record<string, unknown>>;
  exited: Promise<void>;
}

const START_MSG: Record<string, string> = {
  api: 'listening',
  aggregator: 'aggregator started',
  projector: 'projector started',
};

export function buildOnce(): void {
  // e2e runs the built apps: compile (incremental)
  spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
  for (const app of ['api', 'aggregator', 'projector']) {
    const main = join(REPO_ROOT, `dist/apps/${app}/src/main.js`);
    if (!existsSync(main)) throw new Error(`build did not produce ${main}`);
  }
}

export function spawnApp(name: 'api' | 'aggregator' | 'projector', env: Record<string, string>): AppProcess {
  const child = spawn(
    process.execPath,
    ['-r', './scripts/paths.js', join(REPO_ROOT, `dist/apps/${name}/src/main.js`)],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  const keep = (line: string) => {
    logs.push(line);
    if (logs.length > 500) logs.shift();
  };
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === START_MSG[name]) resolve(entry);
      } catch {
        // not JSON
      }
    });
    child.once('exit', () =>
      reject(new Error(`${name} exited before it started:\n${logs.slice(-20).join('\n')}`)),
    );
  });
  started.catch(() => undefined);
  createInterface({ input: child.stderr }).on('line', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { name, child, logs, started, exited };
}

export async function stopApp(p: AppProcess): Promise<void> {
  await stopChild(p.child, 10000);
}

export interface Pipeline {
  settings: Settings;
  env: Record<string, string>;
  kafka: Kafka;
  apiUrl: string;
  aggregatorUrl: string;
  apps: AppProcess[];
  token(userId: string): Promise<string>;
  /** the aggregator applied everything in likes.events and its outbox is empty */
  aggregatorCaughtUp(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * api + aggregator + projector as processes on fresh topics, groups, key prefix and data dir.
 * `redisUrl` points all three at another Redis (default: the stack's).
 */
export async function startPipeline(
  options: { partitions?: number; redisUrl?: string } = {},
): Promise<Pipeline> {
  const base = uniqueName('reade2e');
  const dataDir = await mkdtemp(join(tmpdir(), 'dt-reads-e2e-'));
  const env = stackEnv({
    ...freshNamesEnv(base),
    TOPIC_PARTITIONS: String(options.partitions ?? 4),
    AGGREGATOR_DATA_DIR: dataDir,
    AGGREGATOR_PORT: '0',
    PROJECTOR_PORT: '0',
    API_PORT: '0',
    RATE_LIMIT_PER_SEC: '0',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
  });
  const settings = loadSettings(env);
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'reads-e2e' });
  await ensureTopics(kafka, topicSpecs(settings.topics));
  const apps = [spawnApp('aggregator', env), spawnApp('projector', env), spawnApp('api', env)];
  const close = async () => {
    await Promise.all(apps.map((a) => stopApp(a)));
    await deleteTopics(kafka, [
      settings.topics.events,
      settings.topics.counts,
      settings.topics.deadLetter,
    ]).catch(() => undefined);
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const [agg, , api] = await Promise.all(apps.map((a) => a.started));
    const apiUrl = `http://127.0.0.1:${String(api.port)}`;
    const aggregatorUrl = String(agg.url);
    await waitFor('api ready', async () => (await fetch(`${apiUrl}/ready`)).status === 200, 30000);
    const aggregatorCaughtUp = async () => {
      const res = await fetch(`${aggregatorUrl}/internal/partitions`);
      const { partitions } = (await res.json()) as { partitions: PartitionStatus[] };
      return caughtUp(kafka, settings.topics.events, partitions);
    };
    return {
      settings,
      env,
      kafka,
      apiUrl,
      aggregatorUrl,
      apps,
      token: (userId) => mintToken(settings.auth.hs256Secret, userId, { ttlSeconds: 600 }),
      aggregatorCaughtUp,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
