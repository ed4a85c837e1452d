import type { Kafka } from 'kafkajs';
import type { BatchConsumerOptions } from './batch-consumer';
import { createBatchConsumer } from './consumers';

/** A kafkajs client whose consumer() only records the configuration it was given. */
function recordingKafka(): { kafka: Kafka; configs: Array<Record<string, unknown>> } {
  const configs: Array<Record<string, unknown>> = [];
  const kafka = {
    consumer(config: Record<string, unknown>) {
      configs.push(config);
      return { events: {}, on: () => undefined };
    },
  } as unknown as Kafka;
  return { kafka, configs };
}

const given = (kafka: Kafka, extra: Partial<BatchConsumerOptions> = {}): BatchConsumerOptions => ({
  kafka,
  groupId: 'g',
  topic: 't',
  handler: { onBatch: async () => undefined } as unknown as BatchConsumerOptions['handler'],
  ...extra,
});

const settings = (consumerClient: 'kafkajs' | 'platformatic', fetch: { fetchMinBytes?: number; fetchMaxWaitMs?: number } = {}) => ({
  kafka: { brokers: ['127.0.0.1:1'], clientId: 'c', consumerClient, sessionTimeoutMs: 10000, ...fetch },
});

describe('createBatchConsumer', () => {
  it('fetches with KAFKA_FETCH_MIN_BYTES / KAFKA_FETCH_MAX_WAIT_MS on kafkajs (the broker defaults when unset)', () => {
    const { kafka, configs } = recordingKafka();
    createBatchConsumer(settings('kafkajs', { fetchMinBytes: 65536, fetchMaxWaitMs: 20 }), given(kafka));
    createBatchConsumer(settings('kafkajs'), given(kafka));
    createBatchConsumer(settings('kafkajs', { fetchMinBytes: 65536 }), given(kafka, { minBytes: 1, maxWaitTimeMs: 300 }));
    expect(configs.map((c) => [c.minBytes, c.maxWaitTimeInMs])).toEqual([
      [65536, 20],
      [1, 100],
      [1, 300], // the caller's own choice wins
    ]);
  });

  it('hands the same pair to the @platformatic/kafka consumer', () => {
    const { kafka } = recordingKafka();
    const consumer = createBatchConsumer(settings('platformatic', { fetchMinBytes: 65536, fetchMaxWaitMs: 20 }), given(kafka));
    const { options } = consumer as unknown as { options: { minBytes?: number; maxWaitTimeMs?: number } };
    expect(options).toMatchObject({ minBytes: 65536, maxWaitTimeMs: 20 });
  });
});
