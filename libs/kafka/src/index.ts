export { createKafka } from './client';
export type { Kafka, KafkaClientOptions } from './client';
export { kafkajsPartition, murmur2, partitionForKey } from './partitioner';
export { addPartitions, deleteTopics, durabilityConfig, ensureTopics, partitionCount, topicNames, topicSpecs } from './topics';
export type { EnsureResult, TopicNames, TopicSpec } from './topics';
export { headersToStrings, readTopic } from './read';
export type { ReadOptions, ReadRecord } from './read';
export { createIdempotentProducer } from './producer';
export type { Producer, RecordMetadata } from './producer';
export { BatchConsumer } from './batch-consumer';
export type {
  Assignment,
  BatchConsumerOptions,
  BatchContext,
  BatchHandler,
  ConsumedRecord,
  ConsumerStatus,
  GroupConsumer,
} from './batch-consumer';
export { PlatformaticBatchConsumer } from './platformatic-consumer';
export type { PlatformaticBatchConsumerOptions } from './platformatic-consumer';
export { createBatchConsumer, KAFKA_CONSUMER_CLIENTS } from './consumers';
export { consumerDead, consumerNotReady, coordinatorSilenceGauge, coordinatorSilenceMs, type ConsumerHealthLimits } from './consumer-health';
export type { ConsumerClientSettings, KafkaConsumerClient } from './consumers';
export {
  BatchingProducer,
  KafkaBatchSink,
  PartitionCountMismatchError,
  pinnedKeyHashPartitioner,
  ProducerOverloadedError,
  ProducerUnavailableError,
} from './batching-producer';
export { chunkBySize, DEFAULT_CHUNK_BYTES, fitRecord, recordSize } from './chunks';
export type { SizedRecord } from './chunks';
export { describeError, isFencingError, isRecordTooLarge } from './errors';
export { TopicIdentityReader } from './identity';
export type { TopicIdentity } from './identity';
export { TopicGuard } from './topic-guard';
export type { TopicGuardState } from './topic-guard';
export { unacknowledged, UnacknowledgedError } from './acks';
export type { TopicPartition } from './acks';
export { ProducerFencedError, TransactionalSender, TransactionFailedError } from './transactional-sender';
export type { TransactionalSenderOptions, TxRecord } from './transactional-sender';
export { PlatformaticBatchSink } from './platformatic-sink';
export type { PlatformaticBatchSinkOptions, PlatformaticLibrary } from './platformatic-sink';
export { createBatchSink, KAFKA_PRODUCER_CLIENTS } from './sinks';
export type { BatchSinkOptions, KafkaProducerClient } from './sinks';
export type {
  BatchingOptions,
  BatchObserver,
  BatchSink,
  KafkaBatchSinkOptions,
  OutboundMessage,
  SendBatch,
} from './batching-producer';
export { deleteRecordsBefore, drainTopic, readTopicToEnd, topicOffsets } from './offsets';
export type { PartitionOffsets } from './offsets';
export { createOffsetsReader, OffsetsReader } from './group-offsets';
export type { GroupOffsets, PartitionOffsets as GroupPartitionOffsets } from './group-offsets';
export { offsetsForTime, readRanges } from './range-reader';
export type { ReadRange, ReadRangesOptions } from './range-reader';
export { describeTopics, partitionLeaders } from './describe';
export type { PartitionLeader, TopicDescription } from './describe';
export { stickyAssignment, type MemberClaim } from './sticky-assignment';
export { PartitionTail } from './partition-tail';
export type { PartitionTailOptions, TailFetch, TailRecord } from './partition-tail';
