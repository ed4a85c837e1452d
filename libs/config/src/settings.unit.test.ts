import {
  ConfigError,
  DEV_JWT_SECRET,
  devTokenEnabled,
  isLoopbackHost,
  loadSettings,
} from '@doubletap/config';

const PRIVATE = 'a-private-secret-of-at-least-32-characters';

function problemsOf(env: Record<string, string>): string {
  try {
    loadSettings(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.join('\n');
    throw e;
  }
  return '';
}

describe('loadSettings', () => {
  it('defaults to the local stack', () => {
    const s = loadSettings({});
    expect(s.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(s.topics).toMatchObject({ events: 'likes.events', counts: 'likes.counts', partitions: 12 });
  });

  it('produces with @platformatic/kafka unless KAFKA_PRODUCER_CLIENT names kafkajs (ADR 0012), and refuses another name', () => {
    expect(loadSettings({}).kafka.producerClient).toBe('platformatic');
    expect(loadSettings({ KAFKA_PRODUCER_CLIENT: 'kafkajs' }).kafka.producerClient).toBe('kafkajs');
    expect(() => loadSettings({ KAFKA_PRODUCER_CLIENT: 'rdkafka' })).toThrow(/KAFKA_PRODUCER_CLIENT/);
  });

  it('produces through one Kafka producer unless PRODUCER_LANES says more (1..16, ADR 0020)', () => {
    expect(loadSettings({}).api.producerLanes).toBe(1);
    expect(loadSettings({ PRODUCER_LANES: '2' }).api.producerLanes).toBe(2);
    expect(() => loadSettings({ PRODUCER_LANES: '0' })).toThrow(/PRODUCER_LANES/);
    expect(() => loadSettings({ PRODUCER_LANES: '17' })).toThrow(/PRODUCER_LANES/);
  });

  it('consumes with platformatic (KIP-848) unless KAFKA_CONSUMER_CLIENT names kafkajs (ADR 0019, 0027), and refuses another name', () => {
    expect(loadSettings({}).kafka.consumerClient).toBe('platformatic');
    expect(loadSettings({ KAFKA_CONSUMER_CLIENT: 'kafkajs' }).kafka.consumerClient).toBe('kafkajs');
    expect(() => loadSettings({ KAFKA_CONSUMER_CLIENT: 'rdkafka' })).toThrow(/KAFKA_CONSUMER_CLIENT/);
  });

  it('paces the aggregator\'s batches 50 ms apart unless AGGREGATOR_COMMIT_INTERVAL_MS says otherwise (0 = off; ADR 0030)', () => {
    expect(loadSettings({}).aggregator.commitIntervalMs).toBe(50);
    expect(loadSettings({ AGGREGATOR_COMMIT_INTERVAL_MS: '0' }).aggregator.commitIntervalMs).toBe(0);
    expect(loadSettings({ AGGREGATOR_COMMIT_INTERVAL_MS: '100' }).aggregator.commitIntervalMs).toBe(100);
    expect(() => loadSettings({ AGGREGATOR_COMMIT_INTERVAL_MS: '-1' })).toThrow(/AGGREGATOR_COMMIT_INTERVAL_MS/);
  });

  it('gives group members a 10 s session unless KAFKA_SESSION_TIMEOUT_MS says otherwise, never under 2 s', () => {
    expect(loadSettings({}).kafka.sessionTimeoutMs).toBe(10000);
    expect(loadSettings({ KAFKA_SESSION_TIMEOUT_MS: '3000' }).kafka.sessionTimeoutMs).toBe(3000);
    expect(() => loadSettings({ KAFKA_SESSION_TIMEOUT_MS: '1000' })).toThrow(/KAFKA_SESSION_TIMEOUT_MS/);
  });

  it("fetches for the group consumers as the broker's defaults do (1 byte, 100 ms) unless KAFKA_FETCH_MIN_BYTES / KAFKA_FETCH_MAX_WAIT_MS say otherwise", () => {
    expect(loadSettings({}).kafka).toMatchObject({ fetchMinBytes: 1, fetchMaxWaitMs: 100 });
    expect(loadSettings({ KAFKA_FETCH_MIN_BYTES: '65536', KAFKA_FETCH_MAX_WAIT_MS: '20' }).kafka).toMatchObject({ fetchMinBytes: 65536, fetchMaxWaitMs: 20 });
    expect(() => loadSettings({ KAFKA_FETCH_MIN_BYTES: '0' })).toThrow(/KAFKA_FETCH_MIN_BYTES/);
    expect(() => loadSettings({ KAFKA_FETCH_MAX_WAIT_MS: '0' })).toThrow(/KAFKA_FETCH_MAX_WAIT_MS/);
  });

  it('declares a member dead after 2 min without a word from its group coordinator unless KAFKA_COORDINATOR_SILENCE_MAX_MS says otherwise (0 = never)', () => {
    expect(loadSettings({}).kafka.coordinatorSilenceMaxMs).toBe(120000);
    expect(loadSettings({ KAFKA_COORDINATOR_SILENCE_MAX_MS: '0' }).kafka.coordinatorSilenceMaxMs).toBe(0);
    expect(() => loadSettings({ KAFKA_COORDINATOR_SILENCE_MAX_MS: '-1' })).toThrow(/KAFKA_COORDINATOR_SILENCE_MAX_MS/);
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

  it('accepts a Redis Cluster as redis+cluster://host:port,... (ADR 0017)', () => {
    const url = 'redis+cluster://127.0.0.1:17101,127.0.0.1:17102,redis-3.internal:6379';
    expect(loadSettings({ REDIS_URL: url }).redis.url).toBe(url);
    expect(() => loadSettings({ REDIS_URL: 'redis+cluster://127.0.0.1' })).toThrow(/REDIS_URL/);
  });

  it('requires a real JWT secret in production', () => {
    expect(() => loadSettings({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required/);
    expect(() => loadSettings({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET/);
  });

  describe('the public development secret', () => {
    it('is used by default on loopback (local development keeps working without settings)', () => {
      for (const API_HOST of ['127.0.0.1', 'localhost', '::1', '127.1.2.3']) {
        const s = loadSettings({ API_HOST });
        expect(s.auth.hs256Secret).toBe(DEV_JWT_SECRET);
        expect(s.env).toBe('development');
      }
    });

    it('is refused when the api binds to a non-loopback address, naming JWT_SECRET and API_HOST', () => {
      for (const API_HOST of [
        '0.0.0.0',
        '::',
        '[::]',
        '10.0.0.7',
        '192.168.1.2',
        'api.example.com',
        '::ffff:10.0.0.1',
      ]) {
        for (const NODE_ENV of ['development', 'test']) {
          const unset = problemsOf({ API_HOST, NODE_ENV });
          expect(unset).toContain('JWT_SECRET is not set, so the public development secret would be used');
          expect(unset).toContain(`API_HOST=${API_HOST} is not a loopback address`);
          const explicit = problemsOf({ API_HOST, NODE_ENV, JWT_SECRET: DEV_JWT_SECRET });
          expect(explicit).toContain('JWT_SECRET is the public development secret');
          expect(explicit).toContain(`API_HOST=${API_HOST}`);
        }
      }
    });

    it('is refused in production even on loopback; a private secret is accepted anywhere', () => {
      expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET })).toMatch(
        /^JWT_SECRET is the public development secret, and NODE_ENV=production/,
      );
      for (const API_HOST of ['0.0.0.0', '::', '10.0.0.7']) {
        for (const NODE_ENV of ['production', 'development']) {
          const s = loadSettings({ API_HOST, NODE_ENV, JWT_SECRET: PRIVATE });
          expect(s.auth.hs256Secret).toBe(PRIVATE);
        }
      }
    });
  });

  it('isLoopbackHost: 127.0.0.0/8, ::1 in any spelling, IPv4-mapped loopback and localhost only', () => {
    const loopback = [
      '127.0.0.1',
      '127.255.0.9',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      'localhost',
      'LOCALHOST',
    ];
    const exposed = [
      '0.0.0.0',
      '::',
      '[::]',
      '128.0.0.1',
      '10.0.0.1',
      '::2',
      '::ffff:10.0.0.1',
      'localhost.example',
      'example.com',
      '',
      '127.0.0.1.nip.io',
    ];
    for (const h of loopback) expect({ h, loopback: isLoopbackHost(h) }).toEqual({ h, loopback: true });
    for (const h of exposed) expect({ h, loopback: isLoopbackHost(h) }).toEqual({ h, loopback: false });
  });

  it('devTokenEnabled: only in development (NODE_ENV unset or development) on loopback', () => {
    expect(devTokenEnabled(loadSettings({}))).toBe(true);
    expect(devTokenEnabled(loadSettings({ NODE_ENV: 'development', API_HOST: '::1' }))).toBe(true);
    expect(devTokenEnabled(loadSettings({ NODE_ENV: 'test' }))).toBe(false);
    expect(devTokenEnabled(loadSettings({ NODE_ENV: 'production', JWT_SECRET: PRIVATE }))).toBe(false);
    expect(devTokenEnabled(loadSettings({ API_HOST: '0.0.0.0', JWT_SECRET: PRIVATE }))).toBe(false);
    expect(
      devTokenEnabled(loadSettings({ NODE_ENV: 'production', API_HOST: '0.0.0.0', JWT_SECRET: PRIVATE })),
    ).toBe(false);
  });
});
