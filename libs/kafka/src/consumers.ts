import { BatchConsumer, type BatchConsumerOptions, type GroupConsumer } from './batch-consumer';
import { PlatformaticBatchConsumer } from './platformatic-consumer';

/** The Kafka clients a consumer-group member can run on (docs/adr/0019-kip848-consumer.md). */
export const KAFKA_CONSUMER_CLIENTS = ['kafkajs', 'platformatic'] as const;
export type KafkaConsumerClient = (typeof KAFKA_CONSUMER_CLIENTS)[number];

/** The part of the settings the factory reads (libs/config Settings has it). */
export interface ConsumerClientSettings {
  kafka: {
    brokers: string[];
    clientId: string;
    consumerClient: KafkaConsumerClient;
    sessionTimeoutMs?: number;
    /** KAFKA_FETCH_MIN_BYTES / KAFKA_FETCH_MAX_WAIT_MS */
    fetchMinBytes?: number;
    fetchMaxWaitMs?: number;
  };
}

/**
 * A batch consumer on the configured client (KAFKA_CONSUMER_CLIENT): kafkajs (classic protocol,
 * eager rebalances: every member stops) or @platformatic/kafka with the KIP-848 consumer protocol
 * (incremental: only moved partitions are revoked). Both keep the {@link BatchConsumer} contract.
 */
export function createBatchConsumer(
  settings: ConsumerClientSettings,
  given: BatchConsumerOptions,
): GroupConsumer {
  // KAFKA_SESSION_TIMEOUT_MS and the KAFKA_FETCH_* pair unless the caller chose its own
  const options = {
    ...given,
    sessionTimeoutMs: given.sessionTimeoutMs ?? settings.kafka.sessionTimeoutMs,
    minBytes: given.minBytes ?? settings.kafka.fetchMinBytes,
    maxWaitTimeMs: given.maxWaitTimeMs ?? settings.kafka.fetchMaxWaitMs,
  };
  if (settings.kafka.consumerClient === 'platformatic') {
    const { kafka: _kafka, ...rest } = options;
    return new PlatformaticBatchConsumer({
      ...rest,
      brokers: settings.kafka.brokers,
      clientId: settings.kafka.clientId,
    });
  }
  return new BatchConsumer(options);
}
