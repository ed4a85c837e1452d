import type { Kafka } from 'kafkajs';
import type { Logger } from '@doubletap/observability';
import type { ConsumedRecord } from './batch-consumer';
import { PartitionTail } from './partition-tail';

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
  /** partitions fetched per round and handed over in parallel (each stays in order); default 4 */
  concurrency?: number;
  maxBytesPerPartition?: number;
  logger?: Logger;
  /** abort: stops reading, the promise rejects with "interrupted" */
  signal?: AbortSignal;
}

/**
 * Reads exact offset ranges of a topic, partition by partition in order, then stops: for restores,
 * rebuilds and recounts. No consumer group: Fetch requests go straight to the leaders (a
 * {@link PartitionTail}), READ_COMMITTED, so a read costs no join, no sync and no group to delete
 * afterwards (a throw-away group cost about a second per read on a busy machine, paid twice by every
 * partition take: the changelog inspection and the restore). Up to `concurrency` partitions are
 * fetched per round and handed over in parallel. A failing onBatch stops the read and rejects.
 */
export async function readRanges(options: ReadRangesOptions): Promise<{ records: number }> {
  const { kafka, topic } = options;
  const ranges = new Map(options.ranges.filter((r) => r.to > r.from).map((r) => [r.partition, r]));
  let records = 0;
  if (ranges.size === 0) return { records };
  const positions = new Map([...ranges].map(([p, r]) => [p, r.from]));
  const perRound = Math.max(1, options.concurrency ?? 4);
  const tail = new PartitionTail({
    kafka,
    topic,
    maxWaitMs: 100,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1048576,
    logger: options.logger,
  });
  const backoff = { ms: 50 };
  try {
    while (positions.size > 0) {
      if (options.signal?.aborted) throw new Error('interrupted');
      // the partitions furthest from their end first, so no partition waits behind the others for long
      const asked = new Map(
        [...positions]
          .sort((a, b) => ranges.get(b[0])!.to - b[1] - (ranges.get(a[0])!.to - a[1]))
          .slice(0, perRound),
      );
      const round = await tail.fetch(asked);
      if (round.size === 0) {
        // no leader answered (metadata refreshed meanwhile): ask again, a little later each time
        await new Promise((r) => setTimeout(r, backoff.ms));
        backoff.ms = Math.min(2000, backoff.ms * 2);
        continue;
      }
      backoff.ms = 50;
      await Promise.all(
        [...round].map(async ([partition, fetched]) => {
          const range = ranges.get(partition)!;
          const at = positions.get(partition)!;
          if (fetched.kind === 'out-of-range') {
            if (at >= fetched.high)
              throw new Error(`${topic}[${partition}]: offset ${at} is past the log end ${fetched.high} (the topic was truncated or recreated)`);
            // records before the log start are gone (retention, DeleteRecords): read from the start
            positions.set(partition, fetched.low);
            if (fetched.low >= range.to) positions.delete(partition);
            return;
          }
          const inside: ConsumedRecord[] = [];
          for (const r of fetched.records)
            if (r.offset >= range.from && r.offset < range.to)
              inside.push({ partition, offset: r.offset, key: r.key, keyBytes: r.keyBytes, value: r.value, timestamp: r.timestamp, headers: r.headers });
          if (inside.length > 0) {
            await options.onBatch(partition, inside);
            records += inside.length;
          }
          if (fetched.next >= range.to) positions.delete(partition);
          else positions.set(partition, Math.max(at, fetched.next));
        }),
      );
    }
    return { records };
  } finally {
    await tail.close();
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
