import {
  deleteRecordsBefore,
  PartitionTail,
  readRanges,
  topicOffsets,
  type Kafka,
  type TxRecord,
} from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { storeKeys, type SourceIdentity, type StoreEntry } from '@doubletap/store';
import type { ChangelogFetch, ChangelogTail } from './standby-tail';

/** What a changelog partition holds, as far as restoring from it is concerned. */
export interface ChangelogState {
  partition: number;
  low: number;
  high: number;
  /** the input offset the changelog's state corresponds to (its latest meta/offset), if it has one */
  offset?: number;
  /** the changelog offset of that meta/offset record (a store at `offset` holds everything before offsetAt + 1) */
  offsetAt?: number;
  /**
   * Where the changelog's current epoch begins: the partition's log start when it was last emptied
   * and rewritten. Records before it may be missing (a changelog whose log start moved past it lost
   * data and is not usable).
   */
  epochStart?: number;
  /** the input topic it was built from (its latest meta/source) */
  source?: SourceIdentity;
}

/** Reading and emptying the changelog (Kafka in production, memory in unit tests). */
export interface ChangelogIO {
  /** The state of these partitions' changelogs (reads each partition's tail for its meta records). */
  inspect(partitions: readonly number[]): Promise<Map<number, ChangelogState>>;
  /** Reads [from, to) of one partition in order; entries are store entries (value null = deleted). */
  read(partition: number, from: number, to: number, onEntries: (entries: StoreEntry[]) => Promise<void>): Promise<void>;
  /** Empties a partition (moves its log start to its end) before it is rewritten; returns the new log start. */
  truncate(partition: number): Promise<number>;
  /** A reader of partitions from given positions, without a consumer group (standbys, promotions). */
  openTail(): ChangelogTail;
}

/**
 * The changelog records of one batch: every membership edit, every count written, the source
 * identity when it is new, and LAST the input offset — so the latest meta/offset of a partition's
 * changelog always names the input offset its state corresponds to.
 */
export function changelogRecords(
  topic: string,
  partition: number,
  write: { membership: ReadonlyMap<string, boolean>; counts: ReadonlyMap<string, number>; offset: number; source?: SourceIdentity },
  epochStart: number,
): TxRecord[] {
  const out: TxRecord[] = [];
  for (const [likeKey, liked] of write.membership) out.push({ topic, partition, key: storeKeys.member(likeKey), value: liked ? ONE : null });
  for (const [postId, count] of write.counts) out.push({ topic, partition, key: storeKeys.count(postId), value: Buffer.from(String(count)) });
  if (write.source) out.push(sourceRecord(topic, partition, write.source));
  out.push(offsetRecord(topic, partition, write.offset, epochStart));
  return out;
}

/** meta/offset in the changelog: the input offset and the epoch it belongs to. */
export function offsetRecord(topic: string, partition: number, offset: number, epochStart: number): TxRecord {
  return { topic, partition, key: storeKeys.offset, value: Buffer.from(JSON.stringify({ offset, epochStart })) };
}

/**
 * A tombstone for meta/offset: the changelog says nothing about its state until a later record
 * names an offset again (written first when a changelog update spans several transactions, so a
 * crash in between leaves a changelog that is not used rather than one that lies).
 */
export function offsetTombstone(topic: string, partition: number): TxRecord {
  return { topic, partition, key: storeKeys.offset, value: null };
}

export function sourceRecord(topic: string, partition: number, source: SourceIdentity): TxRecord {
  return { topic, partition, key: storeKeys.source, value: Buffer.from(JSON.stringify(source)) };
}

export function parseOffsetRecord(value: Buffer | string): { offset: number; epochStart: number } {
  const parsed = JSON.parse(value.toString()) as { offset: number; epochStart: number };
  if (!Number.isSafeInteger(parsed.offset) || !Number.isSafeInteger(parsed.epochStart)) throw new Error(`bad changelog meta/offset ${value.toString()}`);
  return parsed;
}

const ONE = Buffer.from('1');

/** Raw store entries as changelog records (a dump). */
export function entryRecords(topic: string, partition: number, entries: readonly StoreEntry[]): TxRecord[] {
  return entries.map((e) => ({ topic, partition, key: e.key, value: e.value === null ? null : Buffer.from(e.value) }));
}

/** How long the first restore of an assignment waits for the others to join its read. */
const RESTORE_GATHER_MS = 50;

interface PendingRead {
  range: { partition: number; from: number; to: number };
  onEntries: (entries: StoreEntry[]) => Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** The changelog on Kafka: tails and restores through throw-away read groups, truncation by DeleteRecords. */
export class KafkaChangelog implements ChangelogIO {
  /** restores asked for within RESTORE_GATHER_MS of each other, read by one consumer */
  private gathering: PendingRead[] = [];
  private gatherTimer?: NodeJS.Timeout;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly logger?: Logger,
  ) {}

