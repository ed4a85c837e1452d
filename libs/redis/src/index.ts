export { createRedis, isCluster, redisReady } from './client';
export type { Redis, RedisClientOptions } from './client';
export { countChannel, likesKey, ownersChannel, ownersKey, progressKey, rateKey, readyChannel, readySentinelKey } from './keys';
export { TokenBucket } from './rate-limit';
export type { RateDecision } from './rate-limit';
export { publishOwners, readOwners, withdrawOwners } from './owners';
export type { OwnerRecord } from './owners';
export { APPLY_COUNTS_LUA, GenerationWriter, LikesProjection } from './projection';
export type { ApplyResult, ChangedPost, CountChange } from './projection';
export {
  LikesReader,
  MAX_POSTS_PER_READ,
  READ_COUNTS_LUA,
  ReadRequestError,
  ReadSideHealingError,
  ReadUnavailableError,
} from './reader';
export { healingReason, markReadSideComplete, readSideStatus, ReadSideProgress } from './progress';
export type { HealStart, PartitionProgress, ProgressOutcome, ProgressStep, ReadSideStatus } from './progress';
export type { CountSnapshot } from './reader';
export { LiveCounts, LiveSubscription } from './live-counts';
export type { CountFeedListener, CountUpdate, LiveCountsOptions } from './live-counts';
export { readOwner, readOwnerMap } from './owner-lookup';
export type { OwnerEndpoint } from './owner-lookup';
export { deleteKeysWithPrefix } from './key-admin';
export {
  buildingPointerKey,
  generationKey,
  generationKeyStart,
  generationPointerKey,
  ReadSideGenerations,
  rebuildCheckpointKey,
} from './generations';
export type { RebuildCheckpoint } from './generations';
export {
  checkMasters,
  guardMasters,
  markerIndexFor,
  markerKey,
  markMasters,
  mastersOfClusterSlots,
  mastersRecordKey,
  tripMasterLoss,
  uncoveredMasters,
} from './masters';
export type { MasterCheck, MasterGuardResult, MarkerRecord, SlotRange } from './masters';
export type { ReadSideProgressOptions } from './progress';
