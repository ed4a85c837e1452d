import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { rateLimited, unavailable } from '../http/problem-types';
import { RateLimitRepository } from './rate-limit.repository';

/**
 * The rate limit policy per user (RATE_LIMIT_PER_SEC / RATE_LIMIT_BURST; 0 per second = unlimited).
 * Over the limit: 429 with Retry-After. The bucket store unreachable: 503 with Retry-After (fail
 * closed: the limit exists against bots, and an api that cannot see its buckets cannot enforce it).
 */
@Injectable()
export class RateLimiter {
  private readonly limit: string;

  constructor(
    @Inject(SETTINGS) settings: Settings,
    @Inject(RateLimitRepository) private readonly buckets: RateLimitRepository,
  ) {
    const { rateLimitPerSec, rateLimitBurst } = settings.api;
    this.limit = `${rateLimitPerSec} actions per second (burst ${rateLimitBurst})`;
  }

  async take(userId: string): Promise<void> {
    let decision;
    try {
      decision = await this.buckets.take(userId);
    } catch (e) {
      throw unavailable(`the rate limiter cannot reach Redis: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!decision.allowed)
      throw rateLimited(userId, this.limit, Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  }
}
