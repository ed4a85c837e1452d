import { Cluster } from 'ioredis';
import { createRedis, isCluster, parseClusterUrl } from './client';

describe('Redis client URLs', () => {
  it('parses redis+cluster:// seed nodes, with or without credentials', () => {
    expect(parseClusterUrl('redis+cluster://127.0.0.1:17101,127.0.0.1:17102')).toEqual({
      nodes: [
        { host: '127.0.0.1', port: 17101 },
        { host: '127.0.0.1', port: 17102 },
      ],
      username: undefined,
      password: undefined,
    });
    expect(parseClusterUrl('redis+cluster://app:s%40cret@r1:6379,r2:6380/')).toEqual({
      nodes: [
        { host: 'r1', port: 6379 },
        { host: 'r2', port: 6380 },
      ],
      username: 'app',
      password: 's@cret',
    });
    expect(() => parseClusterUrl('redis+cluster://r1')).toThrow(/not host:port/);
    expect(() => parseClusterUrl('redis://r1:6379')).toThrow(/not a redis\+cluster/);
  });

  it('builds a Cluster client for redis+cluster:// and a single client otherwise', () => {
    const cluster = createRedis({ url: 'redis+cluster://127.0.0.1:1,127.0.0.1:2' });
    const single = createRedis({ url: 'redis://127.0.0.1:1' });
    cluster.on('error', () => undefined);
    single.on('error', () => undefined);
    try {
      expect(cluster).toBeInstanceOf(Cluster);
      expect(isCluster(cluster)).toBe(true);
      expect(isCluster(single)).toBe(false);
    } finally {
      cluster.disconnect();
      single.disconnect();
    }
  });
});
