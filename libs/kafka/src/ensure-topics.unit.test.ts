import type { Kafka } from 'kafkajs';
import { ensureTopics } from './topics';

/** An admin whose createTopics fails the way kafkajs does when the broker it asks has not heard of the new topic yet. */
function fakeKafka(createError: Error & { type?: string }, leaderAfter: number) {
  let asked = 0;
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    listTopics: async () => [] as string[],
    createTopics: async () => {
      throw createError;
    },
    fetchTopicMetadata: async ({ topics }: { topics: string[] }) => {
      asked += 1;
      return { topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0, leader: asked > leaderAfter ? 1 : -1 }] })) };
    },
  };
  return { kafka: { admin: () => admin } as unknown as Kafka, asked: () => asked };
}

describe('ensureTopics', () => {
  it('waits for the leaders itself when kafkajs gives up on UNKNOWN_TOPIC_OR_PARTITION after creating the topics', async () => {
    const e = Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
    const { kafka, asked } = fakeKafka(e, 2);
    const result = await ensureTopics(kafka, [{ topic: 't', partitions: 1, config: {} }]);
    expect(result).toEqual([{ topic: 't', created: true, partitions: 1 }]);
    expect(asked()).toBeGreaterThanOrEqual(3); // polled until the leader showed, then read once more
  });

  it('any other error of createTopics still fails', async () => {
    const e = Object.assign(new Error('Topic with this name already exists'), { type: 'TOPIC_ALREADY_EXISTS' });
    const { kafka } = fakeKafka(e, 0);
    await expect(ensureTopics(kafka, [{ topic: 't', partitions: 1, config: {} }])).rejects.toThrow('already exists');
  });
});
