import Redis, { type RedisOptions } from 'ioredis';

export type { Redis } from 'ioredis';

export interface RedisClientOptions {
  url: string;
  /** name shown in CLIENT LIST */
  name?: string;
  /**
   * false (default): commands fail at once while disconnected, so callers can answer 503 instead of
   * queueing without bound. true: queue while reconnecting (for workers that would rather wait).
   */
  offlineQueue?: boolean;
  commandTimeoutMs?: number;
  /** re-SUBSCRIBE after a reconnect (ioredis default true); false when the caller resubscribes itself */
  autoResubscribe?: boolean;
}

export function createRedis(options: RedisClientOptions): Redis {
  const config: RedisOptions = {
    connectionName: options.name,
    enableOfflineQueue: options.offlineQueue ?? false,
    maxRetriesPerRequest: options.offlineQueue ? null : 1,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    connectTimeout: 2000,
    lazyConnect: false,
    autoResubscribe: options.autoResubscribe ?? true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
  };
  return new Redis(options.url, config);
}

/** Waits until the client is ready (or fails after timeoutMs). */
export async function redisReady(client: Redis, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready after ${timeoutMs}ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}
