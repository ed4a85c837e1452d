import { EventCodec, uuidv7, type CountChanged } from '@doubletap/events';
import { createIdempotentProducer, readTopicToEnd, type Kafka } from '@doubletap/kafka';
import { expectedCounts, likeKey, newestPerPartition, seededRandom, totalOf, type LikeAction } from '@doubletap/likes';

/** One viewer action, as tests produce them. */
export interface Action {
  postId: string;
  userId: string;
  action: LikeAction;
}

/**
 * Seeded likes and unlikes over a small id space (`<postPrefix><n>` × `u<n>`): plenty of double taps
 * and stray unlikes. `likeShare` of them are likes.
 */
export function randomActions(n: number, seed: number, posts = 20, users = 50, options: { postPrefix?: string; likeShare?: number } = {}): Action[] {
  const rnd = seededRandom(seed);
  const share = Math.round((options.likeShare ?? 0.65) * 1000);
  const prefix = options.postPrefix ?? 'post-';
  return Array.from({ length: n }, () => ({
    postId: `${prefix}${rnd(posts)}`,
    userId: `u${rnd(users)}`,
    action: rnd(1000) < share ? 'LIKE' : 'UNLIKE',
  }));
}

/** The truth from the one oracle (libs/likes), with a zero for every post in `posts` never liked. */
export function groundTruth(actions: readonly Action[], posts: readonly string[] = []): Map<string, number> {
  const out = expectedCounts(actions);
  for (const p of posts) if (!out.has(p)) out.set(p, 0);
  return out;
}

/** What readers of likes.counts end with: the merge rule (libs/likes) over every record, summed per post. */
export function totalsOf(changes: readonly CountChanged[], rebuildMode = false): Map<string, number> {
  const out = new Map<string, number>();
  for (const [postId, parts] of newestPerPartition(changes, rebuildMode)) out.set(postId, totalOf(parts.values()));
  return out;
}

/** likes.counts read back to its end and merged (the later of equal offsets wins, as in the log). */
export async function countsFromTopic(kafka: Kafka, codec: EventCodec, topic: string): Promise<Map<string, number>> {
  const changes: CountChanged[] = [];
  for (const r of await readTopicToEnd(kafka, topic)) {
    const c = await codec.decodeCount(r.value);
    if (r.key !== `${c.postId}/${c.partition}`) throw new Error(`CountChanged key ${r.key} does not match ${c.postId}/${c.partition}`);
    changes.push(c);
  }
  return totalsOf(changes, true);
}

/** Produces the actions in order as LikeEvents (idempotent producer, acks=all), `chunk` records per request. */
export async function produceActions(kafka: Kafka, codec: EventCodec, topic: string, actions: readonly Action[], chunk = 500): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    for (let i = 0; i < actions.length; i += chunk) {
      const messages = actions.slice(i, i + chunk).map((a) => {
        const event = { eventId: uuidv7(), ...a, occurredAt: Date.now() };
        return { key: likeKey(a.postId, a.userId), value: codec.encodeLikeNow(event)! };
      });
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}
