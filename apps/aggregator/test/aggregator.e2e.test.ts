import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { createKafka, deleteTopics, ensureTopics, topicNames, topicSpecs } from '@doubletap/kafka';
import { createRedis, readOwners, type Redis } from '@doubletap/redis';
import { PartitionStore } from '@doubletap/store';
import { type AppProcess, freshNamesEnv, spawnApp, stackEnv, uniqueName, waitFor } from '@doubletap/testing';
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
/** The aggregator as a built process (log level info: the tests read its lifecycle lines). */
const startAggregator = (env: Record<string, string>): AppProcess => spawnApp('aggregator', env, { logLevel: 'info' });
const urlOf = async (p: AppProcess): Promise<string> => String((await p.started).url);

async function statusesOf(url: string): Promise<PartitionStatus[]> {
  try {
    const res = await fetch(`${url}/internal/partitions`);
    return ((await res.json()) as { partitions: PartitionStatus[] }).partitions;
  } catch {
    return [];
  }
}

describe('aggregator processes (built, against the local stack)', () => {
  const kafka = createKafka({ brokers: loadSettings(stackEnv()).kafka.brokers, clientId: 'agg-e2e-test' });
  const running: AppProcess[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  let redis: Redis;

  beforeAll(() => {
    redis = createRedis({ url: loadSettings(stackEnv()).redis.url, offlineQueue: true });
  });

  afterEach(async () => {
    for (const p of running.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    for (const c of cleanup.splice(0)) await c();
  });
  afterAll(async () => {
    await redis.quit();
  });

  async function fixture(): Promise<{ settings: Settings; env: Record<string, string>; codec: EventCodec; newDir: () => Promise<string> }> {
    const base = uniqueName('agge2e');
    const env = stackEnv({
      ...freshNamesEnv(base),
      TOPIC_PARTITIONS: String(PARTITIONS),
      AGGREGATOR_PORT: '0',
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
      const d = await mkdtemp(join(tmpdir(), 'dt-agg-e2e-'));
      dirs.push(d);
      return d;
    };
    return { settings, env, codec, newDir };
  }

  const launch = (env: Record<string, string>, extra: Record<string, string>): AppProcess => {
    const p = startAggregator({ ...env, ...extra });
    running.push(p);
    return p;
  };

  async function storeSums(dataDir: string): Promise<{ sums: Map<string, number>; dirty: number }> {
    const sums = new Map<string, number>();
    let dirty = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const store = await PartitionStore.open(dataDir, p);
      dirty += await store.dirtyCount();
      for (const [post, c] of await store.allCounts()) sums.set(post, (sums.get(post) ?? 0) + c);
      await store.close();
    }
    return { sums, dirty };
  }

  it('kill -9 mid-stream (while catching up, between output and store write, and from outside), restart: counts exact', async () => {
    const { settings, env, codec, newDir } = await fixture();
    const dataDir = await newDir();
    const all: Action[] = randomActions(3000, 1);
    await produceActions(kafka, codec, settings.topics.events, all);

    // 1) catching up a fresh store (the events were there before it started), it dies by itself right
    // after its 3rd atomic store write: the posts it touched are marked dirty, their counts unpublished
    const first = launch(env, { AGGREGATOR_DATA_DIR: dataDir, DOUBLETAP_FAULT_KILL_AFTER_COMMITS: '3' });
    expect((await first.exited).signal).toBe('SIGKILL');
    const afterCrash = await storeSums(dataDir);
    expect(afterCrash.dirty).toBeGreaterThan(0);

    // 1b) it dies between a committed output transaction and the store write that follows it (here:
    // publishing the counts left dirty, before clearing the marks): the restart repeats the output
    const firstB = launch(env, { AGGREGATOR_DATA_DIR: dataDir, DOUBLETAP_FAULT_KILL_AFTER_OUTPUTS: '2' });
    expect((await firstB.exited).signal).toBe('SIGKILL');

    // 2) restart while more events stream in, then kill -9 it from outside mid-stream
    const second = launch(env, { AGGREGATOR_DATA_DIR: dataDir });
    const secondUrl = await urlOf(second);
    const more = randomActions(6000, 2);
    all.push(...more);
    const producing = produceActions(kafka, codec, settings.topics.events, more, 200);
    await waitFor('second applies new events', async () => {
      const s = await statusesOf(secondUrl);
      return s.some((x) => (x.storedOffset ?? -1) > 1200);
    });
    second.child.kill('SIGKILL');
    expect((await second.exited).signal).toBe('SIGKILL');
    await producing;

    // 3) restart: resumes after the stored offsets, publishes what was left dirty, counts exact
    const third = launch(env, { AGGREGATOR_DATA_DIR: dataDir });
    const thirdUrl = await urlOf(third);
    await waitFor('third caught up', async () => caughtUp(kafka, settings.topics.events, await statusesOf(thirdUrl)), 30000);
    const truth = groundTruth(all);
    expect(nonZero(await countsFromTopic(kafka, codec, settings.topics.counts))).toEqual(nonZero(truth));
    third.child.kill('SIGTERM');
    expect(await third.exited).toEqual({ code: 0, signal: null });
    const final = await storeSums(dataDir);
    expect(final.dirty).toBe(0);
    expect(nonZero(final.sums)).toEqual(nonZero(truth));
  }, 60000);

  it('two processes share the partitions; one stops, the other restores its partitions from the changelog', async () => {
    const { settings, env, codec, newDir } = await fixture();
    const all: Action[] = randomActions(4000, 3);
    await produceActions(kafka, codec, settings.topics.events, all);
    // A first, alone, until it owns every partition: B then only ever holds what the rebalance
    // gives it, so A's partitions are absent from B's data dir when A stops (started together,
    // B could own a partition briefly, keep its store and catch up from it instead of restoring)
    const a = launch(env, { AGGREGATOR_DATA_DIR: await newDir() });
    const aUrl = await urlOf(a);
    await waitFor('A owns every partition', async () => (await statusesOf(aUrl)).length === PARTITIONS, 30000);
    const b = launch(env, { AGGREGATOR_DATA_DIR: await newDir() });
    const bUrl = await urlOf(b);
    const both = async () => [...(await statusesOf(aUrl)), ...(await statusesOf(bUrl))];
    await waitFor(
      'both own partitions and caught up',
      async () => {
        const [sa, sb] = [await statusesOf(aUrl), await statusesOf(bUrl)];
        return sa.length > 0 && sb.length > 0 && sa.length + sb.length === PARTITIONS && caughtUp(kafka, settings.topics.events, [...sa, ...sb]);
      },
      30000,
    );
    const owners = await readOwners(redis, settings.redis.keyPrefix);
    expect(owners.size).toBe(PARTITIONS);
    expect(new Set([...owners.values()].map((o) => o.url))).toEqual(new Set([aUrl, bUrl]));

    const more = randomActions(2000, 4);
    all.push(...more);
    await produceActions(kafka, codec, settings.topics.events, more);
    await waitFor('caught up again', async () => caughtUp(kafka, settings.topics.events, await both()), 30000);

    // stop A gracefully: B takes all partitions, restoring A's from the changelog (B's data dir lacks them)
    const aOwned = (await statusesOf(aUrl)).map((s) => s.partition);
    a.child.kill('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
    const late = randomActions(1000, 5);
    all.push(...late);
    await produceActions(kafka, codec, settings.topics.events, late);
    await waitFor(
      'B owns everything and caught up',
      async () => {
        const sb = await statusesOf(bUrl);
        return sb.length === PARTITIONS && caughtUp(kafka, settings.topics.events, sb);
      },
      40000,
    );
    expect(
      b.logs.some((l) => l.includes('"msg":"store restored from the changelog"') && aOwned.some((p) => l.includes(`"partition":${p},`))),
    ).toBe(true);

    const truth = groundTruth(all);
    expect(nonZero(await countsFromTopic(kafka, codec, settings.topics.counts))).toEqual(nonZero(truth));
    // B's partial counts over all partitions, through its query endpoint
    const fromB = new Map<string, number>();
    for (const postId of truth.keys()) {
      for (let p = 0; p < PARTITIONS; p++) {
        const r = (await (await fetch(`${bUrl}/internal/partitions/${p}/counts/${postId}`)).json()) as { count: number };
        fromB.set(postId, (fromB.get(postId) ?? 0) + r.count);
      }
    }
    expect(fromB).toEqual(truth);
    const ownersAfter = await readOwners(redis, settings.redis.keyPrefix);
    expect(ownersAfter.size).toBe(PARTITIONS);
    for (const o of ownersAfter.values()) expect(o.url).toBe(bUrl);
    b.child.kill('SIGTERM');
    expect(await b.exited).toEqual({ code: 0, signal: null });
    expect((await readOwners(redis, settings.redis.keyPrefix)).size).toBe(0);
  }, 70000);
});
