import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaChangelog } from '@doubletap/aggregation';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import {
  createKafka,
  deleteTopics,
  ensureTopics,
  topicNames,
  topicOffsets,
  topicSpecs,
} from '@doubletap/kafka';
import { createRedis, type Redis } from '@doubletap/redis';
import { PartitionStore } from '@doubletap/store';
import { type AppProcess, freshNamesEnv, partitionGauge, spawnApp, stackEnv, uniqueName, waitFor } from '@doubletap/testing';
import {
  caughtUp,
  countsFromTopic,
  groundTruth,
  nonZero,
  produceActions,
  randomActions,
  type Action,
  type PartitionStatus,
} from './fixtures';

const PARTITIONS = 4;
const urlOf = async (p: AppProcess): Promise<string> => String((await p.started).url);

async function statusesOf(url: string): Promise<PartitionStatus[]> {
  try {
    return ((await (await fetch(`${url}/internal/partitions`)).json()) as { partitions: PartitionStatus[] })
      .partitions;
  } catch {
    return [];
  }
}

/**
 * Two aggregator processes, A and B. A is killed (-9); B takes A's partitions. With standbys B
 * promotes its standby stores, reading only the changelog tail beyond them; without, it restores
 * them whole. Either way the counts are exact against the ground truth and B's stores equal a full
 * restore of the changelog. Prints kill → serving again for both modes (with a 3 s group session,
 * KAFKA_SESSION_TIMEOUT_MS: the session dominates it).
 */
