export { formatCount } from './format-count';
export { ViewerLikeClient } from './viewer-like';
export type { OwnerLookup, ViewerLike, ViewerLikeClientOptions, ViewerLikeUnknownReason } from './viewer-like';
export { NearCache } from './near-cache';
export type { CountFeed, CountSource, NearCacheMetrics, NearCacheOptions } from './near-cache';
