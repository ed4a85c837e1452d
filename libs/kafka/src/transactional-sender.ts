import { Partitioners, type Kafka, type Producer, type Transaction } from 'kafkajs';
import type { Logger } from '@doubletap/observability';
import { unacknowledged, UnacknowledgedError } from './acks';
import { chunkBySize, DEFAULT_CHUNK_BYTES, recordSize, BATCH_OVERHEAD } from './chunks';
import { describeError, isFencingError } from './errors';

/** One record to produce inside a transaction. */
export interface TxRecord {
  topic: string;
  /** explicit partition; undefined = the key's murmur2 partition */
  partition?: number;
  key: string | Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string>;
}

/** Another producer with the same transactional id took over: this sender must never write again. */
export class ProducerFencedError extends Error {
  readonly retriable = false;
  constructor(transactionalId: string, cause: unknown) {
    super(`producer ${transactionalId} was fenced by a newer owner: ${describeError(cause)}`, { cause });
    this.name = 'ProducerFencedError';
  }
}

/**
 * The outcome of a transaction is unknown or it failed: the sender is closed and must be replaced
 * (`TransactionalSender.open` again, which fences this one and aborts whatever it left open) before
 * anything else is sent. Never reuse a producer after a failed send: with idempotent sequence
 * numbers rolled back, the broker could take a later batch for a duplicate of the failed one and
 * acknowledge it without writing it.
 */
export class TransactionFailedError extends Error {
  readonly retriable = true;
  constructor(transactionalId: string, cause: unknown) {
    super(`transaction of ${transactionalId} failed, the producer was discarded: ${describeError(cause)}`, { cause });
    this.name = 'TransactionFailedError';
  }
}

export interface TransactionalSenderOptions {
  kafka: Kafka;
  /** one per output owner, e.g. per input partition: a new owner opening it fences the old one */
  transactionalId: string;
  /** the broker aborts a transaction left open longer than this (a crashed owner) */
  transactionTimeoutMs?: number;
  /** budget of one produce request; records are chunked to stay under it */
  chunkBytes?: number;
  logger?: Logger;
}

/**
 * A transactional producer with one rule: every batch of records is written atomically (all or
 * none, visible to read_committed consumers at commit), and the first failure retires the producer.
 * Opening one initializes the transactional id at the coordinator, which bumps the epoch: any older
 * producer with that id (a zombie owner) is fenced from then on, and its open transaction aborted.
 */
export class TransactionalSender {
  private broken?: Error;
  private closed = false;

  private constructor(
    private readonly producer: Producer,
    private readonly options: TransactionalSenderOptions,
  ) {}

  static async open(options: TransactionalSenderOptions): Promise<TransactionalSender> {
    const producer = options.kafka.producer({
      transactionalId: options.transactionalId,
      transactionTimeout: options.transactionTimeoutMs ?? 15000,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // bounded: a failed send settles within a few request timeouts, then the caller replaces us
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    try {
      await producer.connect();
      // the first transaction() initializes the transactional id (the fencing point); an empty
      // transaction ends without a request
      const txn = await producer.transaction();
      await txn.abort();
    } catch (e) {
      await producer.disconnect().catch(() => undefined);
      if (isFencingError(e)) throw new ProducerFencedError(options.transactionalId, e);
      throw e;
    }
    return new TransactionalSender(producer, options);
  }

  get transactionalId(): string {
    return this.options.transactionalId;
  }

  /** false once a send failed or close() was called: open a new one */
  get usable(): boolean {
    return !this.broken && !this.closed;
  }

  /** Writes `records` in ONE transaction; resolves once it is committed. Throws ProducerFencedError or TransactionFailedError. */
  async send(records: readonly TxRecord[]): Promise<void> {
    if (this.broken) throw new TransactionFailedError(this.options.transactionalId, this.broken);
    if (this.closed) throw new TransactionFailedError(this.options.transactionalId, new Error('closed'));
    if (records.length === 0) return;
    const budget = this.options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    for (const r of records) {
      const size = recordSize(r) + BATCH_OVERHEAD;
      if (size > budget) throw new Error(`a record of ${size} bytes for ${r.topic} exceeds the ${budget}-byte budget: fit it first`);
    }
    let txn: Transaction | undefined;
    try {
      txn = await this.producer.transaction();
      for (const chunk of chunkBySize(records, budget)) {
        const byTopic = new Map<string, TxRecord[]>();
        for (const r of chunk) {
          const list = byTopic.get(r.topic);
          if (list) list.push(r);
          else byTopic.set(r.topic, [r]);
        }
        const answer = await txn.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, list]) => ({
            topic,
            messages: list.map((r) => ({ key: r.key, value: r.value, partition: r.partition, headers: r.headers })),
          })),
        });
        // never commit a transaction whose answer skipped a partition (acks.ts): abandoned, it is
        // aborted when the next producer with this id starts; records without an explicit
        // partition cannot be checked, so every record this system writes names its partition
        const missing = unacknowledged(
          chunk.filter((r) => r.partition !== undefined).map((r) => ({ topic: r.topic, partition: r.partition! })),
          answer,
        );
        if (missing.length > 0) throw new UnacknowledgedError(missing);
      }
      await txn.commit();
    } catch (e) {
      this.broken = e instanceof Error ? e : new Error(String(e));
      void this.producer.disconnect().catch(() => undefined);
      if (isFencingError(e)) throw new ProducerFencedError(this.options.transactionalId, e);
      this.options.logger?.warn({ err: e, transactionalId: this.options.transactionalId }, 'transaction failed; producer discarded');
      throw new TransactionFailedError(this.options.transactionalId, e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.producer.disconnect().catch(() => undefined);
  }
}
