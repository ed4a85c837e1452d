export { evaluateGroup, evaluatePartition, lagOf } from './status';
export type { GroupStatus, Observation, PartitionStatus, Verdict } from './status';
export { ObservationWindows } from './window';
export { LagSampler } from './sampler';
export type { GroupLag, PartitionLag } from './sampler';
