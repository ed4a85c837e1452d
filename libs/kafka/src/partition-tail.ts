import type { IHeaders, Kafka } from 'kafkajs';
import type { Logger } from '@doubletap/observability';
import { headersToStrings } from './read';

/** One record of a tailed partition (committed, not a control record). */
export interface TailRecord {
  offset: number;
  key: string | null;
  /** the key's bytes as they came (no copy) */
  keyBytes: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers: Record<string, string>;
}

export type TailFetch =
  /** records from the position asked for (maybe none), where to fetch next, and the partition's end */
  | { kind: 'records'; records: TailRecord[]; next: number; end: number }
  /** the position is outside the log (deleted records before it, or past its end): start again at `low` */
  | { kind: 'out-of-range'; low: number; high: number };

export interface PartitionTailOptions {
  kafka: Kafka;
  topic: string;
  /** how long the broker may hold a fetch when no partition has new records (ms) */
  maxWaitMs?: number;
  maxBytesPerPartition?: number;
  logger?: Logger;
}

// kafkajs internals used here (kafkajs 2.2.4, pinned and patched in patches/): the client's cluster
// factory, the cluster's leader lookup, a broker's Fetch request, and the consumer's Batch (which
// drops aborted transactions' records and control records of a READ_COMMITTED fetch)
interface KjsBroker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{
      topic: string;
      partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }>;
    }>;
  }): Promise<{
    responses: Array<{ topicName: string; partitions: Array<{ partition: number; highWatermark: string }> }>;
  }>;
}
interface KjsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(node: { nodeId: string }): Promise<KjsBroker>;
  fetchTopicsOffset(
    topics: Array<{ topic: string; partitions: Array<{ partition: number }>; fromBeginning: boolean }>,
  ): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}
interface KjsMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: IHeaders;
}
interface KjsBatch {
  messages: KjsMessage[];
  messagesWithinOffset: KjsMessage[];
  rawMessages: KjsMessage[];
}
type BatchClass = new (topic: string, fetchedOffset: string, partitionData: unknown) => KjsBatch;

const READ_COMMITTED = 1;

/**
 * Reads chosen partitions of a topic from chosen offsets WITHOUT a consumer group (kafkajs has no
 * `assign()`): Fetch requests sent straight to each partition's leader, READ_COMMITTED, positions
 * kept by the caller. For standby stores, which follow other members' changelog partitions
 * continuously and must neither join a group nor churn throw-away ones (ADR 0018).
 */
export class PartitionTail {
  private cluster?: KjsCluster;
  private connecting?: Promise<KjsCluster>;
  private readonly Batch: BatchClass;

  constructor(private readonly options: PartitionTailOptions) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    this.Batch = require('kafkajs/src/consumer/batch') as BatchClass;
  }

  /**
   * One fetch round over the partitions in `positions` (partition → next offset to read): every
   * leader is asked once, in parallel; a leader waits up to maxWaitMs while it has nothing new.
   * Partitions whose leader could not answer are absent from the result (the caller asks again).
   */
  async fetch(positions: ReadonlyMap<number, number>): Promise<Map<number, TailFetch>> {
    const out = new Map<number, TailFetch>();
    if (positions.size === 0) return out;
    const cluster = await this.connect();
    const { topic } = this.options;
    await cluster.refreshMetadataIfNecessary();
    let leaders: Record<string, number[]>;
    try {
      leaders = cluster.findLeaderForPartitions(topic, [...positions.keys()]);
    } catch {
      await cluster.refreshMetadata();
      return out;
    }
    await Promise.all(
      Object.entries(leaders).map(async ([nodeId, partitions]) => {
        try {
          await this.fetchFrom(cluster, nodeId, partitions, positions, out);
        } catch (e) {
          const error = e as { name?: string; partition?: number };
          if (error.name === 'KafkaJSOffsetOutOfRange' && error.partition !== undefined) {
            // one partition out of range fails the request for all: that one learns where the log
            // is now, the others are asked again next round
            out.set(error.partition, await this.range(cluster, error.partition));
            return;
          }
          this.options.logger?.debug({ err: e, topic, nodeId }, 'tail fetch failed; refreshing metadata');
          await cluster.refreshMetadata().catch(() => undefined);
        }
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    const cluster = this.cluster;
    this.cluster = undefined;
    this.connecting = undefined;
    await cluster?.disconnect().catch(() => undefined);
  }

  private async fetchFrom(
    cluster: KjsCluster,
    nodeId: string,
    partitions: number[],
    positions: ReadonlyMap<number, number>,
    out: Map<number, TailFetch>,
  ): Promise<void> {
    const { topic } = this.options;
    const maxBytes = this.options.maxBytesPerPartition ?? 512 * 1024;
    const requested = partitions.map((partition) => ({
      partition,
      fetchOffset: String(positions.get(partition)!),
      maxBytes,
    }));
    const broker = await cluster.findBroker({ nodeId });
    const { responses } = await broker.fetch({
      isolationLevel: READ_COMMITTED,
      maxWaitTime: this.options.maxWaitMs ?? 500,
      minBytes: 1,
      maxBytes: maxBytes * partitions.length,
      topics: [{ topic, partitions: requested }],
    });
    for (const response of responses) {
      if (response.topicName !== topic) continue;
      for (const data of response.partitions) {
        const from = positions.get(data.partition);
        if (from === undefined) continue;
        const batch = new this.Batch(topic, String(from), data);
        // every offset the fetch passed (control records and aborted records included) is done with
        const passed = batch.messagesWithinOffset;
        let next = from;
        if (passed.length > 0) next = Number(passed[passed.length - 1].offset) + 1;
        else if (batch.rawMessages.length > 0) next = from + 1; // only records before `from` survived compaction in its batch
        out.set(data.partition, {
          kind: 'records',
          records: batch.messages.map((m) => ({
            offset: Number(m.offset),
            key: m.key ? m.key.toString('utf8') : null,
            keyBytes: m.key,
            value: m.value,
            timestamp: Number(m.timestamp),
            headers: m.headers ? headersToStrings(m.headers) : {},
          })),
          next,
          end: Number(data.highWatermark),
        });
      }
    }
  }

  private async range(cluster: KjsCluster, partition: number): Promise<TailFetch> {
    const offsets = async (fromBeginning: boolean) => {
      const [t] = await cluster.fetchTopicsOffset([
        { topic: this.options.topic, partitions: [{ partition }], fromBeginning },
      ]);
      return Number(t.partitions.find((x) => x.partition === partition)?.offset ?? 0);
    };
    return { kind: 'out-of-range', low: await offsets(true), high: await offsets(false) };
  }

  private connect(): Promise<KjsCluster> {
    if (this.cluster) return Promise.resolve(this.cluster);
    this.connecting ??= (async () => {
      const kafka = this.options.kafka as unknown as Record<symbol, (o: object) => KjsCluster>;
      const create = Object.getOwnPropertySymbols(kafka).find(
        (s) => s.description === 'private:Kafka:createCluster',
      );
      if (!create) throw new Error('kafkajs has no cluster factory (kafkajs version changed?)');
      const cluster = kafka[create]({
        metadataMaxAge: 300_000,
        allowAutoTopicCreation: false,
        isolationLevel: READ_COMMITTED,
      });
      await cluster.connect();
      await cluster.addTargetTopic(this.options.topic);
      this.cluster = cluster;
      return cluster;
    })().catch((e: unknown) => {
      this.connecting = undefined;
      throw e;
    });
    return this.connecting;
  }
}
