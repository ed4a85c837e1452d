import { loadSettings } from '@doubletap/config';
import { EventCodec, likeKey, uuidv7, type LikeEvent } from '@doubletap/events';
import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  ensureTopics,
  partitionForKey,
  readTopic,
  topicSpecs,
} from '@doubletap/kafka';
import { stackEnv, uniqueName } from '@doubletap/testing';

describe('LikeEvent through the registry and Kafka', () => {
  const settings = loadSettings(stackEnv());
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'test' });
  const names = {
    events: uniqueName('t-events'),
    counts: uniqueName('t-counts'),
    deadLetter: uniqueName('t-dlq'),
    partitions: 4,
  };

  beforeAll(async () => {
    await ensureTopics(kafka, topicSpecs(names));
  });
  afterAll(async () => {
    await deleteTopics(kafka, [names.events, names.counts, names.deadLetter]);
  });

  it('is produced in the Confluent wire format and consumed back equal, on the key partition', async () => {
    const codec = new EventCodec(settings.registry.url, names);
    const { likeEventId } = await codec.init();
    const sent: LikeEvent[] = Array.from({ length: 20 }, (_, i) => ({
      eventId: uuidv7(),
      postId: `post_${i % 3}`,
      userId: `user-${i}`,
      action: i % 4 === 0 ? 'UNLIKE' : 'LIKE',
      occurredAt: Date.now() - i,
    }));
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    try {
      await producer.send({
        topic: names.events,
        acks: -1,
        messages: await Promise.all(
          sent.map(async (e) => ({ key: likeKey(e.postId, e.userId), value: await codec.encodeLike(e) })),
        ),
      });
    } finally {
      await producer.disconnect();
    }

    const records = await readTopic(kafka, names.events, { count: sent.length });
    expect(records).toHaveLength(sent.length);
    const received = new Map<string, LikeEvent>();
    for (const r of records) {
      expect(r.value![0]).toBe(0); // magic byte
      expect(r.value!.readInt32BE(1)).toBe(likeEventId);
      const event = await codec.decodeLike(r.value);
      expect(r.key).toBe(likeKey(event.postId, event.userId));
      expect(r.partition).toBe(partitionForKey(r.key!, 4));
      received.set(event.eventId, event);
    }
    for (const e of sent) expect(received.get(e.eventId)).toEqual(e);
  });
});
