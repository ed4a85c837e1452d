import { ConfigError, loadSettings } from '@doubletap/config';

describe('loadSettings', () => {
  it('defaults to the local stack', () => {
    const s = loadSettings({});
    expect(s.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(s.topics).toMatchObject({ events: 'likes.events', counts: 'likes.counts', partitions: 12 });
  });

  it('names every invalid variable at once', () => {
    const attempt = () => loadSettings({ API_PORT: 'eighty', TOPIC_PARTITIONS: '0', REDIS_URL: 'http://x' });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (e) {
      const problems = (e as ConfigError).problems.join('\n');
      expect(problems).toContain('API_PORT=eighty is not an integer');
      expect(problems).toContain('TOPIC_PARTITIONS=0 is below 1');
      expect(problems).toContain('REDIS_URL=http://x must use redis: or rediss:');
    }
  });

  it('requires a real JWT secret in production', () => {
    expect(() => loadSettings({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required/);
    expect(() => loadSettings({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET/);
  });
});
