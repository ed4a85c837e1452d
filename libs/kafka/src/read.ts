import type { Consumer, ConsumerRunConfig, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { randomBytes } from 'node:crypto';

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  timestamp: number;
  headers: Record<string, string>;
}

export interface ReadOptions {
  /** stop once this many records were read */
  count?: number;
  /** stop after this long without reaching `count` (ms) */
  timeoutMs?: number;
}

export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

/** A consumed kafkajs message as a ReadRecord (key as UTF-8, headers as strings). */
export function toReadRecord(topic: string, partition: number, message: KafkaMessage): ReadRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ? message.key.toString('utf8') : null,
    value: message.value,
    timestamp: Number(message.timestamp),
    headers: headersToStrings(message.headers),
  };
}

/**
 * Connects `consumer`, subscribes it to `topic` from the beginning and runs it (autoCommit off) with
 * the config `run` builds, until that config calls `done()`; disconnects in any case. When `timeoutMs`
 * passes first: rejects with `onTimeout`'s error, or resolves when `onTimeout` is 'resolve'.
 */
export async function consumeFromBeginning(
  consumer: Consumer,
  topic: string,
  timeoutMs: number,
  onTimeout: 'resolve' | (() => Error),
  run: (done: () => void) => Omit<ConsumerRunConfig, 'autoCommit'>,
): Promise<void> {
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => (onTimeout === 'resolve' ? resolve() : reject(onTimeout())), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      consumer.run({ autoCommit: false, ...run(done) }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Reads a topic from the beginning with a throw-away consumer group (nothing committed), until
 * `count` records arrived or `timeoutMs` passed. For tools and tests, not for the hot path.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  options: ReadOptions = {},
): Promise<ReadRecord[]> {
  const { count = Number.POSITIVE_INFINITY, timeoutMs = 15000 } = options;
  const consumer = kafka.consumer({
    groupId: `doubletap-reader-${randomBytes(6).toString('hex')}`,
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
  });
  const records: ReadRecord[] = [];
  await consumeFromBeginning(consumer, topic, timeoutMs, 'resolve', (done) => ({
    eachMessage: async ({ topic: t, partition, message }) => {
      records.push(toReadRecord(t, partition, message));
      if (records.length >= count) done();
    },
  }));
  return records;
}
