export { Aggregator, DEAD_LETTER_HEADERS } from './aggregator';
export type {
  AggregatorDeps,
  AggregatorTopics,
  DeadLetterReason,
  LikeQuery,
  OwnershipRegistry,
  PartitionSeeker,
} from './aggregator';
export { createAggregatorMetrics } from './metrics';
export type { AggregatorMetrics } from './metrics';
