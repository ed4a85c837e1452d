import { addPartitions, deleteRecordsBefore, deleteTopics, ensureTopics, partitionCount, partitionLeaders, topicOffsets, topicSpecs } from '@doubletap/kafka';
import { createRedis } from '@doubletap/redis';
import { type StackPart, waitFor } from '@doubletap/testing';
import { countRecords } from './checks';
import { poisonRecords, produceRaw, validLikes } from './direct';
import { sleep, type Harness } from './harness';
import type { ScenarioName } from './types';

export interface ScenarioSpec {
  /** aggregator processes in the pipeline */
  aggregators: number;
  run(h: Harness): Promise<void>;
}

const cycles = (h: Harness, quick: number, full: number) => (h.ctx.quick ? quick : full);

/**
 * Traffic on; `n` times: wait `beforeMs`, inject the fault (which answers how to undo it), let it
 * last `lastsMs`, undo it, and wait until every app is ready again; then a little more traffic.
 */
async function underLoad(h: Harness, n: number, o: { beforeMs: number; lastsMs: number; inject(): Promise<() => Promise<void>> }): Promise<void> {
  h.startTraffic();
  for (let i = 0; i < n; i++) {
    await sleep(o.beforeMs);
    const undo = await o.inject();
    await sleep(o.lastsMs);
    h.faultEnds();
    await undo();
    h.cycles++;
    await h.healed();
  }
  await sleep(2500);
}

/** kill -9 of one app, restarted at once (a supervisor), `n` times under load. */
function killCycles(app: 'api' | 'aggregator' | 'projector'): ScenarioSpec {
  const id = app === 'aggregator' ? 'aggregator-1' : app;
  return {
    aggregators: 1,
    run: (h) =>
      underLoad(h, cycles(h, 2, 20), {
        beforeMs: 1500,
        lastsMs: 0,
        inject: async () => {
          await h.pipeline.kill(id);
          return () => h.pipeline.restart(id, false);
        },
      }),
  };
}

/** Two aggregators; one is stopped (SIGSTOP) past its session timeout, the other takes its partitions, then the zombie resumes. */
const zombie: ScenarioSpec = {
  aggregators: 2,
  async run(h) {
    const p = h.pipeline;
    h.startTraffic();
    const n = cycles(h, 1, 2);
    const partitions = h.ctx.partitions;
    for (let i = 0; i < n; i++) {
      await sleep(3000);
      p.pause('aggregator-2');
      h.log('aggregator-2 paused (SIGSTOP)');
      await waitFor(
        'aggregator-1 owns every partition',
        async () => {
          const owned = await p.partitionStatuses(['aggregator-1']);
          return owned.length === partitions && owned.every((s) => s.phase === 'live');
        },
        90_000,
        500,
      );
      await sleep(2000); // aggregator-1 writes what was the zombie's
      h.faultEnds();
      p.resume('aggregator-2');
      h.log('aggregator-2 resumed (SIGCONT): a zombie until it learns it lost its partitions');
      h.cycles++;
      await h.healed();
      await sleep(3000);
    }
    const fenced = p.lines('aggregator-2').filter((l) => /fenced|not ours|lost/i.test(String(l.msg))).length;
    h.notes.push(`aggregator-2 logged ${fenced} fencing/lost-partition lines after it resumed`);
  },
};

/** The broker leading likes.events partition 0 now. */
async function leader(h: Harness): Promise<StackPart> {
  const { part, nodeId } = await h.ctx.stack.leaderOf(h.pipeline.kafka, h.topics.events, 0);
  h.log(`${part} (node ${nodeId}) leads ${h.topics.events}/0`);
  return part;
}

/** The broker coordinating the aggregators' group now: the leader of the group's __consumer_offsets partition. */
async function groupCoordinator(h: Harness): Promise<StackPart> {
  const group = h.pipeline.settings.aggregator.groupId;
  const offsets = await partitionLeaders(h.pipeline.kafka, '__consumer_offsets');
  if (offsets.length === 0) throw new Error('__consumer_offsets has no partitions yet');
  const { part, nodeId } = await h.ctx.stack.leaderOf(h.pipeline.kafka, '__consumer_offsets', coordinatorPartition(group, offsets.length));
  h.log(`${part} (node ${nodeId}) coordinates ${group}`);
  return part;
}

/** Kafka's GroupCoordinator.partitionFor: Utils.abs(groupId.hashCode()) % partitions (Java's String.hashCode). */
export function coordinatorPartition(groupId: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(31, hash) + groupId.charCodeAt(i)) | 0;
  const abs = hash === -2147483648 ? 0 : Math.abs(hash);
  return abs % partitions;
}

/** The broker leading likes.events partition 0: kill -9, then started again on its data. */
const brokerKill: ScenarioSpec = {
  aggregators: 1,
  run: (h) =>
    underLoad(h, cycles(h, 1, 3), {
      beforeMs: 3000,
      lastsMs: 8000,
      inject: async () => {
        const part = await leader(h);
        await h.ctx.stack.kill(part);
        return () => h.ctx.stack.start(part);
      },
    }),
};

