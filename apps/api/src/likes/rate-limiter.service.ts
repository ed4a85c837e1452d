import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import type { HealthRegistry, Logger } from '@doubletap/observability';
import { createRedis, rateKey, type Redis, TokenBucket } from '@doubletap/redis';
import { ProblemException, unavailable } from '../http/problem';
import { HEALTH, LOGGER } from '../platform/tokens';

/**
 * Per-user token bucket in Redis (RATE_LIMIT_PER_SEC / RATE_LIMIT_BURST; 0 per second = unlimited).
 * Over the limit: 429 with Retry-After. Redis unreachable: 503 with Retry-After (fail closed: the
 * limit exists against bots, and an api that cannot see Redis cannot enforce it).
 */
@Injectable()
export class RateLimiter implements OnApplicationShutdown {
  private readonly redis: Redis;
  private readonly bucket?: TokenBucket;
  private readonly prefix: string;
  private readonly limit: string;

  constructor(
    @Inject(SETTINGS) settings: Settings,
    @Inject(HEALTH) health: HealthRegistry,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.redis = createRedis({ url: settings.redis.url, name: 'doubletap-api', commandTimeoutMs: 500 });
    this.redis.on('error', (e: Error) => logger.debug({ err: e }, 'redis error'));
    this.prefix = settings.redis.keyPrefix;
    const { rateLimitPerSec, rateLimitBurst } = settings.api;
    this.limit = `${rateLimitPerSec} actions per second (burst ${rateLimitBurst})`;
    if (rateLimitPerSec > 0) this.bucket = new TokenBucket(this.redis, rateLimitPerSec, rateLimitBurst);
    health.register('redis', async () => {
      await this.redis.ping();
    });
  }

  async take(userId: string): Promise<void> {
    if (!this.bucket) return;
    let decision;
    try {
      decision = await this.bucket.take(rateKey(this.prefix, userId));
    } catch (e) {
      throw unavailable(`the rate limiter cannot reach Redis: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!decision.allowed) {
      const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new ProblemException(
        429,
        'rate-limited',
        `user ${userId} exceeded the rate limit of ${this.limit}; retry in ${seconds}s`,
        { 'retry-after': String(seconds) },
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
