export { Batcher } from './batcher';
export type { BatcherOptions, SendBatch } from './batcher';
export { formatCount } from './format-count';
export { NearCache } from './near-cache';
export type { CountFeed, CountSource, NearCacheMetrics, NearCacheOptions } from './near-cache';
export { OwnersCache } from './owners-cache';
export { VIEWER_BATCH_PATH, ViewerLikeClient } from './viewer-like';
export type { OwnerLookup, ViewerLike, ViewerLikeClientOptions, ViewerLikeUnknownReason, ViewerQuery } from './viewer-like';
