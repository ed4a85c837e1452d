import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { rateKey, type Redis, TokenBucket } from '@doubletap/redis';
import { REDIS } from '../platform/tokens';
import type { RateDecision, RateLimitRepository } from './rate-limit.repository';

const UNLIMITED: RateDecision = { allowed: true, remaining: Number.POSITIVE_INFINITY, retryAfterMs: 0 };

/** Token buckets in Redis (one Lua call per action); RATE_LIMIT_PER_SEC=0 means unlimited, no Redis call. */
@Injectable()
export class RedisRateLimitRepository implements RateLimitRepository {
  private readonly bucket?: TokenBucket;
  private readonly prefix: string;

  constructor(@Inject(SETTINGS) settings: Settings, @Inject(REDIS) redis: Redis) {
    this.prefix = settings.redis.keyPrefix;
    const { rateLimitPerSec, rateLimitBurst } = settings.api;
    if (rateLimitPerSec > 0) this.bucket = new TokenBucket(redis, rateLimitPerSec, rateLimitBurst);
  }

  async take(userId: string): Promise<RateDecision> {
    return this.bucket ? this.bucket.take(rateKey(this.prefix, userId)) : UNLIMITED;
  }
}
