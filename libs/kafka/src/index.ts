export { createKafka } from './client';
export type { Kafka, KafkaClientOptions } from './client';
export { murmur2, partitionForKey } from './partitioner';
export { deleteTopics, durabilityConfig, ensureTopics, partitionCount, topicSpecs } from './topics';
export type { EnsureResult, TopicNames, TopicSpec } from './topics';
export { headersToStrings, readTopic } from './read';
export type { ReadOptions, ReadRecord } from './read';
export { createIdempotentProducer } from './producer';
export type { Producer, RecordMetadata } from './producer';
export { BatchConsumer } from './batch-consumer';
export type { Assignment, BatchConsumerOptions, BatchContext, BatchHandler, ConsumedRecord } from './batch-consumer';
export {
  BatchingProducer,
  KafkaBatchSink,
  ProducerOverloadedError,
  ProducerUnavailableError,
} from './batching-producer';
export type {
  BatchingOptions,
  BatchObserver,
  KafkaBatchSinkOptions,
  OutboundMessage,
  SendBatch,
} from './batching-producer';
export { drainTopic, readTopicToEnd, topicOffsets } from './offsets';
export type { PartitionOffsets } from './offsets';
export { createOffsetsReader, OffsetsReader } from './group-offsets';
export type { GroupOffsets, PartitionOffsets as GroupPartitionOffsets } from './group-offsets';
export { offsetsForTime, readRanges } from './range-reader';
export type { ReadRange, ReadRangesOptions } from './range-reader';
export { describeTopics, partitionLeaders } from './describe';
export type { PartitionLeader, TopicDescription } from './describe';
