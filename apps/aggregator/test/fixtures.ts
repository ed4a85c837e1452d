import type { PartitionStatus } from '@doubletap/aggregation';
import { createIdempotentProducer, type Kafka } from '@doubletap/kafka';

export { countsFromTopic, groundTruth, produceActions, randomActions, type Action } from '@doubletap/testing';

export async function produceRaw(
  kafka: Kafka,
  topic: string,
  messages: { key: string; value: Buffer }[],
): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** Only the posts with a non-zero count (a post whose count went back to 0 may or may not appear). */
export function nonZero(m: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...m].filter(([, v]) => v !== 0).sort(([a], [b]) => a.localeCompare(b)));
}

export type { PartitionStatus };
export { aggregatorCaughtUp as caughtUp } from '@doubletap/testing';
