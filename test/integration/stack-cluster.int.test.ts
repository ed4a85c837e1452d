import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  describeTopics,
  ensureTopics,
  type Kafka,
  partitionLeaders,
  readTopicToEnd,
  topicSpecs,
  type TopicNames,
} from '@doubletap/kafka';
import { StackControl, type StackPart, uniqueName, waitFor } from '@doubletap/testing';

// The cluster profile (`stack.sh up --brokers 3`): three KRaft brokers, RF 3, min ISR 2, and the
// fault controls that kill, pause and restart one of them by pid. Brought up here when it is not
// running (idempotent; the first time formats it) and left running for the next tests; every part
// this file stops is started or resumed again in afterAll.
jest.setTimeout(5 * 60_000);

const control = new StackControl({ brokers: 3 });
const touched = new Set<StackPart>();
let kafka: Kafka;
let names: TopicNames;
const acked: string[] = [];

/** Polls cluster metadata (a fresh admin each time: a dead or paused broker may be any seed). */
const slowly = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 180_000) =>
  waitFor(what, probe, timeoutMs, 500);

/**
 * Sends `values` to `partition` with acks=all until the cluster acknowledges them. Every attempt uses
 * a new producer: after a send with an unknown outcome the old one is never reused (a retry may
 * then write a value twice, which the checks allow, but never lose one).
 */
async function produceAcked(client: Kafka, partition: number, values: string[]): Promise<void> {
  await waitFor(
    `acks=all for ${values.length} records on ${names.events}/${partition}`,
    async () => {
      const producer = createIdempotentProducer(client);
      try {
        await producer.connect();
        await producer.send({
          topic: names.events,
          acks: -1,
          messages: values.map((v) => ({ key: v, value: v, partition })),
        });
        return true;
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
    },
    180_000,
    1000,
  );
  acked.push(...values);
}

/**
 * A client that does not seed on `nodeId`. kafkajs 2.2.4 starts every client on the first seed
 * broker and moves on only after a connection error: a paused broker accepts the TCP connection
 * (kernel backlog) and never answers, so a client seeded on it first never connects at all.
 */
async function clientAvoiding(nodeId: number): Promise<Kafka> {
  const status = await control.status();
  const others = Object.values(status).filter((s) => s.nodeId !== undefined && s.nodeId !== nodeId);
  return createKafka({ brokers: others.map((s) => s.address), clientId: 'stack-cluster-test' });
}

const fullIsr = () =>
  slowly('every partition with all three brokers in its ISR', async () => {
    const parts = await partitionLeaders(kafka, names.events);
    return (
      parts.length === names.partitions &&
      parts.every((p) => p.isr.join() === '1,2,3' && p.leader > 0) &&
      parts
    );
  });

beforeAll(async () => {
  await control.up();
  const env = await control.env();
  kafka = createKafka({ brokers: env.KAFKA_BROKERS.split(','), clientId: 'stack-cluster-test' });
  const base = uniqueName('cluster');
  names = { events: `${base}.events`, counts: `${base}.counts`, deadLetter: `${base}.dlq`, partitions: 3 };
  await ensureTopics(kafka, topicSpecs(names, Number(env.TOPIC_REPLICATION_FACTOR)));
}, 12 * 60_000);

afterAll(async () => {
  // leave the cluster as the next tests expect it: every part running
  for (const part of touched) {
    await control.resume(part).catch(() => undefined); // fails when it is not running: then start it
    await control.start(part);
  }
  if (kafka) await deleteTopics(kafka, [names.events, names.counts, names.deadLetter]);
}, 6 * 60_000);

describe('cluster profile (3 brokers)', () => {
  it('runs three brokers, its own registry and its own Redis, and its env points at them', async () => {
    const status = await control.status();
    expect(Object.keys(status).sort()).toEqual(['broker-1', 'broker-2', 'broker-3', 'redis', 'registry']);
    for (const [part, s] of Object.entries(status)) {
      expect([part, s.health]).toEqual([part, 'healthy']);
      expect(typeof s.pid).toBe('number');
    }
    expect([1, 2, 3].map((n) => status[`broker-${n}`].nodeId)).toEqual([1, 2, 3]);
    const env = await control.env();
    expect(env.KAFKA_BROKERS.split(',')).toHaveLength(3);
    expect(env.TOPIC_REPLICATION_FACTOR).toBe('3');
    expect(env.REDIS_URL).toBe(`redis://${status.redis.address}`);
    expect(env.REDIS_URL).not.toContain(':6379'); // never the machine's (shared) Redis
  });

  it('creates topics with RF 3, min.insync.replicas=2 and unclean leader election off', async () => {
    const { found, missing } = await describeTopics(kafka, [names.events, names.counts, names.deadLetter]);
    expect(missing).toEqual([]);
    for (const t of found) {
      for (const p of t.partitions) expect(p.replicas.slice().sort()).toEqual([1, 2, 3]);
      expect(t.configs['min.insync.replicas']).toEqual({ value: '2', default: false });
      expect(t.configs['unclean.leader.election.enable']).toEqual({ value: 'false', default: false });
    }
  });

  it('kill -9 of the partition leader: acks=all goes on through a new leader, and the restarted broker rejoins the ISR', async () => {
    await fullIsr();
    await produceAcked(kafka, 0, ['k-1', 'k-2', 'k-3']);
    const { nodeId, part } = await control.leaderOf(kafka, names.events, 0);

    touched.add(part);
    await control.kill(part);
    expect((await control.status())[part].health).toBe('down');

    const moved = await slowly(`a new leader for ${names.events}/0 (node ${nodeId} killed)`, async () => {
      const p0 = (await partitionLeaders(kafka, names.events))[0];
      return p0.leader > 0 && p0.leader !== nodeId && !p0.isr.includes(nodeId) && p0;
    });
    expect(moved.isr).toHaveLength(2); // min.insync.replicas=2 still met: acks=all writes are accepted
    await produceAcked(kafka, 0, ['k-4', 'k-5', 'k-6']);

    await control.start(part);
    expect((await control.status())[part].health).toBe('healthy');
    await fullIsr();

    const values = new Set(
      (await readTopicToEnd(kafka, names.events, 120_000)).map((r) => r.value?.toString()),
    );
    for (const v of acked) expect([v, values.has(v)]).toEqual([v, true]);
  });

  it('SIGSTOP of the partition leader: it shows paused, leadership moves on without it, and after SIGCONT it rejoins the ISR', async () => {
    await fullIsr();
    const { nodeId, part } = await control.leaderOf(kafka, names.events, 0);

    const others = await clientAvoiding(nodeId);

    touched.add(part);
    await control.pause(part);
    expect((await control.status())[part].health).toBe('paused');

    // its heartbeats stop: the controller fences it, moves leadership and shrinks the ISRs
    await slowly(`a new leader for ${names.events}/0 (node ${nodeId} paused)`, async () => {
      const p0 = (await partitionLeaders(others, names.events))[0];
      return p0.leader > 0 && p0.leader !== nodeId && !p0.isr.includes(nodeId);
    });
    await produceAcked(others, 0, ['p-1', 'p-2', 'p-3']);

    await control.resume(part);
    expect((await control.status())[part].health).toBe('healthy');
    await fullIsr();

    const values = new Set(
      (await readTopicToEnd(kafka, names.events, 120_000)).map((r) => r.value?.toString()),
    );
    for (const v of acked) expect([v, values.has(v)]).toEqual([v, true]);
  });
});
