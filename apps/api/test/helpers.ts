import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mintToken } from '@doubletap/auth';
import { loadSettings, type Settings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, type Kafka, topicSpecs } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import { createRedis, deleteKeysWithPrefix, markReadSideComplete, redisReady } from '@doubletap/redis';
import { stackEnv, uniqueName } from '@doubletap/testing';
import { createApp } from '../src/app';
import { IN_PROCESS_ADMISSION } from '../src/testing/unit-app';

export interface Topics {
  events: string;
  counts: string;
  deadLetter: string;
  partitions: number;
}

/** Fresh topics for one test file, created on the local stack. */
export async function freshTopics(kafka: Kafka, partitions = 4): Promise<Topics> {
  const topics = {
    events: uniqueName('api-events'),
    counts: uniqueName('api-counts'),
    deadLetter: uniqueName('api-dlq'),
    partitions,
  };
  await ensureTopics(kafka, topicSpecs(topics));
  return topics;
}

export const dropTopics = (kafka: Kafka, t: Topics): Promise<void> =>
  deleteTopics(kafka, [t.events, t.counts, t.deadLetter]);

export function topicEnv(t: Topics): Record<string, string> {
  return {
    TOPIC_EVENTS: t.events,
    TOPIC_COUNTS: t.counts,
    TOPIC_DEAD_LETTER: t.deadLetter,
    TOPIC_PARTITIONS: String(t.partitions),
  };
}

export function testKafka(): Kafka {
  const settings = loadSettings(stackEnv());
  return createKafka({ brokers: settings.kafka.brokers, clientId: 'api-test' });
}

/** Number of records in a topic (sum of high watermarks; no transactions, so offsets = records). */
export async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface RunningApi {
  app: NestFastifyApplication;
  url: string;
  settings: Settings;
  token(userId: string, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * Boots the api in-process on a random port against the local stack, with extra environment. Without
 * REDIS_KEY_PREFIX in `env` it gets a key prefix of its own (deleted again by close()).
 */
export async function startApi(env: Record<string, string>): Promise<RunningApi> {
  const ownPrefix = env.REDIS_KEY_PREFIX === undefined ? `${uniqueName('api-test')}:` : undefined;
  // in-process under jest: kafkajs, as jest cannot load @platformatic/kafka (an ECMAScript module) on
  // Node 20; the default client is tested on the built api (kafka-clients.e2e.test.ts)
  const settings = loadSettings(
    // the event loop is the test runner's too: admission control on its counted signals only
    stackEnv({
      LOG_LEVEL: 'silent',
      API_PORT: '0',
      KAFKA_PRODUCER_CLIENT: 'kafkajs',
      ...IN_PROCESS_ADMISSION,
      ...(ownPrefix ? { REDIS_KEY_PREFIX: ownPrefix } : {}),
      ...env,
    }),
  );
  const { app } = await createApp(settings, createLogger('api-test', process.env.API_TEST_LOG === '1' ? 'error' : 'silent'));
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    settings,
    token: (userId, ttlSeconds) => mintToken(settings.auth.hs256Secret, userId, { ttlSeconds }),
    close: async () => {
      await app.close();
      if (ownPrefix) await withRedis(settings.redis.url, (redis) => deleteKeysWithPrefix(redis, ownPrefix));
    },
  };
}

/** Runs fn on a short-lived client; a Redis that is not there (tests point at dead ports) is skipped. */
async function withRedis(url: string, fn: (redis: ReturnType<typeof createRedis>) => Promise<unknown>): Promise<void> {
  const redis = createRedis({ url, name: 'api-test-admin' });
  try {
    await redisReady(redis, 1000);
    await fn(redis);
  } catch {
    // unreachable Redis: nothing of this test can be in it
  } finally {
    redis.disconnect();
  }
}

/**
 * The api refuses reads (and is not ready) until a projector has completed the read side of its key
 * prefix (ADR 0008). Tests without a projector declare it complete: nothing is projected, so there
 * is nothing to heal.
 */
export async function markReadSideCompleteFor(api: RunningApi, partitions: number): Promise<void> {
  const redis = createRedis({ url: api.settings.redis.url, name: 'api-test-admin', offlineQueue: true });
  try {
    await markReadSideComplete(redis, api.settings.redis.keyPrefix, partitions);
  } finally {
    await redis.quit();
  }
}

/** Waits until /ready says ok (producer connected, schema resolved, Redis reachable, read side complete). */
export async function untilReady(api: RunningApi, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${api.url}/ready`);
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`api not ready: ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Fresh topics plus an in-process api on them (`env` on top of the topics'); `ready` declares the
 * read side complete (no projector runs here) and waits for /ready.
 */
export async function startApiOnFreshTopics(
  kafka: Kafka,
  partitions: number,
  env: Record<string, string> = {},
  options: { ready?: boolean } = {},
): Promise<{ topics: Topics; api: RunningApi }> {
  const topics = await freshTopics(kafka, partitions);
  const api = await startApi({ ...topicEnv(topics), ...env });
  if (options.ready) {
    await markReadSideCompleteFor(api, partitions);
    await untilReady(api);
  }
  return { topics, api };
}

/** Closes the api (when it started) and drops its topics. */
export async function stopApiAndTopics(kafka: Kafka, api: RunningApi | undefined, topics: Topics): Promise<void> {
  await api?.close();
  await dropTopics(kafka, topics);
}
