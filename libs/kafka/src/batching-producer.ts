import { type ICustomPartitioner, type Kafka, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from '@doubletap/observability';
import { unacknowledged, UnacknowledgedError } from './acks';
import { partitionForKey } from './partitioner';
import { ReplaceableProducer } from './replaceable-producer';

/**
 * Micro-batching in front of one idempotent producer (docs/adr/0002-micro-batching-producer.md).
 *
 * Concurrent `send()` calls are coalesced into one produce request: a batch leaves when `lingerMs`
 * has passed since the first waiting message, when `batchMaxSize` messages wait, or at once after
 * the previous batch was acknowledged. One batch is in flight at a time (kafkajs's idempotent
 * producer allows one in-flight request anyway), so while Kafka works on one batch the next one
 * fills up: under load batches grow by themselves, idle requests wait at most `lingerMs`.
 *
 * Every caller gets exactly one answer, and never a hang:
 * - resolved when the batch holding its message was acknowledged (acks=all);
 * - {@link ProducerOverloadedError} at once when `queueMax` messages are already pending;
 * - {@link ProducerUnavailableError} at once when the sink reports it cannot produce (not
 *   connected, shutting down), or when the message is still waiting in the queue at its deadline
 *   (`timeoutMs` after `send()`); such a message was never handed to Kafka and never will be;
 * - once handed to Kafka, the answer waits for the producer's own verdict (the sink bounds it with
 *   its request timeout and retries): success is a success even when late, failure is a 503 that
 *   nothing will retry. Only if that verdict does not come within `2 × timeoutMs` (a stuck client)
 *   are the callers answered with an `inDoubt` ProducerUnavailableError.
 */

export interface OutboundMessage {
  key: string;
  value: Buffer;
}

/** Produces one batch; resolves only when every message of it was acknowledged. */
export type SendBatch = (messages: OutboundMessage[]) => Promise<void>;

/**
 * The Kafka side of a {@link BatchingProducer}, one per Kafka client (kafkajs: {@link KafkaBatchSink};
 * @platformatic/kafka: PlatformaticBatchSink). The contract both keep: acks=all; `send` resolves only
 * when every message of the batch was acknowledged; a failed send retires the producer (a new producer
 * id) before anything else is sent; keyed messages land on Java's murmur2 partition of the pinned count,
 * and a topic with another count is refused with {@link PartitionCountMismatchError}.
 */
export interface BatchSink {
  readonly isConnected: boolean;
  /** why sending is impossible right now, or undefined */
  unavailable(): string | undefined;
  /** Starts connecting (retrying with backoff until stop()); resolves when first connected or stopped. */
  start(): Promise<void>;
  /** Retires the current producer without waiting for it (a batch's outcome is unknown). */
  discard(why: string): void;
  send: SendBatch;
  stop(): Promise<void>;
}

export interface BatchObserver {
  /** one batch finished: its size, how long the produce call took, and whether it was acknowledged */
  batch(size: number, seconds: number, ok: boolean): void;
}

export interface BatchingOptions {
  lingerMs: number;
  batchMaxSize: number;
  queueMax: number;
  /** deadline of a message, counted from send() */
  timeoutMs: number;
  /** returns why messages cannot be produced right now, or undefined when they can */
  unavailable?: () => string | undefined;
  observer?: BatchObserver;
  /**
   * Called when a batch's outcome became unknown (the sink never answered within 2 × timeoutMs):
   * the sink must retire its producer before anything else is sent on it.
   */
  onInDoubt?: (why: string) => void;
}

/** The queue is full: answer 503 with Retry-After. */
export class ProducerOverloadedError extends Error {
  readonly kind = 'overloaded' as const;
  constructor(readonly queueMax: number) {
    super(`the produce queue is full (${queueMax} messages pending)`);
    this.name = 'ProducerOverloadedError';
  }
}

/** Kafka cannot take the message now: answer 503 with Retry-After. */
export class ProducerUnavailableError extends Error {
  readonly kind = 'unavailable' as const;
  constructor(
    message: string,
    /** true only when the outcome is unknown (the producer never answered); see the class comment */
    readonly inDoubt = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProducerUnavailableError';
  }
}

interface Pending {
  message: OutboundMessage;
  deadline: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class BatchingProducer {
  private queue: Pending[] = [];
  private inFlight = 0;
  private lingerTimer?: NodeJS.Timeout;
  private lingerImmediate?: NodeJS.Immediate;
  private expiryTimer?: NodeJS.Timeout;
  private closing = false;
  private drained?: () => void;

  constructor(
    private readonly sendBatch: SendBatch,
    private readonly options: BatchingOptions,
  ) {}

  /** Messages waiting or in flight. */
  get depth(): number {
    return this.queue.length + this.inFlight;
  }

  send(message: OutboundMessage): Promise<void> {
    if (this.closing) return Promise.reject(new ProducerUnavailableError('the producer is shutting down'));
    const reason = this.options.unavailable?.();
    if (reason !== undefined) return Promise.reject(new ProducerUnavailableError(reason));
    if (this.depth >= this.options.queueMax)
      return Promise.reject(new ProducerOverloadedError(this.options.queueMax));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ message, deadline: Date.now() + this.options.timeoutMs, resolve, reject });
      if (this.queue.length === 1) this.armExpiry();
      this.schedule();
    });
  }

  /** Stops accepting, sends everything still queued without lingering, waits for every answer. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.depth === 0) return;
    const done = new Promise<void>((resolve) => (this.drained = resolve));
    this.dispatch();
    await done;
  }

  private schedule(): void {
    if (this.inFlight > 0 || this.queue.length === 0) return;
    if (this.queue.length >= this.options.batchMaxSize || this.closing) {
      this.dispatch();
    } else if (this.options.lingerMs === 0) {
      // no linger: coalesce what arrives within this turn of the event loop
      this.lingerImmediate ??= setImmediate(() => {
        this.lingerImmediate = undefined;
        this.dispatch();
      });
    } else if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.dispatch();
      }, this.options.lingerMs);
    }
  }

  private dispatch(): void {
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    if (this.lingerImmediate) {
      clearImmediate(this.lingerImmediate);
      this.lingerImmediate = undefined;
    }
    this.expire();
    if (this.inFlight > 0 || this.queue.length === 0) return this.checkDrained();
    const reason = this.options.unavailable?.();
    if (reason !== undefined) {
      // never handed to Kafka: safe to answer now
      const rejected = this.queue;
      this.queue = [];
      this.disarmExpiry();
      for (const p of rejected) p.reject(new ProducerUnavailableError(reason));
      return this.checkDrained();
    }
    const batch = this.queue.splice(0, this.options.batchMaxSize);
    this.disarmExpiry();
    this.armExpiry();
    this.inFlight = batch.length;
    const started = process.hrtime.bigint();
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      this.inFlight = 0;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.options.observer?.batch(batch.length, seconds, !error);
      for (const p of batch) {
        if (error) p.reject(error);
        else p.resolve();
      }
      if (this.queue.length > 0) this.dispatch();
      else this.checkDrained();
    };
    const watchdog = setTimeout(() => {
      const why = `Kafka did not answer a produce request within ${2 * this.options.timeoutMs}ms; outcome unknown`;
      // the producer may still be working on that batch: nothing else may go out on it (a later batch
      // could be taken for a duplicate of this one and acknowledged without being written)
      this.options.onInDoubt?.(why);
      finish(new ProducerUnavailableError(why, true));
    }, 2 * this.options.timeoutMs);
    let sending: Promise<void>;
    try {
      sending = this.sendBatch(batch.map((p) => p.message));
    } catch (e) {
      sending = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    sending.then(
      () => finish(),
      (e: unknown) =>
        finish(
          e instanceof ProducerUnavailableError
            ? e
            : new ProducerUnavailableError(
                `Kafka did not acknowledge the batch: ${e instanceof Error ? e.message : String(e)}`,
                false,
                { cause: e },
              ),
        ),
    );
  }

  /** Answers (503) every queued message whose deadline passed; they were never handed to Kafka. */
  private expire(): void {
    const now = Date.now();
    let n = 0;
    while (n < this.queue.length && this.queue[n].deadline <= now) n++;
    if (n === 0) return;
    const expired = this.queue.splice(0, n);
    for (const p of expired)
      p.reject(
        new ProducerUnavailableError(
          `Kafka did not take the message within ${this.options.timeoutMs}ms (it was not sent)`,
        ),
      );
  }

  private armExpiry(): void {
    if (this.expiryTimer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0].deadline - Date.now());
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expire();
      this.armExpiry();
      this.checkDrained();
    }, wait);
  }

  private disarmExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }

  private checkDrained(): void {
    if (this.closing && this.depth === 0 && this.drained) {
      this.disarmExpiry();
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }
}

