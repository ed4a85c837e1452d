import type { Logger } from '@doubletap/observability';
import { type BatchSink, KafkaBatchSink } from './batching-producer';
import { createKafka } from './client';
import { PlatformaticBatchSink } from './platformatic-sink';

/** The Kafka clients a BatchingProducer can produce through (docs/adr/0012-platformatic-kafka-producer.md). */
export const KAFKA_PRODUCER_CLIENTS = ['kafkajs', 'platformatic'] as const;
export type KafkaProducerClient = (typeof KAFKA_PRODUCER_CLIENTS)[number];

export interface BatchSinkOptions {
  client: KafkaProducerClient;
  brokers: string[];
  clientId: string;
  topic: string;
  /** the partition count the keys are routed over; a topic with another count is refused */
  pinnedPartitions?: number;
  /** bounds one produce call: request timeout and the broker's ack wait (ms) */
  timeoutMs: number;
  logger?: Logger;
}

/** The sink of the chosen client, configured with the same bounds (acks=all, timeouts, pinned count). */
export function createBatchSink(options: BatchSinkOptions): BatchSink {
  const { client, brokers, clientId, topic, pinnedPartitions, timeoutMs, logger } = options;
  if (client === 'platformatic')
    return new PlatformaticBatchSink({ brokers, clientId, topic, pinnedPartitions, timeoutMs, logger });
  const kafka = createKafka({
    brokers,
    clientId,
    logger: logger?.child({ component: 'kafka' }),
    connectionTimeout: Math.min(1000, timeoutMs),
    requestTimeout: timeoutMs,
    retries: 2,
  });
  return new KafkaBatchSink(kafka, { topic, pinnedPartitions, timeoutMs, logger });
}