  async inspect(partitions: readonly number[]): Promise<Map<number, ChangelogState>> {
    const ends = new Map((await topicOffsets(this.kafka, this.topic)).map((o) => [o.partition, o]));
    const out = new Map<number, ChangelogState>();
    let pending: ChangelogState[] = [];
    const tombstoned = new Set<number>();
    for (const p of partitions) {
      const o = ends.get(p);
      if (!o) throw new Error(`changelog ${this.topic} has no partition ${p} (run \`doubletap setup\`)`);
      const state: ChangelogState = { partition: p, low: o.low, high: o.high };
      out.set(p, state);
      if (o.high > o.low) pending.push(state);
    }
    // the latest meta records sit at the end of the last committed transaction; aborted transactions
    // can follow it, so the window grows until it finds meta/offset or covers the partition
    for (let window = 64; pending.length > 0; window *= 16) {
      const ranges = pending.map((s) => ({ partition: s.partition, from: Math.max(s.low, s.high - window), to: s.high }));
      await readRanges({
        kafka: this.kafka,
        topic: this.topic,
        ranges,
        logger: this.logger,
        onBatch: async (partition, records) => {
          const state = out.get(partition)!;
          for (const r of records) {
            if (r.key === storeKeys.offset && r.value === null) {
              state.offset = undefined;
              state.offsetAt = undefined;
              state.epochStart = undefined;
              tombstoned.add(partition);
            } else if (r.key === storeKeys.offset && r.value) {
              const meta = parseOffsetRecord(r.value);
              state.offset = meta.offset;
              state.offsetAt = r.offset;
              state.epochStart = meta.epochStart;
            } else if (r.key === storeKeys.source && r.value) state.source = JSON.parse(r.value.toString()) as SourceIdentity;
          }
        },
      });
      // a tombstone as the latest meta/offset also ends the search: the changelog is unusable
      pending = pending.filter((s) => s.offset === undefined && !tombstoned.has(s.partition) && s.high - window > s.low);
    }
    return out;
  }

  /**
   * Restores of partitions taken together (an assignment) are read by ONE consumer — one group
   * join, one fetch loop over all their ranges, as Kafka Streams' restore consumer does — instead
   * of one consumer each, each holding its own fetched batches.
   */
  read(partition: number, from: number, to: number, onEntries: (entries: StoreEntry[]) => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.gathering.push({ range: { partition, from, to }, onEntries, resolve, reject });
      this.gatherTimer ??= setTimeout(() => void this.readGathered(), RESTORE_GATHER_MS);
    });
  }

  private async readGathered(): Promise<void> {
    this.gatherTimer = undefined;
    // one read per partition at a time: a second ask for the same partition waits for the next round
    const reads = new Map<number, PendingRead>();
    const later: PendingRead[] = [];
    for (const r of this.gathering.splice(0)) {
      if (reads.has(r.range.partition)) later.push(r);
      else reads.set(r.range.partition, r);
    }
    try {
      await readRanges({
        kafka: this.kafka,
        topic: this.topic,
        ranges: [...reads.values()].map((r) => r.range),
        concurrency: reads.size,
        // changelog records are small (~60 bytes) and decode to far more than their size: 512 KiB
        // per fetched partition keeps a restore's batches to a few MiB of heap (bounded RSS, ADR 0009)
        maxBytesPerPartition: 512 * 1024,
        logger: this.logger,
        onBatch: async (p, records) => {
          const entries = new Array<StoreEntry>(records.length);
          for (let i = 0; i < records.length; i++) {
            const r = records[i];
            entries[i] = { key: r.key ?? '', value: r.value === null ? null : r.value.toString() };
          }
          await reads.get(p)!.onEntries(entries);
        },
      });
      for (const r of reads.values()) r.resolve();
    } catch (e) {
      for (const r of reads.values()) r.reject(e);
    }
    if (later.length > 0) {
      this.gathering.unshift(...later);
      this.gatherTimer ??= setTimeout(() => void this.readGathered(), 0);
    }
  }

  openTail(): ChangelogTail {
    const tail = new PartitionTail({ kafka: this.kafka, topic: this.topic, logger: this.logger });
    return {
      fetch: async (positions) => {
        const out = new Map<number, ChangelogFetch>();
        for (const [p, r] of await tail.fetch(positions))
          out.set(
            p,
            r.kind === 'out-of-range'
              ? r
              : { ...r, records: r.records.map((x) => ({ offset: x.offset, key: x.key ?? '', value: x.value === null ? null : x.value.toString() })) },
          );
        return out;
      },
      close: () => tail.close(),
    };
  }

  async truncate(partition: number): Promise<number> {
    const end = (await topicOffsets(this.kafka, this.topic)).find((o) => o.partition === partition);
    if (!end) throw new Error(`changelog ${this.topic} has no partition ${partition}`);
    if (end.high > end.low) await deleteRecordsBefore(this.kafka, this.topic, partition, end.high);
    return end.high;
  }
}
