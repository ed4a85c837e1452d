import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec, likeKey, uuidv7 } from '@doubletap/events';
import { createKafka, deleteTopics, ensureTopics, partitionForKey, readTopicToEnd, topicNames, topicSpecs } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import { createRedis, readOwners, type Redis } from '@doubletap/redis';
import { PartitionStore } from '@doubletap/store';
import { freshNamesEnv, stackEnv, uniqueName, waitFor } from '@doubletap/testing';
import { AggregatorApp } from '../src/aggregator.app';
import { caughtUp, countsFromTopic, groundTruth, nonZero, produceActions, produceRaw, randomActions, type PartitionStatus } from './fixtures';

const PARTITIONS = 4;

/** The environment that reproduces `s` for the topics, prefix and port (for a second app on the same topics). */
const envOf = (s: Settings): Record<string, string> => ({
  TOPIC_EVENTS: s.topics.events,
  TOPIC_COUNTS: s.topics.counts,
  TOPIC_DEAD_LETTER: s.topics.deadLetter,
  TOPIC_CHANGELOG: s.topics.changelog,
  TOPIC_PARTITIONS: String(s.topics.partitions),
  AGGREGATOR_PORT: '0',
  REDIS_KEY_PREFIX: s.redis.keyPrefix,
});

describe('aggregator (in process, against the local stack)', () => {
  let settings: Settings;
  let dataDir: string;
  let codec: EventCodec;
  let redis: Redis;
  let app: AggregatorApp | undefined;
  const kafka = createKafka({ brokers: loadSettings(stackEnv()).kafka.brokers, clientId: 'agg-int-test' });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dt-agg-'));
    const base = uniqueName('agg');
    settings = loadSettings(
      stackEnv({
        ...freshNamesEnv(base),
        TOPIC_PARTITIONS: String(PARTITIONS),
        AGGREGATOR_DATA_DIR: dataDir,
        AGGREGATOR_PORT: '0',
      }),
    );
    await ensureTopics(kafka, topicSpecs(settings.topics));
    codec = new EventCodec(settings.registry.url, settings.topics);
    await codec.init();
    redis = createRedis({ url: settings.redis.url, offlineQueue: true });
  });

  afterAll(async () => {
    await app?.stop();
    await redis.del(`${settings.redis.keyPrefix}owners`);
    await redis.quit();
    await deleteTopics(kafka, topicNames(settings.topics));
    await rm(dataDir, { recursive: true, force: true });
  });

  const statuses = async (): Promise<PartitionStatus[]> => {
    const out: PartitionStatus[] = [];
    for (const p of app!.aggregator.ownedPartitions) {
      const s = await app!.aggregator.partitionStatus(p);
      if (s) out.push(s);
    }
    return out;
  };
  const get = async (path: string) => {
    const res = await fetch(`${app!.url}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
  };

  it('counts random like/unlike/duplicate sequences exactly, publishes them, answers queries, dead-letters poison', async () => {
    const actions = randomActions(6000, 42);
    await produceActions(kafka, codec, settings.topics.events, actions);
    app = await AggregatorApp.start(settings, { logger: createLogger('aggregator', 'warn'), ownersRefreshMs: 500 });
    await waitFor('aggregator caught up', async () => caughtUp(kafka, settings.topics.events, await statuses()), 30000);

    const truth = groundTruth(actions);
    // partial counts from the stores (via the owner's query path), summed over partitions
    const fromStores = new Map<string, number>();
    for (const postId of truth.keys()) {
      let sum = 0;
      for (let p = 0; p < PARTITIONS; p++) sum += (await app.aggregator.queryCount(p, postId))!.count;
      fromStores.set(postId, sum);
    }
    expect(fromStores).toEqual(truth);
    // the latest CountChanged per (post, partition), summed: the same numbers
    expect(nonZero(await countsFromTopic(kafka, codec, settings.topics.counts))).toEqual(nonZero(truth));

    // ownership published in Redis with this process's URL
    const owners = await readOwners(redis, settings.redis.keyPrefix);
    expect([...owners.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const o of owners.values()) {
      expect(o.url).toBe(app.url);
      expect(typeof o.memberId).toBe('string');
      expect(o.generation).toBeGreaterThan(0);
    }

    // interactive query: the last action decides
    const last = new Map(actions.map((a) => [likeKey(a.postId, a.userId), a]));
    const sample = [...last.values()].slice(0, 15);
    for (const a of sample) {
      const p = partitionForKey(likeKey(a.postId, a.userId), PARTITIONS);
      const r = await get(`/internal/partitions/${p}/likes/${a.postId}/${a.userId}`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ postId: a.postId, userId: a.userId, partition: p, liked: a.action === 'LIKE' });
      expect(typeof r.body.asOfOffset).toBe('number');
      const wrong = (p + 1) % PARTITIONS;
      expect((await get(`/internal/partitions/${wrong}/likes/${a.postId}/${a.userId}`)).status).toBe(400);
    }
    // the same questions in one batch (what the api sends for concurrent viewers): the same answers,
    // in the order asked, each with its status; a wrong partition or an unknown one answered per question
    const queries = sample.map((a) => ({ partition: partitionForKey(likeKey(a.postId, a.userId), PARTITIONS), postId: a.postId, userId: a.userId }));
    const post = async (body: unknown) => {
      const res = await fetch(`${app!.url}/internal/likes/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { answers: Record<string, unknown>[] } };
    };
    const batch = await post({ queries: [...queries, { ...queries[0], partition: (queries[0].partition + 1) % PARTITIONS }, { ...queries[0], partition: 99 }] });
    expect(batch.status).toBe(200);
    expect(batch.body.answers.slice(0, sample.length)).toEqual(
      sample.map((a, i): unknown => expect.objectContaining({ status: 200, ...queries[i], liked: a.action === 'LIKE', asOfOffset: expect.any(Number) })),
    );
    expect(batch.body.answers.slice(sample.length).map((x) => x.status)).toEqual([400, 404]);
    for (const bad of [{}, { queries: [] }, { queries: [{ partition: 0, postId: 'bad!id', userId: 'u1' }] }, { queries: Array(1001).fill(queries[0]) }]) {
      expect((await post(bad)).status).toBe(400);
    }
    const unknown = await get('/internal/partitions/99/likes/a/b');
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
    expect((await get('/internal/partitions/0/likes/bad!id/u1')).status).toBe(400);

    // poison: garbage bytes, wrong magic byte, a valid Avro record with an invalid id; then good events
    const [id] = Object.values(codec.schemaIds);
    const badId = await codec.encodeLike({ eventId: uuidv7(), postId: 'bad id!', userId: 'u1', action: 'LIKE', occurredAt: Date.now() });
    const header = Buffer.alloc(5);
    header.writeUInt32BE(id, 1);
    await produceRaw(kafka, settings.topics.events, [
      { key: 'post-1/u1', value: Buffer.from('garbage that is not avro at all') },
      { key: 'post-2/u1', value: Buffer.concat([Buffer.from([7]), header.subarray(1), Buffer.from('xxxx')]) },
      { key: 'bad id!/u1', value: badId },
    ]);
    const more = randomActions(1500, 7, 20, 50);
    await produceActions(kafka, codec, settings.topics.events, more);
    await waitFor('poison passed', async () => caughtUp(kafka, settings.topics.events, await statuses()), 30000);

    const dead = await readTopicToEnd(kafka, settings.topics.deadLetter);
    expect(dead).toHaveLength(3);
    const reasons = dead.map((d) => d.headers.reason).sort();
    expect(reasons).toEqual(['invalid', 'undecodable', 'undecodable']);
    for (const d of dead) {
      expect(d.headers['source-topic']).toBe(settings.topics.events);
      expect(Number(d.headers['source-partition'])).toBe(partitionForKey(d.key!, PARTITIONS));
      expect(Number.isInteger(Number(d.headers['source-offset']))).toBe(true);
      expect(d.headers.detail.length).toBeGreaterThan(0);
    }
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/doubletap_aggregator_dead_letters_total\{reason="undecodable",app="aggregator"\} 2/);
    expect(metrics).toContain('doubletap_aggregator_batch_size_bucket');

    const truth2 = groundTruth([...actions, ...more]);
    expect(nonZero(await countsFromTopic(kafka, codec, settings.topics.counts))).toEqual(nonZero(truth2));
    expect((await get('/ready')).status).toBe(200);

    // graceful stop: ownership withdrawn, stores closed with nothing left to publish and exact counts
    await app.stop();
    app = undefined;
    expect((await readOwners(redis, settings.redis.keyPrefix)).size).toBe(0);
    const sums = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      const store = await PartitionStore.open(dataDir, p);
      expect(await store.dirtyCount()).toBe(0);
      for (const [post, c] of await store.allCounts()) sums.set(post, (sums.get(post) ?? 0) + c);
      await store.close();
    }
    expect(nonZero(sums)).toEqual(nonZero(truth2));
  });

  it('a store that cannot be opened is fatal and names the partition and path; /health turns 503', async () => {
    const badDir = await mkdtemp(join(tmpdir(), 'dt-agg-bad-'));
    await writeFile(join(badDir, 'p-0'), 'a file where the store directory should be');
    const fatal: Error[] = [];
    app = await AggregatorApp.start(
      loadSettings({ ...stackEnv(), ...envOf(settings), AGGREGATOR_DATA_DIR: badDir, AGGREGATOR_GROUP: uniqueName('agg-bad') }),
      { logger: createLogger('aggregator', 'silent'), onFatal: (e) => fatal.push(e) },
    );
    try {
      await waitFor('fatal error', () => fatal.length > 0);
      expect(fatal[0].message).toContain(`partition 0 at ${join(badDir, 'p-0')}`);
      expect((await get('/health')).status).toBe(503);
      expect((await get('/ready')).status).toBe(503);
    } finally {
      await app.stop();
      app = undefined;
      await rm(badDir, { recursive: true, force: true });
    }
  });
});
