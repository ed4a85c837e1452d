import type { CountChanged, EventCodec, LikeAction } from '@doubletap/events';
import { type Kafka, readTopicToEnd, topicOffsets } from '@doubletap/kafka';
import { rng } from '@doubletap/loadgen';

export interface Action {
  postId: string;
  userId: string;
  action: LikeAction;
}

/** Random likes and unlikes over a small id space (`<postPrefix><n>`): plenty of double taps and repeated unlikes. */
export function randomActions(
  n: number,
  seed: number,
  posts: number,
  users: number,
  postPrefix = 'post-',
): Action[] {
  const next = rng(seed);
  return Array.from({ length: n }, () => ({
    postId: `${postPrefix}${Math.floor(next() * posts)}`,
    userId: `u${Math.floor(next() * users)}`,
    action: next() < 0.65 ? ('LIKE' as const) : ('UNLIKE' as const),
  }));
}

/** The truth, computed without the decider: a user counts for a post when their LAST action on it is LIKE. */
export function groundTruth(actions: readonly Action[], posts: readonly string[]): Record<string, number> {
  const last = new Map<string, Action>();
  for (const a of actions) last.set(`${a.postId}/${a.userId}`, a);
  const counts: Record<string, number> = Object.fromEntries(posts.map((p) => [p, 0]));
  for (const a of last.values()) if (a.action === 'LIKE') counts[a.postId] = (counts[a.postId] ?? 0) + 1;
  return counts;
}

/** Latest CountChanged per (post, partition) on the counts topic, summed per post: what the projector must end with. */
export async function countsFromTopic(
  kafka: Kafka,
  codec: EventCodec,
  topic: string,
): Promise<Map<string, number>> {
  const latest = new Map<string, CountChanged>();
  for (const r of await readTopicToEnd(kafka, topic)) {
    const c = await codec.decodeCount(r.value);
    const key = `${c.postId}/${c.partition}`;
    const prev = latest.get(key);
    if (!prev || c.sourceOffset >= prev.sourceOffset) latest.set(key, c);
  }
  const sums = new Map<string, number>();
  for (const c of latest.values()) sums.set(c.postId, (sums.get(c.postId) ?? 0) + c.count);
  return sums;
}

export interface PartitionStatus {
  partition: number;
  storedOffset: number | null;
  phase: string;
  dirty: number;
}

/** True when, for every partition with records, the aggregator applied up to its end, is live and has nothing left to publish. */
export async function caughtUp(
  kafka: Kafka,
  topic: string,
  statuses: readonly PartitionStatus[],
): Promise<boolean> {
  const ends = await topicOffsets(kafka, topic);
  return ends.every(
    (e) =>
      e.high === e.low ||
      statuses.some((s) => s.partition === e.partition && s.storedOffset === e.high - 1 && s.phase === 'live' && s.dirty === 0),
  );
}
