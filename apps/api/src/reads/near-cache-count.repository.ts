import type { Provider } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { counter, Gauge, type Logger, type Registry } from '@doubletap/observability';
import { NearCache } from '@doubletap/queries';
import { LiveCounts, ReadSideHealingError, type Redis } from '@doubletap/redis';
import { LOGGER, METRICS, REDIS } from '../platform/tokens';
import { CountRepository, type CountSnapshot } from './count.repository';
import { RedisCountRepository } from './redis-count.repository';

/**
 * The CountRepository the api uses: hot posts' counts from the in-process NearCache, kept current by
 * the live-count hub's subscriber connection (the stream SSE uses), everything else from Redis
 * (ADR 0013). NEAR_CACHE_POSTS=0 turns the cache off.
 */
export class NearCacheCountRepository implements CountRepository {
  private readonly cache?: NearCache;

  constructor(
    private readonly redis: CountRepository,
    live: LiveCounts,
    settings: Settings,
    metrics: Registry,
    logger: Logger,
  ) {
    const { posts, maxAgeMs } = settings.nearCache;
    if (posts === 0) return;
    const hits = counter(
      metrics,
      'doubletap_api_near_cache_hits_total',
      'post counts answered from the near cache',
    );
    const misses = counter(
      metrics,
      'doubletap_api_near_cache_misses_total',
      'post counts read from Redis (kind: cold = not cached yet, expired = NEAR_CACHE_MAX_AGE_MS, bypass = subscriber down)',
      ['kind'],
    );
    const drops = counter(
      metrics,
      'doubletap_api_near_cache_drops_total',
      'times the near cache was emptied (a reconnect, a heal, a restore, a generation switch)',
      ['reason'],
    );
    const evictions = counter(
      metrics,
      'doubletap_api_near_cache_evictions_total',
      'least recently used posts evicted',
    );
    const log = logger.child({ component: 'near-cache' });
    const cache = new NearCache({
      source: redis,
      feed: live,
      capacity: posts,
      maxAgeMs,
      metrics: {
        hit: (n) => hits.inc(n),
        miss: (kind, n) => misses.inc({ kind }, n),
        drop: (reason, entries) => {
          drops.inc({ reason });
          log.info({ reason, entries }, 'near cache dropped');
        },
        evict: () => evictions.inc(),
      },
    });
    new Gauge({
      name: 'doubletap_api_near_cache_posts',
      help: 'posts held in the near cache',
      registers: [metrics],
      collect() {
        this.set(cache.size);
      },
    });
    live.listen(cache);
    this.cache = cache;
  }

  count(postId: string): Promise<CountSnapshot> {
    return this.cache ? this.cache.count(postId).catch(this.onError) : this.redis.count(postId);
  }

  counts(postIds: readonly string[]): Promise<CountSnapshot[]> {
    return this.cache ? this.cache.counts(postIds).catch(this.onError) : this.redis.counts(postIds);
  }

  healing(): Promise<string | undefined> {
    return this.redis.healing();
  }

  /** A read that finds the read side healing empties the cache (its announcement may still be on its way). */
  private readonly onError = (e: unknown): never => {
    if (e instanceof ReadSideHealingError) this.cache?.drop('read side healing');
    throw e;
  };
}

/** The api's CountRepository: the near cache in front of RedisCountRepository. */
export const countRepositoryProvider: Provider = {
  provide: CountRepository,
  inject: [SETTINGS, REDIS, LiveCounts, METRICS, LOGGER],
  useFactory: (settings: Settings, redis: Redis, live: LiveCounts, metrics: Registry, logger: Logger) =>
    new NearCacheCountRepository(new RedisCountRepository(settings, redis), live, settings, metrics, logger),
};
