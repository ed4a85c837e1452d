import { Partitioners, type Kafka, type Producer } from 'kafkajs';

export type { Producer, RecordMetadata } from 'kafkajs';

/**
 * An idempotent producer (acks=all, in-order retries without duplicates). kafkajs requires
 * maxInFlightRequests=1 for idempotence; throughput comes from batching many records per request.
 */
export function createIdempotentProducer(
  kafka: Kafka,
  options: { transactionTimeout?: number } = {},
): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // kafkajs 2's default (Java-compatible murmur2), named so kafkajs does not warn about the v2 change
    createPartitioner: Partitioners.DefaultPartitioner,
    transactionTimeout: options.transactionTimeout,
    retry: { retries: 5, initialRetryTime: 50, maxRetryTime: 1000 },
  });
}
