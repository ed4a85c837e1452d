import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Logger } from '@doubletap/observability';
import { BatchConsumer, type ConsumedRecord } from './batch-consumer';

/** Offsets [from, to) of one partition. */
export interface ReadRange {
  partition: number;
  from: number;
  /** exclusive: the log end taken when the range was planned */
  to: number;
}

export interface ReadRangesOptions {
  kafka: Kafka;
  topic: string;
  ranges: readonly ReadRange[];
  /** records of one partition, in offset order, all inside its range; resolving = done with them */
  onBatch(partition: number, records: ConsumedRecord[]): Promise<void>;
  /** partitions read in parallel (each stays in order); default 4 */
  concurrency?: number;
  maxBytesPerPartition?: number;
  logger?: Logger;
  /** abort: stops reading, the promise rejects with "interrupted" */
  signal?: AbortSignal;
}

/**
 * Reads exact offset ranges of a topic, partition by partition in order, then stops: for rebuilds
 * and recounts. A throw-away consumer group (deleted afterwards) carries the fetches; its committed
 * offsets mean nothing. A failing onBatch stops the read and rejects.
 */
export async function readRanges(options: ReadRangesOptions): Promise<{ records: number }> {
  const { kafka, topic } = options;
  const onBatch = (partition: number, batch: ConsumedRecord[]) => options.onBatch(partition, batch);
  const ranges = new Map(options.ranges.filter((r) => r.to > r.from).map((r) => [r.partition, r]));
  let records = 0;
  if (ranges.size === 0) return { records };
  const pending = new Set(ranges.keys());
  const groupId = `doubletap-range-${randomBytes(6).toString('hex')}`;
  let fail: (e: Error) => void = () => undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const consumer: BatchConsumer = new BatchConsumer({
    kafka,
    groupId,
    topic,
    logger: options.logger,
    fromBeginning: true,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1048576,
    partitionsConsumedConcurrently: options.concurrency ?? 4,
    handler: {
      onAssignment: async (a) => {
        for (const p of a.partitions) {
          const range = ranges.get(p);
          if (range && pending.has(p)) consumer.seek(p, range.from);
          else consumer.pause([p]);
        }
      },
      handleBatch: async (partition, batch, ctx) => {
        const range = ranges.get(partition);
        if (!range || !pending.has(partition)) return;
        const inside = batch.filter((r) => r.offset >= range.from && r.offset < range.to);
        try {
          if (inside.length > 0) {
            await onBatch(partition, inside);
            records += inside.length;
          }
        } catch (e) {
          fail(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        passed(partition, ctx.lastOffset);
      },
      // a transactional topic's last offsets can be commit markers, never delivered as records
      onPosition: (partition, lastOffset) => passed(partition, lastOffset),
    },
  });
  function passed(partition: number, offset: number): void {
    const range = ranges.get(partition);
    if (!range || !pending.has(partition) || offset < range.to - 1) return;
    pending.delete(partition);
    consumer.pause([partition]);
    if (pending.size === 0) finish();
  }
  const onAbort = () => fail(new Error('interrupted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const crashWatch = setInterval(() => {
    if (consumer.lastCrash) fail(new Error(`reading ${topic} failed: ${consumer.lastCrash.message}`));
  }, 200);
  try {
    await consumer.start();
    await done;
    return { records };
  } finally {
    clearInterval(crashWatch);
    options.signal?.removeEventListener('abort', onAbort);
    await consumer.stop().catch(() => undefined);
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect());
  }
}

/** Per partition: the first offset whose record timestamp is >= `timestamp` (the log end when none is). */
export async function offsetsForTime(kafka: Kafka, topic: string, timestamp: number): Promise<Array<{ partition: number; offset: number }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [found, ends] = await Promise.all([admin.fetchTopicOffsetsByTimestamp(topic, timestamp), admin.fetchTopicOffsets(topic)]);
    return found
      .map((f) => {
        const offset = Number(f.offset);
        const end = Number(ends.find((e) => e.partition === f.partition)?.high ?? 0);
        return { partition: f.partition, offset: offset < 0 ? end : offset };
      })
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}
