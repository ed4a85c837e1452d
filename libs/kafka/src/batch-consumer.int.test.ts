import { loadSettings } from '@doubletap/config';
import {
  BatchConsumer,
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  ensureTopics,
  type Assignment,
} from '@doubletap/kafka';
import { stackEnv, uniqueName, waitFor } from '@doubletap/testing';

describe('BatchConsumer', () => {
  const settings = loadSettings(stackEnv());
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'test' });
  const topic = uniqueName('t-batch');

  beforeAll(async () => {
    await ensureTopics(kafka, [{ topic, partitions: 3, config: {} }]);
  });
  afterAll(async () => {
    await deleteTopics(kafka, [topic]);
  });

  it('hands every record to the handler in partition order, after the assignment hook', async () => {
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    const sent = Array.from({ length: 300 }, (_, i) => ({
      partition: i % 3,
      key: `k${i}`,
      value: Buffer.from(String(i)),
    }));
    await producer.send({ topic, acks: -1, messages: sent });
    await producer.disconnect();

    const seen = new Map<number, number[]>();
    const assignments: Assignment[] = [];
    let hookDone = false;
    const consumer = new BatchConsumer({
      kafka,
      groupId: uniqueName('g-batch'),
      topic,
      handler: {
        onAssignment: async (a) => {
          await new Promise((r) => setTimeout(r, 200)); // slow store opening
          assignments.push(a);
          hookDone = true;
        },
        handleBatch: async (partition, records) => {
          expect(hookDone).toBe(true);
          const list = seen.get(partition) ?? [];
          list.push(...records.map((r) => r.offset));
          seen.set(partition, list);
        },
      },
    });
    await consumer.start();
    try {
      await waitFor('all records', () => [...seen.values()].reduce((n, l) => n + l.length, 0) === 300);
      expect(assignments[0].partitions).toEqual([0, 1, 2]);
      expect(assignments[0].added).toEqual([0, 1, 2]);
      for (const p of [0, 1, 2]) expect(seen.get(p)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await consumer.stop();
    }
  });
  it('keeps its membership while an assignment hook runs longer than its session (heartbeats while a store restores)', async () => {
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 30 }, (_, i) => ({
        partition: i % 3,
        key: `r${i}`,
        value: Buffer.from('x'),
      })),
    });
    await producer.disconnect();
    const assignments: Assignment[] = [];
    let handled = 0;
    const consumer = new BatchConsumer({
      kafka,
      groupId: uniqueName('g-slow-take'),
      topic,
      fromBeginning: true,
      // 6 s: the broker's default floor; the restore below takes half again as long
      sessionTimeoutMs: 6000,
      handler: {
        onAssignment: async (a) => {
          assignments.push(a);
          if (assignments.length === 1) await new Promise((r) => setTimeout(r, 9000));
        },
        handleBatch: async (_p, records) => void (handled += records.length),
      },
    });
    await consumer.start();
    try {
      await waitFor('the records, after the slow take', () => handled >= 30, 60000);
      // a member dropped meanwhile would learn it at its next heartbeat (every 1.2 s) and join again
      await new Promise((r) => setTimeout(r, 4000));
      // one assignment: the member was never dropped from the group while its batches waited for the take
      expect(assignments.map((a) => a.generation)).toEqual([assignments[0].generation]);
    } finally {
      await consumer.stop();
    }
  }, 60000);

  it('keeps partitions with their owner when a member joins (sticky), and confirms ownership with the coordinator: yes for its partitions, no once a rebalance gave them away', async () => {
    const groupId = uniqueName('g-confirm');
    const member = (assignments: Assignment[]) =>
      new BatchConsumer({
        kafka,
        groupId,
        topic,
        sessionTimeoutMs: 6000,
        handler: { onAssignment: async (a) => void assignments.push(a), handleBatch: async () => undefined },
      });
    const seenA: Assignment[] = [];
    const seenB: Assignment[] = [];
    const a = member(seenA);
    const b = member(seenB);
    await a.start();
    try {
      await waitFor('a owns every partition', () => seenA.at(-1)?.partitions.length === 3);
      for (const p of [0, 1, 2]) expect(await a.confirmOwnership(p)).toBe(true);
      expect(await a.confirmOwnership(7)).toBe(false);

      await b.start();
      await waitFor('b owns a partition', () => (seenB.at(-1)?.partitions.length ?? 0) > 0, 60000);
      const moved = seenB.at(-1)!.partitions;
      // sticky: a keeps the larger share of what it owned, only b's share moved
      await waitFor('a rejoined', () => seenA.length >= 2);
      expect(moved).toHaveLength(1);
      expect(seenA.at(-1)).toMatchObject({ added: [], revoked: moved });
      expect(seenA.at(-1)!.partitions).toHaveLength(2);
      // until a has rejoined, its heartbeat is refused (a rebalance under way); after, the partition is not in its assignment
      for (const p of moved) expect(await a.confirmOwnership(p)).toBe(false);
      for (const p of moved) expect(await b.confirmOwnership(p)).toBe(true);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
