import { randomBytes } from 'node:crypto';
import { mintToken } from '@doubletap/auth';
import { loadSettings } from '@doubletap/config';
import { EventCodec, likeKey } from '@doubletap/events';
import {
  createKafka,
  deleteTopics,
  ensureTopics,
  KAFKA_PRODUCER_CLIENTS,
  kafkajsPartition,
  type KafkaProducerClient,
  partitionForKey,
  readTopicToEnd,
  topicNames,
  topicSpecs,
} from '@doubletap/kafka';
import { createRedis, deleteKeysWithPrefix, markReadSideComplete } from '@doubletap/redis';
import {
  type AppProcess,
  freePort,
  spawnApp,
  stackEnv,
  stopApp,
  uniqueName,
  waitFor,
} from '@doubletap/testing';

/**
 * The producer contract, run on the built api once per Kafka client (KAFKA_PRODUCER_CLIENT; docs/adr/
 * 0012-platformatic-kafka-producer.md). The api runs as its own process: @platformatic/kafka is an
 * ECMAScript module that Node 20 loads into the compiled (CommonJS) app but jest's runtime cannot.
 */
const settings = loadSettings(stackEnv());
const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'kafka-clients-e2e' });
// every character an id may hold (^[A-Za-z0-9_-]{1,64}$)
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

