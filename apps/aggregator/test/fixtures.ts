import { EventCodec, likeKey, uuidv7, type CountChanged, type LikeAction } from '@doubletap/events';
import { createIdempotentProducer, readTopicToEnd, topicOffsets, type Kafka } from '@doubletap/kafka';
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

/** The truth, computed without the decider: a user counts for a post when their LAST action on it is LIKE. */
export function groundTruth(actions: readonly Action[]): Map<string, number> {
  const last = new Map<string, Action>();
  for (const a of actions) last.set(`${a.postId}/${a.userId}`, a);
  const counts = new Map<string, number>();
  for (const a of actions) if (!counts.has(a.postId)) counts.set(a.postId, 0);
  for (const a of last.values()) if (a.action === 'LIKE') counts.set(a.postId, (counts.get(a.postId) ?? 0) + 1);
  return counts;
}

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

/** Latest CountChanged per (post, partition) on the counts topic, summed per post. */
export async function countsFromTopic(kafka: Kafka, codec: EventCodec, topic: string): Promise<Map<string, number>> {
  const latest = new Map<string, CountChanged>();
  for (const r of await readTopicToEnd(kafka, topic)) {
    const c = await codec.decodeCount(r.value);
    expectKey(r.key, c);
    const prev = latest.get(r.key!);
    if (!prev || c.sourceOffset >= prev.sourceOffset) latest.set(r.key!, c);
  }
  const sums = new Map<string, number>();
  for (const c of latest.values()) sums.set(c.postId, (sums.get(c.postId) ?? 0) + c.count);
  return sums;
}

function expectKey(key: string | null, c: CountChanged): void {
  if (key !== `${c.postId}/${c.partition}`) throw new Error(`CountChanged key ${key} does not match ${c.postId}/${c.partition}`);
}

/** Only the posts with a non-zero count (a post whose count went back to 0 may or may not appear). */
export function nonZero(m: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...m].filter(([, v]) => v !== 0).sort(([a], [b]) => a.localeCompare(b)));
}

export interface PartitionStatus {
  partition: number;
  storedOffset: number | null;
  restoring: boolean;
  outbox: number;
}

/** True when, for every partition with records, some status shows it fully applied with an empty outbox. */
export async function caughtUp(kafka: Kafka, topic: string, statuses: readonly PartitionStatus[]): Promise<boolean> {
  const ends = await topicOffsets(kafka, topic);
  return ends.every((e) => {
    if (e.high === e.low) return true;
    return statuses.some((s) => s.partition === e.partition && s.storedOffset === e.high - 1 && s.outbox === 0);
  });
}
