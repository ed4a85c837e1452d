import {
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import type { HealthRegistry, Logger } from '@doubletap/observability';
import { createRedis, type Redis, redisReady } from '@doubletap/redis';
import { HEALTH, LOGGER, REDIS } from './tokens';

/**
 * Fail fast: a command never waits for a reconnect (no offline queue), so Redis down is a 503 at
 * once, and one that hangs is a 503 after this long.
 */
const COMMAND_TIMEOUT_MS = 500;
/** How long startup waits for the connection, so the first requests are not 503s. */
const STARTUP_WAIT_MS = 2000;

const redisProvider: Provider = {
  provide: REDIS,
  inject: [SETTINGS, LOGGER],
  useFactory: (settings: Settings, logger: Logger): Redis => {
    const redis = createRedis({
      url: settings.redis.url,
      name: 'doubletap-api',
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    redis.on('error', (err: Error) => logger.debug({ err }, 'redis error'));
    return redis;
  },
};

/**
 * The api's one Redis command connection (REDIS), used by the rate limit, count and owner
 * repositories; readiness pings it, and it is closed after the HTTP server stopped. (The live
 * count hub keeps its own subscriber connection: a subscribed connection cannot run commands.)
 */
@Global()
@Module({ providers: [redisProvider], exports: [REDIS] })
export class RedisModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(HEALTH) health: HealthRegistry,
  ) {
    health.register('redis', async () => {
      await this.redis.ping();
    });
  }

  async onModuleInit(): Promise<void> {
    await redisReady(this.redis, STARTUP_WAIT_MS).catch((err: unknown) =>
      this.logger.warn(
        { err },
        'Redis not reachable at startup; requests that need it answer 503 until it is',
      ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
