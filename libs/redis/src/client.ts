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
  /**
   * Resend commands that were in flight when the connection dropped, on the new connection (ioredis
   * default true). false for writers whose commands only make sense against the Redis they were
   * meant for (the projector: a write meant for the old Redis must never land unchecked in a new,
   * empty one); such a command fails instead and its caller decides.
   */
  resendAfterReconnect?: boolean;
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
    autoResendUnfulfilledCommands: options.resendAfterReconnect ?? true,
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