/** Kafka's broker.session.timeout.ms (the cluster profile keeps the default): a broker silent this long is fenced by the controller. */
const BROKER_SESSION_MS = 9000;

/**
 * The broker that coordinates the aggregators' group (and leads some likes.events partitions)
 * SIGSTOPped for longer than the api's produce timeout and than its session with the controller,
 * then SIGCONT: the produce path times out, the controller fences the broker and its partitions get
 * new leaders, so the group's coordinator moves to another broker, which every group call (heartbeat,
 * offset fetch, commit) must then find.
 */
const slowBroker: ScenarioSpec = {
  aggregators: 1,
  run: (h) =>
    underLoad(h, cycles(h, 1, 3), {
      beforeMs: 3000,
      lastsMs: Math.max(h.pipeline.settings.api.produceTimeoutMs + 5000, BROKER_SESSION_MS + 6000),
      inject: async () => {
        const part = await groupCoordinator(h);
        await h.ctx.stack.pause(part);
        return () => h.ctx.stack.resume(part);
      },
    }),
};

/** The schema registry stopped for 30 s under load. */
const registryDown: ScenarioSpec = {
  aggregators: 1,
  run: (h) =>
    underLoad(h, cycles(h, 1, 2), {
      beforeMs: 3000,
      lastsMs: 30_000,
      inject: async () => {
        await h.ctx.stack.term('registry');
        return () => h.ctx.stack.start('registry');
      },
    }),
};

/** Redis lost under load: killed -9 and restarted empty, or FLUSHALL. */
function redisLoss(how: 'kill' | 'flush'): ScenarioSpec {
  return {
    aggregators: 1,
    run: (h) =>
      underLoad(h, cycles(h, 1, 3), {
        beforeMs: 4000,
        lastsMs: how === 'kill' ? 1000 : 0,
        inject: async () => {
          if (how === 'kill') {
            await h.ctx.stack.kill('redis');
            return () => h.ctx.stack.start('redis');
          }
          const redis = createRedis({ url: h.pipeline.settings.redis.url, offlineQueue: true });
          await redis.flushall();
          await redis.quit();
          return async () => undefined;
        },
      }),
  };
}

/** The refusal `code` shows on an aggregator: its /ready, its metric and its log line; returns the seconds it took. */
async function expectRefusal(h: Harness, code: string, id = 'aggregator-1'): Promise<void> {
  const from = Date.now();
  const p = h.pipeline;
  try {
    await waitFor(`/ready of ${id} names ${code}`, async () => (await p.status(id, 'ready')) === 503 && (await p.readyText(id)).includes(code), 120_000, 500);
  } catch (e) {
    h.fail(`${(e as Error).message}; /ready says ${(await p.readyText(id)).slice(0, 300)}`);
    return;
  }
  h.refusedAfter((Date.now() - from) / 1000);
  h.refusal = code;
  const metric = (await p.metrics(id)).split('\n').filter((l) => l.startsWith('doubletap_aggregator_partition_stopped') && l.includes(`reason="${code}"`) && l.trim().endsWith(' 1'));
  if (metric.length === 0) h.fail(`no doubletap_aggregator_partition_stopped{reason="${code}"} 1 in /metrics`);
  const logged = p.lines(id).filter((l) => l.msg === 'partition stopped: refusing to apply its log' && l.code === code);
  if (logged.length === 0) h.fail(`no "partition stopped" log line with code ${code}`);
  const health = await p.status(id, 'health');
  h.notes.push(`refused (${code}) on ${metric.length} partitions: /ready 503 naming it, metric, ${logged.length} log lines; /health ${health}`);
}

/** After a refusal the read API still serves exactly the counts from before the fault. */
async function expectCountsUnchanged(h: Harness): Promise<void> {
  await sleep(5000); // time for anything wrongly applied to reach the read side
  const read = await h.readApi(1000);
  if (!read.ok) h.fail(`a count changed after the refusal: ${JSON.stringify(read.mismatches.slice(0, 3))}`);
  else h.notes.push(`no count changed: the read API still equals the truth of before the fault on ${read.posts} posts`);
}

/** likes.events deleted and created again (same name, same partition count), then written to. */
const topicRecreated: ScenarioSpec = {
  aggregators: 1,
  async run(h) {
    const p = h.pipeline;
    await h.settledState();
    const posts = h.traffic!.truth.postIds();
    await deleteTopics(p.kafka, [h.topics.events]);
    await waitFor('likes.events is gone', async () => (await topicOffsets(p.kafka, h.topics.events).catch(() => [])).length === 0, 60_000, 500);
    await waitFor(
      'likes.events is created again',
      async () => (await ensureTopics(p.kafka, topicSpecs(h.topics).filter((s) => s.topic === h.topics.events)), true),
      60_000,
      1000,
    );
    h.cycles++;
    await produceRaw(p.kafka, h.topics.events, await validLikes(h.codec, posts, 200, h.ctx.partitions));
    await expectRefusal(h, 'topic-recreated');
    await expectCountsUnchanged(h);
  },
};

