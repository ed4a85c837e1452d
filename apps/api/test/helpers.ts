import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mintToken } from '@doubletap/auth';
import { loadSettings, type Settings } from '@doubletap/config';
import { createKafka, deleteTopics, ensureTopics, type Kafka, topicSpecs } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import { stackEnv, uniqueName } from '@doubletap/testing';
import { createApp } from '../src/app';

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

/** Boots the api in-process on a random port against the local stack, with extra environment. */
export async function startApi(env: Record<string, string>): Promise<RunningApi> {
  const settings = loadSettings(stackEnv({ LOG_LEVEL: 'silent', API_PORT: '0', ...env }));
  const { app } = await createApp(settings, createLogger('api-test', process.env.API_TEST_LOG === '1' ? 'error' : 'silent'));
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    settings,
    token: (userId, ttlSeconds) => mintToken(settings.auth.hs256Secret, userId, { ttlSeconds }),
    close: () => app.close(),
  };
}

/** Waits until /ready says ok (producer connected, schema resolved, Redis reachable). */
export async function untilReady(api: RunningApi, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${api.url}/ready`);
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`api not ready: ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Fresh topics plus an in-process api on them (`env` on top of the topics'); `ready` waits for /ready. */
export async function startApiOnFreshTopics(
  kafka: Kafka,
  partitions: number,
  env: Record<string, string> = {},
  options: { ready?: boolean } = {},
): Promise<{ topics: Topics; api: RunningApi }> {
  const topics = await freshTopics(kafka, partitions);
  const api = await startApi({ ...topicEnv(topics), ...env });
  if (options.ready) await untilReady(api);
  return { topics, api };
}

/** Closes the api (when it started) and drops its topics. */
export async function stopApiAndTopics(kafka: Kafka, api: RunningApi | undefined, topics: Topics): Promise<void> {
  await api?.close();
  await dropTopics(kafka, topics);
}
