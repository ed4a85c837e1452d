export { createKafka } from './client';
export type { Kafka, KafkaClientOptions } from './client';
export { murmur2, partitionForKey } from './partitioner';
export { deleteTopics, ensureTopics, partitionCount, topicSpecs } from './topics';
export type { EnsureResult, TopicNames, TopicSpec } from './topics';
export { headersToStrings, readTopic } from './read';
export type { ReadOptions, ReadRecord } from './read';
export { createIdempotentProducer } from './producer';
export type { Producer, RecordMetadata } from './producer';