/** Partitions added to likes.events (the pinned count changes), then written to. */
const partitionsAdded: ScenarioSpec = {
  aggregators: 1,
  async run(h) {
    const p = h.pipeline;
    await h.settledState();
    await addPartitions(p.kafka, h.topics.events, h.ctx.partitions + 2);
    h.cycles++;
    // the brokers learn the new count one after another: once all know it (and the aggregator's
    // identity check is due, every 2 s), the first record refuses its partition. A record applied in
    // between is one the api routed by the pinned count (it never uses the new partitions), or a
    // record on a wrong partition, which is dead-lettered: no count goes wrong (ADR 0010).
    let agreeing = 0;
    await waitFor('every broker knows the new partition count', async () => {
      agreeing = (await partitionCount(p.kafka, h.topics.events)) === h.ctx.partitions + 2 ? agreeing + 1 : 0;
      return agreeing >= 3;
    }, 60_000, 300);
    await sleep(2500);
    const posts = h.traffic!.truth.postIds();
    await produceRaw(p.kafka, h.topics.events, await validLikes(h.codec, posts, 200, h.ctx.partitions + 2));
    await expectRefusal(h, 'partition-count-changed');
    await expectCountsUnchanged(h);
  },
};

/** The log start of partition 0 moved past the store's offset (delete-records) while the aggregator was down. */
const logTruncated: ScenarioSpec = {
  aggregators: 1,
  async run(h) {
    const p = h.pipeline;
    await h.settledState();
    await p.term('aggregator-1');
    const posts = h.traffic!.truth.postIds();
    await produceRaw(p.kafka, h.topics.events, await validLikes(h.codec, posts, 100, h.ctx.partitions, 0));
    const end = (await topicOffsets(p.kafka, h.topics.events)).find((o) => o.partition === 0)!.high;
    await deleteRecordsBefore(p.kafka, h.topics.events, 0, end);
    h.cycles++;
    h.log(`deleted ${h.topics.events}/0 records before ${end} while the aggregator was stopped`);
    await p.restart('aggregator-1', false);
    await expectRefusal(h, 'log-truncated');
    await expectCountsUnchanged(h);
  },
};

/** A storm of poison records mixed into real traffic: dead-lettered, the consumer never dies, counts exact. */
const poisonStorm: ScenarioSpec = {
  aggregators: 1,
  async run(h) {
    const p = h.pipeline;
    h.startTraffic();
    await h.codec.init();
    const total = h.ctx.quick ? 6000 : 30000;
    const batch = h.ctx.quick ? 2000 : 10000;
    let unhealthy = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        if ((await p.status('aggregator-1', 'health')) !== 200) unhealthy++;
        await sleep(500);
      }
    })();
    await sleep(2000);
    for (let sent = 0; sent < total; sent += batch) {
      await produceRaw(p.kafka, h.topics.events, await poisonRecords(h.codec, Math.min(batch, total - sent), h.ctx.partitions, h.ctx.seed * 1000 + sent), batch);
      h.cycles++;
      await sleep(1000);
    }
    // committed records only (read back): offsets also count transaction markers and aborted sends
    let dlq = 0;
    await waitFor('every poison record is dead-lettered', async () => (dlq = await countRecords(p.kafka, h.topics.deadLetter)) >= total, 120_000, 2000);
    await h.healed();
    probing = false;
    await probe;
    if (dlq !== total) h.fail(`${dlq} dead letters for ${total} poison records`);
    if (unhealthy > 0) h.fail(`/health of the aggregator was not 200 ${unhealthy} times during the storm`);
    const restarts = p.lines('aggregator-1').filter((l) => /consumer crashed|restarting/i.test(String(l.msg))).length;
    h.notes.push(`${total} poison records in ${h.cycles} bursts: ${dlq} dead letters, /health 200 throughout, ${restarts} consumer restarts`);
  },
};

export const SCENARIO_SPECS: Record<ScenarioName, ScenarioSpec> = {
  'kill-api': killCycles('api'),
  'kill-aggregator': killCycles('aggregator'),
  'kill-projector': killCycles('projector'),
  'zombie-aggregator': zombie,
  'broker-kill': brokerKill,
  'slow-broker': slowBroker,
  'registry-down': registryDown,
  'redis-loss': redisLoss('kill'),
  'redis-flush': redisLoss('flush'),
  'topic-recreated': topicRecreated,
  'partitions-added': partitionsAdded,
  'log-truncated': logTruncated,
  'poison-storm': poisonStorm,
};
