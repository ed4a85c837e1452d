import { EventCodec, likeKey, uuidv7, type CountChanged, type LikeAction } from '@doubletap/events';
import type { PartitionStatus } from '@doubletap/aggregation';
import { createIdempotentProducer, readTopicToEnd, topicOffsets, type Kafka } from '@doubletap/kafka';
import { expectedCounts, newestPerPartition, totalOf } from '@doubletap/likes';
import { rng } from '@doubletap/loadgen';

export interface Action {
  postId: string;
  userId: string;
  action: LikeAction;
}

export { rng };

/** Random likes and unlikes over a small id space: plenty of double taps and repeated unlikes. */
export function randomActions(n: number, seed: number, posts = 20, users = 50): Action[] {
  const next = rng(seed);
  const out: Action[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      postId: `post-${Math.floor(next() * posts)}`,
      userId: `u${Math.floor(next() * users)}`,
      action: next() < 0.65 ? 'LIKE' : 'UNLIKE',
    });
  }
  return out;
}

/** The truth from the one oracle (libs/likes): a user counts for a post when their LAST action on it is LIKE. */
export const groundTruth = (actions: readonly Action[]): Map<string, number> => expectedCounts(actions);

/** Produces the actions in order (idempotent producer, acks=all), `chunk` records per request. */
export async function produceActions(
  kafka: Kafka,
  codec: EventCodec,
  topic: string,
  actions: readonly Action[],
  chunk = 500,
): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    for (let i = 0; i < actions.length; i += chunk) {
      const messages = await Promise.all(
        actions.slice(i, i + chunk).map(async (a) => ({
          key: likeKey(a.postId, a.userId),
          value: await codec.encodeLike({ eventId: uuidv7(), ...a, occurredAt: Date.now() }),
        })),
      );
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

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

/** The counts topic read back with the merge rule (highest source offset per (post, partition), later wins on ties), summed per post. */
export async function countsFromTopic(kafka: Kafka, codec: EventCodec, topic: string): Promise<Map<string, number>> {
  const changes: CountChanged[] = [];
  for (const r of await readTopicToEnd(kafka, topic)) {
    const c = await codec.decodeCount(r.value);
    expectKey(r.key, c);
    changes.push(c);
  }
  const sums = new Map<string, number>();
  for (const [postId, parts] of newestPerPartition(changes, true)) sums.set(postId, totalOf(parts.values()));
  return sums;
}

function expectKey(key: string | null, c: CountChanged): void {
  if (key !== `${c.postId}/${c.partition}`) throw new Error(`CountChanged key ${key} does not match ${c.postId}/${c.partition}`);
}

/** Only the posts with a non-zero count (a post whose count went back to 0 may or may not appear). */
export function nonZero(m: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...m].filter(([, v]) => v !== 0).sort(([a], [b]) => a.localeCompare(b)));
}

export type { PartitionStatus };

/** True when, for every partition with records, some status shows it fully applied, live, nothing left to publish. */
export async function caughtUp(kafka: Kafka, topic: string, statuses: readonly PartitionStatus[]): Promise<boolean> {
  const ends = await topicOffsets(kafka, topic);
  return ends.every((e) => {
    if (e.high === e.low) return true;
    return statuses.some((s) => s.partition === e.partition && s.storedOffset === e.high - 1 && s.phase === 'live' && s.dirty === 0);
  });
}