/**
 * kafkajs's DefaultPartitioner (Java-compatible murmur2 of the key, modulo the partition count)
 * computed with {@link partitionForKey}: the same partition for every key, at about a twentieth of
 * the CPU (kafkajs hashes with a Long object per step, ~2 µs and a dozen allocations per record).
 * Messages with an explicit partition or without a key are left to kafkajs's own partitioner.
 */
export const keyHashPartitioner: ICustomPartitioner = () => pinnedKeyHashPartitioner()();

/** The topic has another partition count than the one pinned: keys would move, counts would double. */
export class PartitionCountMismatchError extends Error {
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly actual: number,
    readonly pinned: number,
  ) {
    super(
      `${topic} has ${actual} partitions but ${pinned} are pinned (TOPIC_PARTITIONS): changing the partition count moves (post, user) pairs between partitions and would count them twice; refusing to produce (see docs/operations.md)`,
    );
    this.name = 'PartitionCountMismatchError';
  }
}

/**
 * {@link keyHashPartitioner} that refuses to place a keyed record when the topic's partition count
 * (as the producer's metadata knows it) differs from `pinned`: the record fails, the caller answers
 * 503, and nothing lands on a partition its (post, user) never lived on.
 */
export function pinnedKeyHashPartitioner(pinned?: number): ICustomPartitioner {
  return () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    return (args) => {
      const { message, partitionMetadata, topic } = args;
      if (message.partition !== undefined && message.partition !== null) return kafkajs(args);
      if (message.key === undefined || message.key === null) return kafkajs(args);
      if (pinned !== undefined && partitionMetadata.length !== pinned)
        throw new PartitionCountMismatchError(topic, partitionMetadata.length, pinned);
      return partitionForKey(message.key, partitionMetadata.length);
    };
  };
}

