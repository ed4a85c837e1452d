import { unacknowledged, UnacknowledgedError } from './acks';
import {
  type BatchSink,
  type KafkaBatchSinkOptions,
  PartitionCountMismatchError,
  ProducerUnavailableError,
  type SendBatch,
} from './batching-producer';
import { partitionForKey } from './partitioner';
import { platformatic, type Platformatic } from './platformatic';
import { ReplaceableProducer } from './replaceable-producer';

type Producer = Platformatic.Producer<Buffer, Buffer, Buffer, Buffer>;

/** What the sink takes from @platformatic/kafka. */
export type PlatformaticLibrary = Pick<
  typeof Platformatic,
  'Producer' | 'ProduceAcks' | 'compatibilityPartitioner'
>;

export interface PlatformaticBatchSinkOptions extends KafkaBatchSinkOptions {
  brokers: string[];
  clientId: string;
  /** the library (default: @platformatic/kafka, loaded on first use); unit tests pass a fake */
  library?: () => PlatformaticLibrary;
}

/**
 * The Kafka side of a BatchingProducer on @platformatic/kafka (docs/adr/0012-platformatic-kafka-producer.md),
 * with the contract of {@link KafkaBatchSink}:
 * - one idempotent producer, acks=all. Its retries (2, the fewest it honours: an idempotent producer
 *   with 0 or 1 retries is given unlimited ones) resend a batch to the same partitions with the same
 *   sequence numbers, so a retry that follows a lost ack is dropped by the broker as a duplicate
 *   instead of written twice; a request timeout is never retried, so its verdict comes within
 *   about `timeoutMs`;
 * - every partition a batch went to must be acknowledged, or the call rejects;
 * - after any failed send the producer is closed (its retries stop) and a new one, with a new producer
 *   id, is connected before anything else is sent: the failed batch may have been written, and the
 *   next batch would reuse its sequence numbers and be acknowledged as its duplicate without being
 *   written (issue 10, ADR 0007);
 * - every record is sent with its partition set: our `partitionForKey` (Java's murmur2 and
 *   toPositive, the partition kafkajs and Java clients choose; `Math.imul`, where the library's
 *   `compatibilityPartitioner` hashes with BigInt), over the topic's partition count, which must be
 *   the pinned one: another count is refused before anything is sent (ADR 0010). The key is turned
 *   into bytes once, for the hash and for the record (no key serializer). ADR 0020.
 */
export class PlatformaticBatchSink extends ReplaceableProducer<Producer> implements BatchSink {
  /** resolved here, so a library that cannot load fails the app at construction, not in the background */
  private readonly library: PlatformaticLibrary;

  constructor(private readonly options: PlatformaticBatchSinkOptions) {
    super({ topic: options.topic, client: 'platformatic', logger: options.logger });
    this.library = (options.library ?? platformatic)();
  }

  send: SendBatch = async (messages) => {
    const producer = this.producer;
    if (!producer || !this.isConnected)
      throw new ProducerUnavailableError('the Kafka producer is not connected');
    const { topic } = this.options;
    try {
      // cached metadata (refreshed every few seconds): the count the client will place keys over
      const partitions =
        (await producer.metadata({ topics: [topic] })).topics.get(topic)?.partitionsCount ?? 0;
      const pinned = this.options.pinnedPartitions;
      if (pinned !== undefined && partitions !== pinned)
        throw new PartitionCountMismatchError(topic, partitions, pinned);
      if (partitions < 1) throw new Error(`the metadata of ${topic} has no partitions`);
      const records = new Array<{ topic: string; key: Buffer; value: Buffer; partition: number }>(
        messages.length,
      );
      const sent = new Set<number>();
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i];
        const key = Buffer.from(m.key, 'utf8');
        const partition = partitionForKey(key, partitions);
        sent.add(partition);
        records[i] = { topic, key, value: m.value, partition };
      }
      const answer = await producer.send({ messages: records });
      const acked = (answer.offsets ?? []).map((o) => ({
        topicName: o.topic,
        partition: o.partition,
        errorCode: 0,
      }));
      const missing = unacknowledged(
        [...sent].map((partition) => ({ topic, partition })),
        acked,
      );
      if (missing.length > 0) throw new UnacknowledgedError(missing);
    } catch (e) {
      if (e instanceof PartitionCountMismatchError) throw e; // refused before anything was sent
      this.options.logger?.warn({ err: e }, 'produce failed; recreating the Kafka producer');
      this.retire(producer);
      throw new ProducerUnavailableError(`Kafka did not acknowledge the batch: ${describe(e)}`, false, {
        cause: e,
      });
    }
  };

  protected create(): Producer {
    const { Producer, ProduceAcks, compatibilityPartitioner } = this.library;
    const { timeoutMs } = this.options;
    const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
      clientId: this.options.clientId,
      bootstrapBrokers: this.options.brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      // every record comes with its partition; this places only a record that would not
      partitioner: compatibilityPartitioner,
      autocreateTopics: false,
      retries: 2,
      retryDelay: 100,
      // the broker's ack wait and our wait for an answer: one attempt ends within timeoutMs
      timeout: timeoutMs,
      requestTimeout: timeoutMs,
      connectTimeout: Math.min(1000, timeoutMs),
    });
    // a broker connection that closes leaves this producer's state unknown to us: start over
    producer.on('client:broker:disconnect', () => {
      if (this.producer === producer) this.discard('a broker connection closed');
    });
    return producer;
  }

  protected async open(producer: Producer): Promise<void> {
    await producer.metadata({ topics: [this.options.topic], forceUpdate: true });
    await producer.initIdempotentProducer({});
  }

  /** Closes the producer, ending its pending retries; never rejects. */
  protected close(producer: Producer): Promise<void> {
    return new Promise((resolve) => producer.close(true, () => resolve()));
  }
}

/**
 * One line from a @platformatic/kafka error: its messages say "Producing messages failed." around
 * the reason, which sits in nested `errors` (MultipleErrors) as a broker error id (`apiId`) or a
 * network error's message.
 */
function describe(e: unknown, depth = 0): string {
  if (!(e instanceof Error)) return String(e);
  const o = e as Error & { apiId?: string; errors?: unknown[]; serverErrorMessage?: string | null };
  if (o.apiId) return o.serverErrorMessage ? `${o.apiId} (${o.serverErrorMessage})` : o.apiId;
  const inner =
    depth < 4 && Array.isArray(o.errors) ? [...new Set(o.errors.map((x) => describe(x, depth + 1)))] : [];
  if (inner.length > 0) return `${o.message} ${inner.join('; ')}`;
  return o.cause && depth < 4 ? `${o.message} ${describe(o.cause, depth + 1)}` : o.message;
}
