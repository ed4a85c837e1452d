import { loadSettings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  ensureTopics,
  topicNames,
  topicSpecs,
} from '@doubletap/kafka';
import { homePartition } from '@doubletap/likes';
import {
  freshNamesEnv,
  groundTruth,
  produceActions,
  randomActions,
  stackEnv,
  uniqueName,
} from '@doubletap/testing';
import { readCountChanges, readEvents } from './log-read';

describe('the scale run reading the logs back (recount, ids, evidence)', () => {
  const settings = loadSettings({
    ...stackEnv(),
    ...freshNamesEnv(uniqueName('scale-read')),
    TOPIC_PARTITIONS: '3',
  });
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'scale-read-test' });
  const codec = new EventCodec(settings.registry.url, settings.topics);

  beforeAll(async () => {
    await ensureTopics(kafka, topicSpecs(settings.topics));
    await codec.init();
  });
  afterAll(async () => {
    await deleteTopics(kafka, topicNames(settings.topics)).catch(() => undefined);
  });

  it('recounts likes.events per post and per partition, keeps every eventId, and traces the posts asked for', async () => {
    const actions = randomActions(600, 11, 5, 40);
    await produceActions(kafka, codec, settings.topics.events, actions);
    const truth = groundTruth(actions);
    const read = await readEvents(kafka, codec, settings.topics.events, new Set(['post-0']));
    expect(read.records).toBe(600);
    expect(read.ids.size).toBe(600);
    expect(read.duplicates).toBe(0);
    expect(read.skipped).toBe(0);
    expect(read.counts).toEqual(truth);
    // per partition: the recount of the post's pairs homed there, summing to its count
    const parts = read.perPartition.get('post-0')!;
    const expected = new Map<number, number>();
    for (const [pair, liked] of lastActions(actions.filter((a) => a.postId === 'post-0')))
      if (liked)
        expected.set(
          homePartition('post-0', pair, 3),
          (expected.get(homePartition('post-0', pair, 3)) ?? 0) + 1,
        );
    for (const [p, n] of expected) expect(parts.get(p)).toBe(n);
    expect([...parts.values()].reduce((a, b) => a + b, 0)).toBe(truth.get('post-0'));
    expect(read.trace.get('post-0')).toHaveLength(actions.filter((a) => a.postId === 'post-0').length);
    expect(read.perPartition.has('post-1')).toBe(false);
  });

  it('reads the CountChanged records of the posts asked for, with their partition and source offset', async () => {
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    try {
      const records = [
        { postId: 'a', partition: 0, count: 3, sourceOffset: 10 },
        { postId: 'b', partition: 1, count: 1, sourceOffset: 4 },
        { postId: 'a', partition: 0, count: 4, sourceOffset: 12 },
      ];
      for (const c of records)
        await producer.send({
          topic: settings.topics.counts,
          acks: -1,
          messages: [
            { key: `${c.postId}/${c.partition}`, value: await codec.encodeCount(c), partition: c.partition },
          ],
        });
    } finally {
      await producer.disconnect();
    }
    const changes = await readCountChanges(kafka, codec, settings.topics.counts, new Set(['a']));
    expect(
      changes.map(({ postId, partition, count, sourceOffset }) => ({
        postId,
        partition,
        count,
        sourceOffset,
      })),
    ).toEqual([
      { postId: 'a', partition: 0, count: 3, sourceOffset: 10 },
      { postId: 'a', partition: 0, count: 4, sourceOffset: 12 },
    ]);
  });
});

/** user → liked after their last action (in order) */
function lastActions(actions: ReadonlyArray<{ userId: string; action: string }>): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const a of actions) out.set(a.userId, a.action === 'LIKE');
  return out;
}
