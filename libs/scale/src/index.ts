export { DEFAULT_SCENARIO, exitCodeOf, runScale } from './run';
export type { MismatchEvidence, ScaleReport, ScaleScenario, ThroughputRun } from './run';
export { compareCounts, missingIds } from './compare';
export type { CountMismatch, ExpectedRange } from './compare';
export { advances, baselineGaps, maxGap, ownership, rebalanceFigures, settled } from './timeline';
export type {
  KeptPartition,
  MovedPartition,
  PartitionSeen,
  RebalanceFigures,
  ScaleEvent,
  ServeProbe,
  Snapshot,
} from './timeline';
export { Prober, probeKeys } from './prober';
export { readCountChanges, readEvents } from './log-read';
