import type { CountChanged } from '@doubletap/events';
import {
  describeError,
  fitRecord,
  ProducerFencedError,
  TransactionalSender,
  type ConsumedRecord,
  type Kafka,
  type TxRecord,
} from '@doubletap/kafka';
import { countKey } from '@doubletap/likes';
import type { Logger } from '@doubletap/observability';
import { Backoff } from './backoff';
import type { AggregatorMetrics } from './metrics';
import type { AggregatorCodec, AggregatorTopics, DeadLetterReason } from './types';

/** Lets the collector ask whether this member still owns the partition before it re-opens its producer. */
export interface OwnershipGuard {
  /** resolves when the partition is still ours (a heartbeat went through); throws when it is not */
  confirm(): Promise<void>;
  /** false once the partition is being given up (stop, revocation, a stale batch) */
  active(): boolean;
}

/** The partition was taken over by another owner (fenced) or is being given up: nothing was written. */
export class PartitionLostError extends Error {
  constructor(partition: number, why: string) {
    super(`partition ${partition} is no longer ours: ${why}`);
    this.name = 'PartitionLostError';
  }
}

/** What the collector needs of a transactional producer (TransactionalSender implements it). */
export interface TxSender {
  readonly usable: boolean;
  send(records: readonly TxRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Opens a producer for a transactional id, fencing its earlier holders. */
export type OpenSender = (transactionalId: string) => Promise<TxSender>;

export interface RecordCollectorDeps {
  /** how producers are opened (default: a kafkajs TransactionalSender on `kafka`) */
  openSender?: OpenSender;
  kafka: Kafka;
  /** `<aggregator group>-p<partition>`: the same id for every owner of the partition, so a new one fences the old */
  transactionalId: string;
  partition: number;
  topics: AggregatorTopics;
  codec: AggregatorCodec;
  logger: Logger;
  metrics: AggregatorMetrics;
  /** called with what the collector waits for while it retries, and undefined when it stops waiting */
  onBlocked?: (what: string | undefined, error?: unknown) => void;
  backoffMs?: { initial: number; max: number };
  /** aborted when the partition is given up: a retry's backoff ends at once (the guard then says so) */
  stopping?: AbortSignal;
}

/**
 * The output of one partition task (Kafka Streams' record collector): CountChanged and dead letters
 * go out in ONE transaction per batch on a transactional producer owned by the partition. Opening
 * that producer fences any earlier owner of the partition (a zombie that lost it in a rebalance
 * can no longer write to likes.counts). After a failed transaction (outcome unknown) the producer is
 * never reused: the collector confirms it still owns the partition, opens a new one (which aborts
 * whatever the old one left open) and sends the same records again — they are idempotent.
 */
export class RecordCollector {
  private sender?: TxSender;
  private readonly openSender: OpenSender;

  constructor(private readonly deps: RecordCollectorDeps) {
    this.openSender =
      deps.openSender ??
      ((transactionalId) => TransactionalSender.open({ kafka: deps.kafka, transactionalId, logger: deps.logger }));
  }

  /** Opens the partition's producer (fencing earlier owners), retrying while Kafka is unreachable. */
  async open(guard: OwnershipGuard): Promise<void> {
    const backoff = this.backoff();
    for (let attempt = 1; ; attempt++) {
      if (!guard.active()) throw new PartitionLostError(this.deps.partition, 'given up while opening its producer');
      try {
        this.sender = await this.openSender(this.deps.transactionalId);
        return;
      } catch (e) {
        this.deps.onBlocked?.('kafka', e);
        if (attempt === 1 || attempt % 10 === 0)
          this.deps.logger.warn({ err: e, partition: this.deps.partition, attempt }, 'cannot open the output producer; retrying');
        await backoff.wait();
      }
    }
  }

  /**
   * Commits `records` in one transaction. Retries (new producer each time) while Kafka fails, as long
   * as the partition is still ours; throws PartitionLostError when it is not (nothing was committed
   * by this call then, or it was committed and the new owner's output supersedes it).
   */
  async send(records: readonly TxRecord[], guard: OwnershipGuard): Promise<void> {
    if (records.length === 0) return;
    const backoff = this.backoff();
    for (let attempt = 1; ; attempt++) {
      if (!guard.active()) throw new PartitionLostError(this.deps.partition, 'given up while sending');
      if (!this.sender?.usable) {
        // a new producer would fence whoever owns the partition now: be sure it is still us
        try {
          await guard.confirm();
        } catch (e) {
          throw new PartitionLostError(this.deps.partition, `ownership not confirmed (${describeError(e)})`);
        }
        await this.open(guard);
      }
      try {
        await this.sender!.send(records);
        this.deps.metrics.transactions.inc({ outcome: 'committed' });
        // cleared on every success, not only after a retry in this call: a batch abandoned while
        // blocked (ownership not confirmed) left the state set, and /ready red, for good
        this.deps.onBlocked?.(undefined);
        return;
      } catch (e) {
        const fenced = e instanceof ProducerFencedError;
        this.deps.metrics.transactions.inc({ outcome: fenced ? 'fenced' : 'failed' });
        this.deps.onBlocked?.('kafka', e);
        this.deps.logger.warn(
          { err: e, partition: this.deps.partition, attempt, records: records.length },
          fenced ? 'output producer fenced: checking that the partition is still ours' : 'output transaction failed; retrying on a new producer',
        );
        await backoff.wait();
      }
    }
  }

  /** The CountChanged records of a batch, to partition `p` of likes.counts (keyed post/partition, compacted). */
  async countChanged(changes: readonly CountChanged[]): Promise<TxRecord[]> {
    const { topics, codec, partition } = this.deps;
    const out = new Array<TxRecord>(changes.length);
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i];
      out[i] = { topic: topics.counts, partition, key: countKey(c.postId, c.partition), value: codec.encodeCountNow?.(c) ?? (await codec.encodeCount(c)) };
    }
    return out;
  }

  /** A dead letter for `record`, cut down to what the broker accepts (headers say so when it was cut). */
  deadLetter(record: ConsumedRecord, reason: DeadLetterReason, detail: string): TxRecord {
    const { topics, partition } = this.deps;
    return fitRecord<TxRecord>({
      topic: topics.deadLetter,
      // explicit, so the transaction's answer can be checked partition by partition (the dead-letter
      // topic has one partition; order across source partitions does not matter there)
      partition: 0,
      key: record.key,
      value: record.value,
      headers: {
        reason,
        detail: detail.slice(0, 1000),
        'source-topic': topics.events,
        'source-partition': String(partition),
        'source-offset': String(record.offset),
      },
    });
  }

  async close(): Promise<void> {
    const sender = this.sender;
    this.sender = undefined;
    await sender?.close();
  }

  private backoff(): Backoff {
    return new Backoff(this.deps.backoffMs?.initial ?? 100, this.deps.backoffMs?.max ?? 5000, this.deps.stopping);
  }
}
