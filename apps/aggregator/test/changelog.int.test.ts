import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { createKafka, deleteTopics, ensureTopics, topicNames, topicOffsets, topicSpecs } from '@doubletap/kafka';
import { homePartition, LastActionOracle } from '@doubletap/likes';
import { createLogger } from '@doubletap/observability';
import { createRedis, deleteKeysWithPrefix } from '@doubletap/redis';
import { PartitionStore } from '@doubletap/store';
import { freshNamesEnv, stackEnv, uniqueName, waitFor } from '@doubletap/testing';
import { AggregatorApp } from '../src/aggregator.app';
import { caughtUp, produceActions, randomActions, type PartitionStatus } from './fixtures';

const PARTITIONS = 3;

/**
 * A partition that moves restores from the changelog, not from the input log, and the restored
 * store is exactly what a full replay gives: the members and partial counts of the one oracle
 * (libs/likes), partition by partition.
 */
describe('store changelog (real Kafka)', () => {
  let settings: Settings;
  const dirs: string[] = [];
  const kafka = createKafka({ brokers: loadSettings(stackEnv()).kafka.brokers, clientId: 'changelog-int-test' });

  beforeAll(async () => {
    settings = loadSettings(stackEnv({ ...freshNamesEnv(uniqueName('cl')), TOPIC_PARTITIONS: String(PARTITIONS), AGGREGATOR_PORT: '0' }));
    await ensureTopics(kafka, topicSpecs(settings.topics));
  });
  afterAll(async () => {
    await deleteTopics(kafka, topicNames(settings.topics));
    const redis = createRedis({ url: settings.redis.url, offlineQueue: true });
    await deleteKeysWithPrefix(redis, settings.redis.keyPrefix).catch(() => undefined);
    await redis.quit();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const start = async (logs: string[]) => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-cl-int-'));
    dirs.push(dir);
    const logger = createLogger('aggregator', 'info', { write: (line: string) => logs.push(line) });
    const app = await AggregatorApp.start({ ...settings, aggregator: { ...settings.aggregator, dataDir: dir } }, { logger });
    return { app, dir };
  };
  const statuses = async (app: AggregatorApp): Promise<PartitionStatus[]> =>
    (await Promise.all(app.aggregator.ownedPartitions.map((p) => app.aggregator.partitionStatus(p)))).filter((s): s is PartitionStatus => s !== undefined);

  it('B restores A partitions from the changelog (many updates per pair) and equals a full replay', async () => {
    const codec = new EventCodec(settings.registry.url, settings.topics);
    await codec.init();
    // 8,000 actions over 6 posts × 60 users: about 22 updates per (post, user)
    const actions = randomActions(8000, 11, 6, 60);
    await produceActions(kafka, codec, settings.topics.events, actions);

    const aLogs: string[] = [];
    const a = await start(aLogs);
    await waitFor('A caught up', async () => caughtUp(kafka, settings.topics.events, await statuses(a.app)), 60000);
    await a.app.stop();
    expect(aLogs.some((l) => l.includes('changelog rewritten from the store'))).toBe(true);

    const bLogs: string[] = [];
    const b = await start(bLogs);
    await waitFor('B caught up', async () => caughtUp(kafka, settings.topics.events, await statuses(b.app)), 60000);
    const restores = bLogs.filter((l) => l.includes('store restored from the changelog'));
    expect(restores).toHaveLength(PARTITIONS);
    // the changelog is compacted state, not history: B read fewer records than the input holds
    const restoredRecords = restores.reduce((n, l) => n + (JSON.parse(l) as { records: number }).records, 0);
    const inputRecords = (await topicOffsets(kafka, settings.topics.events)).reduce((n, o) => n + o.high - o.low, 0);
    expect(inputRecords).toBe(actions.length);
    expect(bLogs.some((l) => l.includes('"msg":"catching up from the log"'))).toBe(false);
    await b.app.stop();

    // the reference: the oracle's members and partial counts, per partition
    const oracle = new LastActionOracle().addAll(actions);
    for (let p = 0; p < PARTITIONS; p++) {
      const store = await PartitionStore.open(b.dir, p);
      const members = new Set(await store.allMembers());
      const expectedMembers = new Set<string>();
      const expectedCounts = new Map<string, number>();
      for (const a of actions) {
        const key = `${a.postId}/${a.userId}`;
        if (homePartition(a.postId, a.userId, PARTITIONS) !== p) continue;
        if (!expectedCounts.has(a.postId)) expectedCounts.set(a.postId, 0);
        if (oracle.likes(a.postId, a.userId) && !expectedMembers.has(key)) {
          expectedMembers.add(key);
          expectedCounts.set(a.postId, expectedCounts.get(a.postId)! + 1);
        }
      }
      expect(members).toEqual(expectedMembers);
      expect(await store.allCounts()).toEqual(expectedCounts);
      await store.close();
    }
    // A replayed from an empty changelog and then wrote its store (current state, not history) to it
    expect(restoredRecords).toBeGreaterThan(0);
    expect(restoredRecords).toBeLessThan(inputRecords / 5);
  });
});
