import type { RateDecision } from '@doubletap/redis';

export type { RateDecision };

/**
 * Per-user token buckets (RATE_LIMIT_PER_SEC, RATE_LIMIT_BURST). `take` spends one token of the
 * user's bucket, and throws when the store cannot be reached (the caller fails closed).
 */
export interface RateLimitRepository {
  take(userId: string): Promise<RateDecision>;
}

/** Injection token of the RateLimitRepository (production: RedisRateLimitRepository). */
export const RateLimitRepository = Symbol('RateLimitRepository');
