import type { Provider } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import type { Logger } from '@doubletap/observability';
import { LikesReader, LiveCounts, type Redis } from '@doubletap/redis';
import { LOGGER, REDIS } from '../platform/tokens';

/**
 * The process-wide live-count hub (token: the LiveCounts class): one Redis subscriber connection
 * of its own (a subscribed connection cannot run commands) shared by every SSE viewer; its
 * current-count reads go through the shared REDIS connection. ReadSide closes it at shutdown.
 */
export const liveCountsProvider: Provider = {
  provide: LiveCounts,
  inject: [SETTINGS, LOGGER, REDIS],
  useFactory: (settings: Settings, logger: Logger, redis: Redis): LiveCounts => {
    const { url, keyPrefix } = settings.redis;
    return new LiveCounts({
      url,
      prefix: keyPrefix,
      reader: new LikesReader(redis, keyPrefix),
      logger: logger.child({ component: 'live-counts' }),
    });
  },
};
