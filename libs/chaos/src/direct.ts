import { uuidv7, type EventCodec, type LikeEvent } from '@doubletap/events';
import { createIdempotentProducer, type Kafka } from '@doubletap/kafka';
import { likeKey, partitionForKey, seededRandom } from '@doubletap/likes';

export interface RawRecord {
  partition: number;
  key: string | null;
  value: Buffer;
}

/** Writes records straight to a topic (acks=all), bypassing the api: what an operator or a buggy producer does. */
export async function produceRaw(kafka: Kafka, topic: string, records: readonly RawRecord[], chunk = 2000): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += chunk)
      await producer.send({ topic, acks: -1, messages: records.slice(i, i + chunk).map((r) => ({ partition: r.partition, key: r.key, value: r.value })) });
  } finally {
    await producer.disconnect();
  }
}

/** `n` valid LIKE events of fresh users on `postIds`, keyed and routed as the api does; only those routed to `onlyPartition` when given. */
export async function validLikes(
  codec: EventCodec,
  postIds: readonly string[],
  n: number,
  partitions: number,
  onlyPartition?: number,
): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for (let i = 0; out.length < n; i++) {
    const event: LikeEvent = { eventId: uuidv7(), postId: postIds[i % postIds.length], userId: `chaos_direct_${i}`, action: 'LIKE', occurredAt: Date.now() };
    const key = likeKey(event.postId, event.userId);
    const partition = partitionForKey(key, partitions);
    if (onlyPartition !== undefined && partition !== onlyPartition) continue;
    out.push({ partition, key, value: await codec.encodeLike(event) });
  }
  return out;
}

/**
 * A poison storm, the same for the same seed: random bytes, a schema id the registry does not know
 * (magic byte, id, garbage), and valid Avro of the LikeEvent schema whose ids are invalid, spread
 * over the partitions. Random bytes that happen to start with the magic byte name random schema ids.
 */
export async function poisonRecords(codec: EventCodec, n: number, partitions: number, seed: number): Promise<RawRecord[]> {
  const random = seededRandom(seed);
  const bytes = (length: number) => Buffer.from(Array.from({ length }, () => random(256)));
  const out: RawRecord[] = [];
  const unknownId = Buffer.alloc(5);
  unknownId.writeUInt32BE(2_000_000_000, 1);
  for (let i = 0; i < n; i++) {
    const partition = i % partitions;
    const kind = i % 3;
    let value: Buffer;
    if (kind === 0) value = bytes(1 + random(200));
    else if (kind === 1) value = Buffer.concat([unknownId, bytes(20)]);
    else
      value = await codec.encodeLike({ eventId: `not-a-uuid-${i}`, postId: `bad post ${i}`, userId: 'u', action: 'LIKE', occurredAt: Date.now() });
    out.push({ partition, key: `poison-${i}`, value });
  }
  return out;
}
