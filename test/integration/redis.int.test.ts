import { loadSettings } from '@doubletap/config';
import { createRedis, likesKey, redisReady } from '@doubletap/redis';
import { stackEnv, uniqueName } from '@doubletap/testing';

describe('redis', () => {
  it('round-trips a likes hash', async () => {
    const settings = loadSettings(stackEnv());
    const redis = createRedis({ url: settings.redis.url, name: 'test' });
    const key = likesKey(`${uniqueName('t')}:`, 'post_1');
    try {
      await redisReady(redis);
      await redis.hset(key, { total: '3', 'c:0': '1', 'c:5': '2' });
      expect(await redis.hgetall(key)).toEqual({ total: '3', 'c:0': '1', 'c:5': '2' });
    } finally {
      await redis.del(key);
      await redis.quit();
    }
  });
});
