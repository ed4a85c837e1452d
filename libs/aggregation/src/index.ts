export { Aggregator } from './aggregator';
export type { AggregatorDeps, AggregatorFaults } from './aggregator';
export { KafkaChangelog } from './changelog';
export type { ChangelogIO, ChangelogState } from './changelog';
export { createAggregatorMetrics } from './metrics';
export { parseStandbyChoice, type StandbyChoice } from './standby-choice';
export type { ChangelogFetch, ChangelogRecord, ChangelogTail } from './standby-tail';
export type { AggregatorMetrics } from './metrics';
export type { PartitionStatus } from './queries';
export { DEAD_LETTER_HEADERS } from './types';
export type {
  AggregatorCodec,
  AggregatorTopics,
  DeadLetterReason,
  InputTopicView,
  LikeQuery,
  OwnershipRegistry,
  PartitionControl,
  Refusal,
} from './types';
