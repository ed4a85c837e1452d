export { createRedis, redisReady } from './client';
export type { Redis, RedisClientOptions } from './client';
export { countChannel, likesKey, ownersKey, rateKey } from './keys';