export interface KafkaBatchSinkOptions {
  topic: string;
  /** the partition count the keys are routed over; a topic with another count is refused */
  pinnedPartitions?: number;
  /** bounds one produce call: request timeout and the broker's ack wait (ms) */
  timeoutMs: number;
  logger?: Logger;
}

/**
 * The Kafka side of a {@link BatchingProducer}: one producer (acks=all, one attempt per send) that connects
 * in the background (the process starts and reports "not ready" while Kafka is down) and is
 * replaced by a fresh one (new producer id) after any failed batch, so a batch that was written
 * but not acknowledged can never make the broker drop a later batch as a "duplicate sequence".
 */
export class KafkaBatchSink extends ReplaceableProducer<Producer> implements BatchSink {
  constructor(
    private readonly kafka: Kafka,
    private readonly options: KafkaBatchSinkOptions,
  ) {
    super({ topic: options.topic, client: 'kafkajs', logger: options.logger });
  }

  send: SendBatch = async (messages) => {
    const producer = this.producer;
    if (!producer || !this.isConnected)
      throw new ProducerUnavailableError('the Kafka producer is not connected');
    try {
      const answer = await producer.send({
        topic: this.options.topic,
        acks: -1,
        timeout: this.options.timeoutMs,
        messages,
      });
      const pinned = this.options.pinnedPartitions;
      if (pinned !== undefined) {
        const sent = new Set(messages.map((m) => partitionForKey(m.key, pinned)));
        const missing = unacknowledged([...sent].map((partition) => ({ topic: this.options.topic, partition })), answer);
        if (missing.length > 0) throw new UnacknowledgedError(missing);
      } else if (answer.length === 0 || answer.some((a) => a.errorCode !== 0)) {
        throw new UnacknowledgedError([]);
      }
    } catch (e) {
      // the failed send has settled (kafkajs will not retry it any more): start over with a new
      // producer id before anything else is sent
      this.options.logger?.warn({ err: e }, 'produce failed; recreating the Kafka producer');
      this.retire(producer);
      throw e;
    }
  };

  protected create(): Producer {
    const producer = this.kafka.producer({
      // one attempt per send (kafkajs refuses an idempotent producer without retries, and its
      // sequence numbers only ever deduplicate retries): a failed send is a 503 and the producer
      // is replaced, so nothing is sent twice by the client
      idempotent: false,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: pinnedKeyHashPartitioner(this.options.pinnedPartitions),
      // a retried attempt can skip a partition whose leader moved to a broker that answered the
      // first one (acks.ts)
      retry: { retries: 0 },
    });
    producer.on(producer.events.DISCONNECT, () => this.lost(producer));
    return producer;
  }

  protected open(producer: Producer): Promise<void> {
    return producer.connect();
  }

  protected close(producer: Producer): Promise<void> {
    return producer.disconnect().catch(() => undefined);
  }
}