describe('standby stores (built processes, against the local stack)', () => {
  const kafka = createKafka({
    brokers: loadSettings(stackEnv()).kafka.brokers,
    clientId: 'standby-e2e-test',
  });
  const running: AppProcess[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  let redis: Redis;
  const figures: Record<string, unknown> = {};

  beforeAll(() => {
    redis = createRedis({ url: loadSettings(stackEnv()).redis.url, offlineQueue: true });
  });
  afterEach(async () => {
    for (const p of running.splice(0))
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    for (const c of cleanup.splice(0)) await c();
  });
  afterAll(async () => {
    await redis.quit();
    console.log(`standby figures ${JSON.stringify(figures)}`);
  });

  async function fixture(): Promise<{
    settings: Settings;
    env: Record<string, string>;
    codec: EventCodec;
    newDir: () => Promise<string>;
  }> {
    const env = stackEnv({
      ...freshNamesEnv(uniqueName('sbe2e')),
      TOPIC_PARTITIONS: String(PARTITIONS),
      AGGREGATOR_PORT: '0',
      KAFKA_SESSION_TIMEOUT_MS: '3000',
    });
    const settings = loadSettings(env);
    await ensureTopics(kafka, topicSpecs(settings.topics));
    const codec = new EventCodec(settings.registry.url, settings.topics);
    await codec.init();
    const dirs: string[] = [];
    cleanup.push(async () => {
      await deleteTopics(kafka, topicNames(settings.topics));
      await redis.del(`${settings.redis.keyPrefix}owners`);
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });
    const newDir = async () => {
      const d = await mkdtemp(join(tmpdir(), 'dt-sb-e2e-'));
      dirs.push(d);
      return d;
    };
    return { settings, env, codec, newDir };
  }
  const launch = (env: Record<string, string>): AppProcess => {
    const p = spawnApp('aggregator', env, { logLevel: 'info' });
    running.push(p);
    return p;
  };

  /** A full restore of one changelog partition into a fresh store: members and partial counts. */
  async function fullRestore(
    settings: Settings,
    dir: string,
    p: number,
  ): Promise<{ members: string[]; counts: Map<string, number> }> {
    const changelog = new KafkaChangelog(kafka, settings.topics.changelog);
    const cl = (await changelog.inspect([p])).get(p)!;
    const store = await PartitionStore.open(dir, p);
    await changelog.read(p, cl.low, cl.high, (entries) =>
      store.restoreEntries(entries.filter((e) => !e.key.startsWith('meta/'))),
    );
    const out = { members: await store.allMembers(), counts: await store.allCounts() };
    await store.close();
    return out;
  }

  it.each(['all', 'none'])(
    'AGGREGATOR_STANDBYS=%s: A is killed -9, B serves its partitions; counts exact, stores equal a full restore',
    async (mode) => {
      const { settings, env, codec, newDir } = await fixture();
      const all: Action[] = randomActions(20000, 21, 200, 200);
      await produceActions(kafka, codec, settings.topics.events, all, 2000);

      const aDir = await newDir();
      const bDir = await newDir();
      const a = launch({ ...env, AGGREGATOR_DATA_DIR: aDir, AGGREGATOR_STANDBYS: mode });
      const aUrl = await urlOf(a);
      await waitFor(
        'A owns every partition and caught up',
        async () => {
          const s = await statusesOf(aUrl);
          return s.length === PARTITIONS && caughtUp(kafka, settings.topics.events, s);
        },
        60000,
      );
      const b = launch({ ...env, AGGREGATOR_DATA_DIR: bDir, AGGREGATOR_STANDBYS: mode });
      const bUrl = await urlOf(b);
      await waitFor(
        'both own partitions and caught up',
        async () => {
          const [sa, sb] = [await statusesOf(aUrl), await statusesOf(bUrl)];
          return (
            sa.length > 0 &&
            sb.length > 0 &&
            sa.length + sb.length === PARTITIONS &&
            caughtUp(kafka, settings.topics.events, [...sa, ...sb])
          );
        },
        60000,
      );

      // live traffic: A's batches go to its changelog, B's standbys follow them
      const more = randomActions(3000, 22, 200, 200);
      all.push(...more);
      await produceActions(kafka, codec, settings.topics.events, more, 200);
      await waitFor(
        'caught up again',
        async () =>
          caughtUp(kafka, settings.topics.events, [...(await statusesOf(aUrl)), ...(await statusesOf(bUrl))]),
        30000,
      );
      const aOwned = (await statusesOf(aUrl)).map((s) => s.partition);
      if (mode === 'all')
        await waitFor(
          'B standbys of A partitions caught up',
          async () => {
            const lag = await partitionGauge(bUrl, 'doubletap_aggregator_standby_lag_records');
            return aOwned.every((p) => lag.get(p) === 0);
          },
          30000,
        ).catch(async (e: unknown) => {
          console.log(
            b.logs.filter((l) => /standby|warn|error/i.test(l)).join('\n'),
            (await (await fetch(`${bUrl}/metrics`)).text())
              .split('\n')
              .filter((l) => l.includes('standby'))
              .join('\n'),
          );
          throw e;
        });

      const killedAt = Date.now();
      a.child.kill('SIGKILL');
      expect((await a.exited).signal).toBe('SIGKILL');
      let assignedAt = 0;
      await waitFor(
        'B serves every partition',
        async () => {
          const sb = await statusesOf(bUrl);
          if (!assignedAt && sb.length === PARTITIONS) assignedAt = Date.now();
          return sb.length === PARTITIONS && sb.every((s) => s.phase === 'live');
        },
        60000,
        50,
      );
      const servingAt = Date.now();

      const changelogRecords = (await topicOffsets(kafka, settings.topics.changelog))
        .filter((o) => aOwned.includes(o.partition))
        .reduce((n, o) => n + o.high - o.low, 0);
      const promoted = b
        .linesWith('standby promoted: read the changelog tail only')
        .filter((l) => aOwned.includes(l.partition as number));
      const restored = b
        .linesWith('store restored from the changelog')
        .filter((l) => aOwned.includes(l.partition as number));
      const readAtPromotion = promoted.reduce((n, l) => n + (l.records as number), 0);
      figures[mode] = {
        killToAssignedMs: assignedAt - killedAt,
        killToServingMs: servingAt - killedAt,
        movedPartitions: aOwned.length,
        changelogRecordsOfMoved: changelogRecords,
        recordsReadAtPromotion: mode === 'all' ? readAtPromotion : undefined,
        promotionSeconds: promoted.map((l) => l.seconds),
        restoredRecords: restored.reduce((n, l) => n + (l.records as number), 0),
        restoreSeconds: restored.map((l) => l.seconds),
      };
      if (mode === 'all') {
        expect(promoted.map((l) => l.partition).sort()).toEqual([...aOwned].sort());
        expect(restored).toHaveLength(0);
        expect(readAtPromotion).toBeLessThan(changelogRecords / 20);
      } else {
        expect(promoted).toHaveLength(0);
        expect(restored.length).toBe(aOwned.length);
      }

      // B goes on alone: counts exact against the ground truth
      const late = randomActions(1000, 23, 200, 200);
      all.push(...late);
      await produceActions(kafka, codec, settings.topics.events, late);
      await waitFor(
        'B caught up',
        async () => caughtUp(kafka, settings.topics.events, await statusesOf(bUrl)),
        30000,
      );
      const truth = groundTruth(all);
      expect(nonZero(await countsFromTopic(kafka, codec, settings.topics.counts))).toEqual(nonZero(truth));

      // B's stores of the moved partitions equal a full restore of their changelog
      b.child.kill('SIGTERM');
      expect(await b.exited).toEqual({ code: 0, signal: null });
      const refDir = await newDir();
      for (const p of aOwned) {
        const store = await PartitionStore.open(bDir, p);
        const got = { members: await store.allMembers(), counts: await store.allCounts() };
        expect(store.standby()).toBeUndefined();
        await store.close();
        expect(got).toEqual(await fullRestore(settings, refDir, p));
      }
    },
    240000,
  );
});
