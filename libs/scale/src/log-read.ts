import type { EventCodec } from '@doubletap/events';
import { readRanges, topicOffsets, type Kafka } from '@doubletap/kafka';
import { LastActionOracle, likeKey, partitionForKey } from '@doubletap/likes';

/** What likes.events holds, read back to its end. */
export interface EventsRead {
  records: number;
  /** every eventId in the log */
  ids: Set<string>;
  /** events per eventId seen more than once */
  duplicates: number;
  /** the recount per post (the aggregator's validity rules: a record off its home partition does not count) */
  counts: Map<string, number>;
  /** the recount per post and partition, for the posts in `trace` */
  perPartition: Map<string, Map<number, number>>;
  /** every event of the posts in `trace`: partition, offset, user, action */
  trace: Map<
    string,
    Array<{ partition: number; offset: number; userId: string; action: string; eventId: string }>
  >;
  /** records it could not decode, or off their home partition */
  skipped: number;
}

/** Reads likes.events from its start to its end now: the ids in it and an independent recount (libs/likes' oracle). */
export async function readEvents(
  kafka: Kafka,
  codec: EventCodec,
  topic: string,
  trace: ReadonlySet<string> = new Set(),
): Promise<EventsRead> {
  const ends = await topicOffsets(kafka, topic);
  const ids = new Set<string>();
  let duplicates = 0;
  let skipped = 0;
  // one oracle per partition: each (post, user) lives on one partition, so the sum is the count
  const oracles = new Map<number, LastActionOracle>();
  const traced = new Map<
    string,
    Array<{ partition: number; offset: number; userId: string; action: string; eventId: string }>
  >();
  const { records } = await readRanges({
    kafka,
    topic,
    ranges: ends.map((e) => ({ partition: e.partition, from: e.low, to: e.high })),
    onBatch: async (partition, batch) => {
      let oracle = oracles.get(partition);
      if (!oracle) oracles.set(partition, (oracle = new LastActionOracle()));
      for (const r of batch) {
        let event;
        try {
          event = codec.decodeLikeSync(r.value) ?? (await codec.decodeLike(r.value));
        } catch {
          skipped++;
          continue;
        }
        const key = likeKey(event.postId, event.userId);
        if (r.key !== key || partitionForKey(key, ends.length) !== partition) {
          skipped++;
          continue;
        }
        if (ids.has(event.eventId)) duplicates++;
        ids.add(event.eventId);
        oracle.add(event);
        if (trace.has(event.postId)) {
          let list = traced.get(event.postId);
          if (!list) traced.set(event.postId, (list = []));
          list.push({
            partition,
            offset: r.offset,
            userId: event.userId,
            action: event.action,
            eventId: event.eventId,
          });
        }
      }
    },
  });
  const counts = new Map<string, number>();
  const perPartition = new Map<string, Map<number, number>>();
  for (const [partition, oracle] of oracles)
    for (const [post, n] of oracle.counts()) {
      counts.set(post, (counts.get(post) ?? 0) + n);
      if (trace.has(post)) {
        let m = perPartition.get(post);
        if (!m) perPartition.set(post, (m = new Map<number, number>()));
        m.set(partition, n);
      }
    }
  return { records, ids, duplicates, counts, perPartition, trace: traced, skipped };
}

/** Every CountChanged of `posts` in likes.counts, in log order per partition: the trace of what the aggregators published. */
export async function readCountChanges(
  kafka: Kafka,
  codec: EventCodec,
  topic: string,
  posts: ReadonlySet<string>,
): Promise<
  Array<{ postId: string; partition: number; offset: number; count: number; sourceOffset: number }>
> {
  const ends = await topicOffsets(kafka, topic);
  const out: Array<{
    postId: string;
    partition: number;
    offset: number;
    count: number;
    sourceOffset: number;
  }> = [];
  await readRanges({
    kafka,
    topic,
    ranges: ends.map((e) => ({ partition: e.partition, from: e.low, to: e.high })),
    onBatch: async (_p, batch) => {
      for (const r of batch) {
        if (!r.value) continue;
        const c = codec.decodeCountSync(r.value) ?? (await codec.decodeCount(r.value));
        if (posts.has(c.postId))
          out.push({
            postId: c.postId,
            partition: c.partition,
            offset: r.offset,
            count: c.count,
            sourceOffset: Number(c.sourceOffset),
          });
      }
    },
  });
  return out;
}
