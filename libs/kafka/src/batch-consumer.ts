import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '@doubletap/observability';
import { headersToStrings } from './read';

/** One record as the handlers see it (no kafkajs types leak out of libs/kafka). */
export interface ConsumedRecord {
  partition: number;
  /** offset as a number: safe up to 2^53, far beyond any partition's life */
  offset: number;
  key: string | null;
  value: Buffer | null;
  timestamp: number;
  headers: Record<string, string>;
}

export interface BatchContext {
  /** keep the group membership alive during long work */
  heartbeat(): Promise<void>;
  /** false once stop() was called: finish quickly */
  isRunning(): boolean;
  /** true when a rebalance made this batch stale: do not apply it */
  isStale(): boolean;
  /** the partition's log-end offset at fetch time (for lag and restore progress) */
  highWatermark: number;
}

export interface Assignment {
  /** all partitions of the topic this member owns now */
  partitions: number[];
  /** newly assigned since the previous generation */
  added: number[];
  /** owned before, not any more */
  revoked: number[];
  memberId: string;
  /** increases at every rebalance this member sees */
  generation: number;
}

export interface BatchHandler {
  /** Called after every group join, before any batch of the new generation is handled. */
  onAssignment?(assignment: Assignment): Promise<void>;
  /** Handle records of one partition in offset order. Resolving = durable; the offsets may be committed. */
  handleBatch(partition: number, records: ConsumedRecord[], ctx: BatchContext): Promise<void>;
}

export interface BatchConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  handler: BatchHandler;
  logger?: Logger;
  /** where a group without committed offsets starts */
  fromBeginning?: boolean;
  sessionTimeoutMs?: number;
  maxBytesPerPartition?: number;
  maxWaitTimeMs?: number;
  /** partitions handled in parallel (each partition is still strictly in order) */
  partitionsConsumedConcurrently?: number;
}

/**
 * A consumer-group member that hands whole batches per partition to a handler, tells it about
 * assignment changes (kafkajs has no revoke callback: the new assignment is diffed against the old
 * one at each GROUP_JOIN), and commits an offset to Kafka only after the handler resolved.
 */
export class BatchConsumer {
  private readonly consumer: Consumer;
  private owned = new Set<number>();
  private generation = 0;
  private assignmentTask: Promise<void> = Promise.resolve();
  private running = false;
  private crashed?: Error;

  constructor(private readonly options: BatchConsumerOptions) {
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10000,
      heartbeatInterval: Math.max(500, Math.floor((options.sessionTimeoutMs ?? 10000) / 5)),
      rebalanceTimeout: 30000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1048576,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
      allowAutoTopicCreation: false,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 3000 },
    });
    const { GROUP_JOIN, CRASH } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (event) => {
      const mine = event.payload.memberAssignment[options.topic] ?? [];
      const next = new Set(mine);
      const assignment: Assignment = {
        partitions: [...next].sort((a, b) => a - b),
        added: mine.filter((p) => !this.owned.has(p)).sort((a, b) => a - b),
        revoked: [...this.owned].filter((p) => !next.has(p)).sort((a, b) => a - b),
        memberId: event.payload.memberId,
        generation: ++this.generation,
      };
      this.owned = next;
      options.logger?.info({ assignment }, 'partitions assigned');
      const { handler } = options;
      if (handler.onAssignment) this.assignmentTask = this.assignmentTask.then(() => handler.onAssignment?.(assignment));
    });
    this.consumer.on(CRASH, (event) => {
      this.crashed = event.payload.error;
      options.logger?.error({ err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
    });
  }

  get ownedPartitions(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  get lastCrash(): Error | undefined {
    return this.crashed;
  }

  async start(): Promise<void> {
    const { topic, fromBeginning = true, handler } = this.options;
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning });
    this.running = true;
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: 1000,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload: EachBatchPayload) => {
        const { batch } = payload;
        await this.assignmentTask; // stores of a new assignment are open before their first batch
        if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
        const records: ConsumedRecord[] = batch.messages.map((m) => ({
          partition: batch.partition,
          offset: Number(m.offset),
          key: m.key ? m.key.toString('utf8') : null,
          value: m.value,
          timestamp: Number(m.timestamp),
          headers: headersToStrings(m.headers),
        }));
        await handler.handleBatch(batch.partition, records, {
          heartbeat: () => payload.heartbeat(),
          isRunning: () => payload.isRunning(),
          isStale: () => payload.isStale(),
          highWatermark: Number(batch.highWatermark),
        });
        payload.resolveOffset(batch.lastOffset());
        await payload.commitOffsetsIfNecessary();
      },
    });
  }

  /** Continue from `offset` (the next offset to read) on the next fetch of that partition. */
  seek(partition: number, offset: number): void {
    this.consumer.seek({ topic: this.options.topic, partition, offset: String(offset) });
  }

  pause(partitions: number[]): void {
    if (partitions.length > 0) this.consumer.pause([{ topic: this.options.topic, partitions }]);
  }

  resume(partitions: number[]): void {
    if (partitions.length > 0) this.consumer.resume([{ topic: this.options.topic, partitions }]);
  }

  /** Finish the batch in flight, commit what was resolved, leave the group. */
  async stop(): Promise<void> {
    if (!this.running) {
      await this.consumer.disconnect();
      return;
    }
    this.running = false;
    await this.consumer.stop();
    await this.consumer.disconnect();
    await this.assignmentTask;
  }
}
