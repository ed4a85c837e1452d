import type { Kafka } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { consumeFromBeginning, type ReadRecord, toReadRecord } from './read';

export interface PartitionOffsets {
  partition: number;
  /** log start offset: the first offset still in the log */
  low: number;
  /** log end offset: the offset the next record will get */
  high: number;
}

/** Log start and end offsets of every partition of a topic (empty when the topic does not exist). */
export async function topicOffsets(kafka: Kafka, topic: string): Promise<PartitionOffsets[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return [];
    const rows = await admin.fetchTopicOffsets(topic);
    return rows
      .map((r) => ({ partition: r.partition, low: Number(r.low), high: Number(r.high) }))
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads every record of a topic that exists now: from the log start up to the end offsets taken
 * at the call (throw-away group, nothing committed). For tools and tests. Fails after timeoutMs.
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, timeoutMs = 30000): Promise<ReadRecord[]> {
  const ends = await topicOffsets(kafka, topic);
  const pending = new Map(ends.filter((e) => e.high > e.low).map((e) => [e.partition, e.high - 1]));
  const records: ReadRecord[] = [];
  if (pending.size === 0) return records;
  const consumer = kafka.consumer({
    groupId: `doubletap-reader-${randomBytes(6).toString('hex')}`,
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 100,
  });
  await consumeFromBeginning(
    consumer,
    topic,
    timeoutMs,
    () => new Error(`reading ${topic} to its end took longer than ${timeoutMs}ms`),
    (done) => {
      // a transactional topic ends with commit markers, never delivered as records: completion is
      // the consumer's position (the batch's last offset, control records included)
      const passed = (partition: number, offset: number) => {
        const last = pending.get(partition);
        if (last !== undefined && offset >= last) pending.delete(partition);
        if (pending.size === 0) done();
      };
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => passed(e.payload.partition, Number(e.payload.lastOffset)));
      return {
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          const last = pending.get(batch.partition);
          if (last === undefined) return;
          for (const m of batch.messages) {
            if (Number(m.offset) > last) break;
            records.push(toReadRecord(topic, batch.partition, m));
          }
          passed(batch.partition, Number(batch.lastOffset()));
        },
      };
    },
  );
  return records;
}

/**
 * Baseline for benchmarks: a plain kafkajs group consumer that reads a topic from the beginning and
 * discards every record, until it reached the end offsets taken at the call. Returns how long it took.
 */
export async function drainTopic(
  kafka: Kafka,
  topic: string,
  options: { maxBytesPerPartition?: number; concurrency?: number; timeoutMs?: number } = {},
): Promise<{ records: number; ms: number }> {
  const ends = await topicOffsets(kafka, topic);
  const pending = new Map(ends.filter((e) => e.high > e.low).map((e) => [e.partition, e.high - 1]));
  let records = 0;
  const started = Date.now();
  if (pending.size === 0) return { records, ms: 0 };
  const consumer = kafka.consumer({
    groupId: `doubletap-drain-${randomBytes(6).toString('hex')}`,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 1048576,
    maxWaitTimeInMs: 100,
  });
  await consumeFromBeginning(
    consumer,
    topic,
    options.timeoutMs ?? 600000,
    () => new Error(`draining ${topic} timed out`),
    (done) => {
      const passed = (partition: number, offset: number) => {
        const last = pending.get(partition);
        if (last !== undefined && offset >= last) pending.delete(partition);
        if (pending.size === 0) done();
      };
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => passed(e.payload.partition, Number(e.payload.lastOffset)));
      return {
        partitionsConsumedConcurrently: options.concurrency ?? 4,
        eachBatch: async ({ batch }) => {
          records += batch.messages.length;
          passed(batch.partition, Number(batch.lastOffset()));
        },
      };
    },
  );
  return { records, ms: Date.now() - started };
}

/**
 * Moves a partition's log start to `offset` (DeleteRecords): every record before it is gone. The
 * topic must have `delete` in its cleanup.policy (Kafka refuses compact-only topics).
 */
export async function deleteRecordsBefore(kafka: Kafka, topic: string, partition: number, offset: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // kafkajs resolves the partition leader from cached metadata: load it first
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(offset) }] });
  } finally {
    await admin.disconnect();
  }
}