/** A random id of 1–64 characters from the id alphabet (posts and users). */
function randomId(): string {
  const bytes = randomBytes(1 + (randomBytes(1)[0] % 64));
  return [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
}

interface Api {
  proc: AppProcess;
  url: string;
  prefix: string;
}

/** The built api with `client` on the given topics (rate limit off), once it has started. */
async function startApi(client: KafkaProducerClient, env: Record<string, string>): Promise<Api> {
  const prefix = `${uniqueName('kafka-clients')}:`;
  const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
  // no projector runs here: the read side is declared complete, or the api is never ready (ADR 0008)
  await markReadSideComplete(redis, prefix, Number(env.TOPIC_PARTITIONS ?? settings.topics.partitions));
  await redis.quit();
  const port = await freePort();
  const proc = spawnApp(
    'api',
    stackEnv({
      KAFKA_PRODUCER_CLIENT: client,
      RATE_LIMIT_PER_SEC: '0',
      // the producer's contract is tested here, not admission control (overload.e2e): on a busy
      // machine its event-loop check would answer part of the 2,000 requests 503
      ADMISSION_ENABLED: 'false',
      REDIS_KEY_PREFIX: prefix,
      API_PORT: String(port),
      ...env,
    }),
    { logLevel: 'warn' },
  );
  const api = { proc, url: `http://127.0.0.1:${port}`, prefix };
  await waitFor(`api (${client}) listening`, async () => {
    try {
      return (await fetch(`${api.url}/health`)).status === 200;
    } catch {
      return false;
    }
  });
  return api;
}

async function stopApi(api: Api): Promise<void> {
  await stopApp(api.proc);
  const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
  await deleteKeysWithPrefix(redis, api.prefix);
  await redis.quit();
}

const ready = async (api: Api) => (await fetch(`${api.url}/ready`)).status === 200;

/** The status of each readiness check of the api. */
async function readiness(api: Api): Promise<Record<string, string>> {
  const report = (await (await fetch(`${api.url}/ready`)).json()) as {
    checks: Record<string, { status: string }>;
  };
  return Object.fromEntries(Object.entries(report.checks).map(([name, c]) => [name, c.status]));
}

interface Answer {
  status: number;
  retryAfter: string | null;
  contentType: string | null;
  body: { eventId?: string; detail?: string };
}

async function like(api: Api, postId: string, token: string, method = 'POST'): Promise<Answer> {
  const res = await fetch(`${api.url}/v1/posts/${postId}/likes`, {
    method,
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    contentType: res.headers.get('content-type'),
    body: (await res.json()) as Answer['body'],
  };
}

describe.each(KAFKA_PRODUCER_CLIENTS)('the LikeEvent producer on %s', (client) => {
  const topics = {
    events: uniqueName(`clients-${client}-events`),
    counts: uniqueName('clients-counts'),
    deadLetter: uniqueName('clients-dlq'),
    partitions: 12,
  };
  const created: string[] = [];
  const topicEnv = (t: typeof topics) => ({
    TOPIC_EVENTS: t.events,
    TOPIC_COUNTS: t.counts,
    TOPIC_DEAD_LETTER: t.deadLetter,
    TOPIC_PARTITIONS: String(t.partitions),
  });
  const fresh = async (partitions: number) => {
    const t = { ...topics, events: uniqueName(`clients-${client}-events`), partitions };
    await ensureTopics(kafka, topicSpecs(t));
    created.push(t.events);
    return t;
  };

  beforeAll(async () => {
    await ensureTopics(kafka, topicSpecs(topics));
    created.push(...topicNames(topics));
  });
  afterAll(async () => {
    await deleteTopics(kafka, created);
  });

  it('202 only for events in the log, each exactly once, on the partition Java clients and kafkajs choose for its key', async () => {
    const api = await startApi(client, topicEnv(topics));
    try {
      await waitFor(`api (${client}) ready`, () => ready(api));
      const users = Array.from({ length: 200 }, () => randomId());
      const tokens = await Promise.all(users.map((u) => mintToken(settings.auth.hs256Secret, u)));
      const requests = Array.from({ length: 2000 }, (_, i) => ({
        postId: randomId(),
        user: i % users.length,
        method: i % 7 === 0 ? 'DELETE' : 'POST',
      }));
      const answers: Answer[] = [];
      for (let i = 0; i < requests.length; i += 250)
        answers.push(
          ...(await Promise.all(
            requests.slice(i, i + 250).map((r) => like(api, r.postId, tokens[r.user], r.method)),
          )),
        );
      expect(answers.map((a) => a.status)).toEqual(requests.map(() => 202));
      const accepted = new Map(answers.map((a, i) => [a.body.eventId!, requests[i]]));
      expect(accepted.size).toBe(requests.length);

      const records = await readTopicToEnd(kafka, topics.events);
      const codec = new EventCodec(settings.registry.url, topics);
      const seen = new Set<string>();
      for (const r of records) {
        const event = await codec.decodeLike(r.value);
        const request = accepted.get(event.eventId);
        expect(request).toBeDefined();
        expect(seen.has(event.eventId)).toBe(false);
        seen.add(event.eventId);
        expect(event).toMatchObject({ postId: request!.postId, userId: users[request!.user] });
        expect(r.key).toBe(likeKey(event.postId, event.userId));
        // the partition Java's DefaultPartitioner (kafkajs's DefaultPartitioner) and our murmur2 give
        expect(r.partition).toBe(kafkajsPartition(r.key!, topics.partitions));
        expect(r.partition).toBe(partitionForKey(r.key!, topics.partitions));
      }
      expect(seen.size).toBe(requests.length);
      expect(new Set(records.map((r) => r.partition)).size).toBe(topics.partitions);
    } finally {
      await stopApi(api);
    }
  });

  it('the broker unreachable: 503 with Retry-After at once, /ready names the producer, nothing in the log later', async () => {
    const t = await fresh(4);
    const api = await startApi(client, {
      ...topicEnv(t),
      KAFKA_BROKERS: '127.0.0.1:1',
      PRODUCER_TIMEOUT_MS: '500',
    });
    try {
      // Redis and the registry are up: only Kafka is missing
      await waitFor('redis and schema ready', async () => {
        const checks = await readiness(api);
        return checks.redis === 'ok' && checks.schema === 'ok';
      });
      const token = await mintToken(settings.auth.hs256Secret, 'down_user');
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => like(api, `down_${i}`, token)));
      for (const a of answers) {
        expect(a.status).toBe(503);
        expect(a.contentType).toBe('application/problem+json');
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(a.body.detail).toBe('Kafka cannot take the write: the Kafka producer is not connected');
      }
      const res = await fetch(`${api.url}/ready`);
      expect(res.status).toBe(503);
      const report = (await res.json()) as { checks: Record<string, { status: string }> };
      expect(report.checks['kafka-producer'].status).toBe('down');
    } finally {
      await stopApi(api); // stops the connect loop; must not hang
    }
    expect(await readTopicToEnd(kafka, t.events)).toHaveLength(0);
  });

  it('a topic with another partition count than the pinned one is refused: 503, nothing in its log', async () => {
    const t = await fresh(6);
    const api = await startApi(client, { ...topicEnv(t), TOPIC_PARTITIONS: '12' });
    try {
      const token = await mintToken(settings.auth.hs256Secret, 'pinned_user');
      // the producer connects; the topic guard has read the count and refuses it
      await waitFor(`api (${client}) producer connected, topic refused`, async () => {
        const checks = await readiness(api);
        return (
          checks['kafka-producer'] === 'ok' && checks.schema === 'ok' && checks['events-topic'] === 'down'
        );
      });
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => like(api, `pinned_${i}`, token)),
      );
      for (const a of answers) {
        expect(a.status).toBe(503);
        expect(a.body.detail).toMatch(/has 6 partitions but 12 are pinned/);
      }
    } finally {
      await stopApi(api);
    }
    expect(await readTopicToEnd(kafka, t.events)).toHaveLength(0);
  });
});
