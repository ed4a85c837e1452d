import type { CountSnapshot } from '@doubletap/redis';

export type { CountSnapshot };

/**
 * Like counts as the read side holds them (the Redis projection). Reads throw the read side's
 * errors from @doubletap/redis: ReadRequestError (a bad request), ReadSideHealingError (the read
 * side is being restored: no partial total is given), ReadUnavailableError (it cannot answer).
 */
export interface CountRepository {
  count(postId: string): Promise<CountSnapshot>;
  /** up to MAX_POSTS_PER_READ posts in one round trip; duplicates answered once, first-appearance order */
  counts(postIds: readonly string[]): Promise<CountSnapshot[]>;
  /** why reads are refused now (the read side heals), or undefined when it is complete */
  healing(): Promise<string | undefined>;
}

/** Injection token of the CountRepository (production: RedisCountRepository). */
export const CountRepository = Symbol('CountRepository');
