import { setTimeout as sleep } from 'node:timers/promises';
import { PartitionAssigners, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs';
import type { Logger } from '@doubletap/observability';
import { isMembershipError } from './errors';
import { headersToStrings } from './read';
import { stickyAssigner } from './sticky-assigner';

/** One record as the handlers see it (no kafkajs types leak out of libs/kafka). */
export interface ConsumedRecord {
  partition: number;
  /** offset as a number: safe up to 2^53, far beyond any partition's life */
  offset: number;
  key: string | null;
  /** the key's bytes as they came (no copy): hashing them needs no re-encoding */
  keyBytes?: Buffer | null;
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
  /**
   * The last offset this batch covers, control records included: on a transactional topic the last
   * record is often followed by a commit marker, so this can be past the last record's offset.
   */
  lastOffset: number;
  /** do not resolve or commit this batch's offsets (it was not applied: a refusal, a re-positioning) */
  holdOffsets(): void;
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
  /**
   * The consumer moved past offsets that hold no records for the handler (only transaction markers
   * or aborted records): `lastOffset` is the last one it passed. kafkajs never calls handleBatch for
   * such fetches, so a reader waiting to reach an end offset learns it here.
   */
  onPosition?(partition: number, lastOffset: number): void;
}

/** What patches/kafkajs+2.2.4.patch adds to a kafkajs consumer: its membership, and a heartbeat sent now. */
interface Membership {
  memberId: string;
  generationId: number;
}
type PatchedConsumer = Consumer & {
  membership(): Membership | undefined;
  heartbeatNow(): Promise<Membership>;
};

/** Shared by every record without headers (most of them): one object less per record. */
const NO_HEADERS: Record<string, string> = Object.freeze({});

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** What a consumer-group member offers its owner, whichever client it runs on (see consumers.ts). */
export interface GroupConsumer {
  readonly ownedPartitions: number[];
  /** the error of the crash the consumer has not recovered from yet, if any */
  readonly lastCrash: Error | undefined;
  status(): ConsumerStatus;
  start(): Promise<void>;
  /** continue from `offset` (the next offset to read) on the next fetch of that partition */
  seek(partition: number, offset: number): void;
  pause(partitions: number[]): void;
  resume(partitions: number[]): void;
  /**
   * asks the group coordinator now whether this member still owns `partition`: false = not ours;
   * throws when the coordinator cannot be asked
   */
  confirmOwnership(partition: number): Promise<boolean>;
  /** finish the batch in flight, commit what was resolved, leave the group */
  stop(): Promise<void>;
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
  /** upper bound of one fetch response over all partitions */
  maxBytes?: number;
  maxWaitTimeMs?: number;
  /** the broker answers a fetch once this many bytes are there (or maxWaitTimeMs passed); default 1 */
  minBytes?: number;
  /** partitions handled in parallel (each partition is still strictly in order) */
  partitionsConsumedConcurrently?: number;
  /**
   * A partition's batches are handed over at least this many ms apart (0 = as fast as they come):
   * after a batch, its partition is not fetched again until the interval since that batch was handed
   * over has passed. Under load, fewer and larger batches (the aggregator: one output transaction per
   * partition per interval at most, AGGREGATOR_COMMIT_INTERVAL_MS); the first record after a quiet
   * spell is not delayed (a fetch waiting for records answers as soon as one comes).
   */
  minBatchIntervalMs?: number;
  /** first and largest pause before a crashed consumer is started again, ms */
  restartBackoffMs?: { initial: number; max: number };
  /**
   * partition → last input offset of local state this member holds for partitions it does not own:
   * the group leader gives moved partitions to the member with the furthest state (sticky-assigner.ts)
   */
  warm?: () => Readonly<Record<number, number>>;
}

/** Where the consumer is in its life: only `running` is healthy. */
export interface ConsumerStatus {
  state: 'new' | 'starting' | 'running' | 'restarting' | 'stopped';
  /** the error of the last crash (kept until the consumer has joined its group again) */
  lastError?: string;
  /** consumers created after a crash that kafkajs would not restart itself */
  restarts: number;
  /** epoch ms of the last state change */
  since: number;
  /** epoch ms the group coordinator last answered this member (a heartbeat or a join): consumer-health.ts */
  lastGroupAnswer?: number;
}

/** A fifth of the session (at least 500 ms): a member misses four heartbeats before it is dropped. */
const heartbeatIntervalMs = (sessionTimeoutMs = 10000): number =>
  Math.max(500, Math.floor(sessionTimeoutMs / 5));

/**
 * A consumer-group member that hands whole batches per partition to a handler, tells it about
 * assignment changes (kafkajs has no revoke callback: the new assignment is diffed against the old
 * one at each GROUP_JOIN), and commits an offset to Kafka only after the handler resolved.
 *
 * It does not die quietly. kafkajs restarts itself after a retriable crash; after a crash it will
 * not restart from (a non-retriable error: a handler bug, a refused request), this class builds a
 * new kafkajs consumer and starts it again with backoff, telling the handler first that every
 * partition was revoked (the new member is assigned afresh). `status()` says which it is, so
 * liveness can fail while the consumer is not running.
 */
export class BatchConsumer implements GroupConsumer {
  private consumer: PatchedConsumer;
  private owned = new Set<number>();
  /** the consumer and generation `owned` was computed for (at its last GROUP_JOIN) */
  private joined?: { consumer: PatchedConsumer; generationId: number };
  private generation = 0;
  private assignmentTask: Promise<void> = Promise.resolve();
  private wanted = false;
  private current: ConsumerStatus = { state: 'new', restarts: 0, since: Date.now() };
  private restartTimer?: NodeJS.Timeout;
  private restartDelay: number;

  constructor(private readonly options: BatchConsumerOptions) {
    this.restartDelay = options.restartBackoffMs?.initial ?? 500;
    this.consumer = this.create();
  }

  private create(): PatchedConsumer {
    const { options } = this;
    const consumer = <PatchedConsumer>options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10000,
      heartbeatInterval: heartbeatIntervalMs(options.sessionTimeoutMs),
      rebalanceTimeout: 30000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1048576,
      maxBytes: options.maxBytes ?? 10485760,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
      minBytes: options.minBytes ?? 1,
      allowAutoTopicCreation: false,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 3000 },
      // partitions stay with their owner across rebalances (round robin as the fallback a group of
      // mixed versions agrees on): a kept partition's task is not released, its store stays open
      partitionAssigners: [
        stickyAssigner({ owned: () => this.ownedPartitions, warm: () => options.warm?.() ?? {} }),
        PartitionAssigners.roundRobin,
      ],
    });
    const { GROUP_JOIN, CRASH, END_BATCH_PROCESS, HEARTBEAT } = consumer.events;
    consumer.on(HEARTBEAT, () => {
      if (consumer === this.consumer) this.current.lastGroupAnswer = Date.now();
    });
    consumer.on(END_BATCH_PROCESS, (event) => {
      if (consumer !== this.consumer || event.payload.batchSize !== 0) return;
      options.handler.onPosition?.(event.payload.partition, Number(event.payload.lastOffset));
    });
    consumer.on(GROUP_JOIN, (event) => {
      if (consumer !== this.consumer) return;
      const mine = event.payload.memberAssignment[options.topic] ?? [];
      const generationId = consumer.membership()?.generationId;
      this.joined = generationId === undefined ? undefined : { consumer, generationId };
      this.current.lastGroupAnswer = Date.now();
      this.assigned(mine, event.payload.memberId);
      this.setState('running');
      this.restartDelay = options.restartBackoffMs?.initial ?? 500;
    });
    consumer.on(CRASH, (event) => {
      if (consumer !== this.consumer) return;
      const { error, restart } = event.payload;
      this.current.lastError = error.message;
      options.logger?.error({ err: error, restart, group: options.groupId }, 'consumer crashed');
      this.setState('restarting');
      // kafkajs restarts by itself after a retriable crash; otherwise the consumer is dead: replace it
      if (!restart) this.scheduleRestart();
    });
    return consumer;
  }

  private assigned(mine: number[], memberId: string): void {
    const next = new Set(mine);
    const assignment: Assignment = {
      partitions: [...next].sort((a, b) => a - b),
      added: mine.filter((p) => !this.owned.has(p)).sort((a, b) => a - b),
      revoked: [...this.owned].filter((p) => !next.has(p)).sort((a, b) => a - b),
      memberId,
      generation: ++this.generation,
    };
    this.owned = next;
    this.options.logger?.info({ assignment }, 'partitions assigned');
    this.notify(assignment);
  }

  private notify(assignment: Assignment): void {
    const { handler, logger } = this.options;
    if (!handler.onAssignment) return;
    this.assignmentTask = this.assignmentTask
      .then(() => handler.onAssignment?.(assignment))
      .catch((e: unknown) => logger?.error({ err: e, assignment }, 'the handler failed to apply an assignment'));
  }

  private setState(state: ConsumerStatus['state']): void {
    if (this.current.state === state) return;
    this.current = { ...this.current, state, since: Date.now() };
    if (state === 'running') delete this.current.lastError;
  }

  get ownedPartitions(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  /** The error of the crash the consumer has not recovered from yet, if any. */
  get lastCrash(): Error | undefined {
    return this.current.state === 'restarting' && this.current.lastError ? new Error(this.current.lastError) : undefined;
  }

  /**
   * Does this member still own `partition`? Asked before anything that would fence the partition's
   * other writers (a new transactional producer): a heartbeat goes to the coordinator NOW (kafkajs's
   * own is skipped within its interval), and the answer is yes only if it went through in the very
   * generation whose assignment gave us the partition. false = not ours (evicted, a rebalance under
   * way, or a newer assignment without it); throws when the coordinator cannot be asked (no answer).
   */
  async confirmOwnership(partition: number): Promise<boolean> {
    const consumer = this.consumer;
    const joined = this.joined;
    if (!joined || joined.consumer !== consumer || !this.owned.has(partition)) return false;
    try {
      const now = await consumer.heartbeatNow();
      if (consumer === this.consumer) this.current.lastGroupAnswer = Date.now();
      return now.generationId === joined.generationId && this.joined === joined && this.owned.has(partition);
    } catch (e) {
      if (isMembershipError(e)) return false;
      throw e;
    }
  }

  status(): ConsumerStatus {
    return { ...this.current };
  }

  async start(): Promise<void> {
    this.wanted = true;
    this.setState('starting');
    await this.run(this.consumer);
  }

  private async run(consumer: Consumer): Promise<void> {
    const { topic, fromBeginning = true, handler } = this.options;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning });
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: 1000,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload: EachBatchPayload) => {
        const { batch } = payload;
        await this.untilAssigned(payload); // stores of a new assignment are open before their first batch
        if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
        const messages = batch.messages;
        const records = new Array<ConsumedRecord>(messages.length);
        for (let i = 0; i < messages.length; i++) {
          const m = messages[i];
          records[i] = {
            partition: batch.partition,
            offset: Number(m.offset),
            key: m.key ? m.key.toString('utf8') : null,
            keyBytes: m.key,
            value: m.value,
            timestamp: Number(m.timestamp),
            headers: m.headers && hasKeys(m.headers) ? headersToStrings(m.headers) : NO_HEADERS,
          };
        }
        let held = false;
        const handedAt = Date.now();
        await handler.handleBatch(batch.partition, records, {
          heartbeat: () => payload.heartbeat(),
          isRunning: () => payload.isRunning(),
          isStale: () => payload.isStale(),
          highWatermark: Number(batch.highWatermark),
          lastOffset: Number(batch.lastOffset()),
          holdOffsets: () => {
            held = true;
          },
        });
        if (!held) {
          payload.resolveOffset(batch.lastOffset());
          await payload.commitOffsetsIfNecessary();
        }
        // the partition's next fetch waits here (kafkajs fetches it again once its batch resolved)
        const rest = handedAt + (this.options.minBatchIntervalMs ?? 0) - Date.now();
        if (rest > 0 && payload.isRunning() && !payload.isStale()) await sleep(rest);
      },
    });
  }

  /**
   * Waits for the assignment handler (a take may restore a store for longer than the session) with a
   * heartbeat every interval meanwhile, as a long batch does: kafkajs heartbeats only between batches,
   * so a short session (KAFKA_SESSION_TIMEOUT_MS) would otherwise expire during a restore. A rebalance
   * makes the heartbeat throw: kafkajs rejoins and the batch is fetched again.
   */
  private async untilAssigned(payload: EachBatchPayload): Promise<void> {
    const everyMs = heartbeatIntervalMs(this.options.sessionTimeoutMs);
    for (;;) {
      const task = this.assignmentTask;
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        task.then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), everyMs))),
      ]);
      clearTimeout(timer);
      if (!done) await payload.heartbeat();
      else if (task === this.assignmentTask) return;
    }
  }

  /** A new kafkajs consumer after a crash it does not recover from; backoff doubles up to the max. */
  private scheduleRestart(): void {
    if (!this.wanted || this.restartTimer) return;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.options.restartBackoffMs?.max ?? 30000, delay * 2);
    this.options.logger?.warn({ group: this.options.groupId, inMs: delay }, 'restarting the consumer');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
  }

  private async restart(): Promise<void> {
    const dead = this.consumer;
    await dead.disconnect().catch(() => undefined);
    if (!this.wanted) return;
    // the new member is assigned afresh: everything this member owned is revoked first
    if (this.owned.size > 0) {
      const revoked = this.ownedPartitions;
      this.owned = new Set();
      this.joined = undefined;
      this.notify({ partitions: [], added: [], revoked, memberId: '', generation: ++this.generation });
    }
    this.current.restarts += 1;
    this.consumer = this.create();
    try {
      await this.run(this.consumer);
    } catch (e) {
      this.current.lastError = e instanceof Error ? e.message : String(e);
      this.options.logger?.error({ err: e }, 'consumer restart failed');
      this.scheduleRestart();
    }
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
    const wasRunning = this.wanted;
    this.wanted = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (wasRunning) await this.consumer.stop().catch(() => undefined);
    await this.consumer.disconnect();
    await this.assignmentTask;
    this.setState('stopped');
  }
}
