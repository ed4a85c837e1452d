import { EnvReader } from './env-reader';
import { isLoopbackHost } from './exposure';

/**
 * Every setting of every doubletap process, read from the environment once and validated.
 * Defaults point at the local stack (scripts/stack/stack.sh), so a developer sets nothing.
 */
export interface Settings {
  readonly env: 'development' | 'test' | 'production';
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  readonly kafka: {
    readonly brokers: string[];
    readonly clientId: string;
    /** the client the api produces LikeEvents with (docs/adr/0012-platformatic-kafka-producer.md) */
    readonly producerClient: 'kafkajs' | 'platformatic';
    /** the client consumer groups (aggregator, projector) run on (docs/adr/0019-kip848-consumer.md) */
    readonly consumerClient: 'kafkajs' | 'platformatic';
    /**
     * how long a consumer-group member (aggregator, projector) may be silent before the group gives
     * its partitions away: a killed member is detected after this (classic groups: the broker's
     * group.min.session.timeout.ms is the floor, 6 s by default, 2 s on the local stack)
     */
    readonly sessionTimeoutMs: number;
    /**
     * a consumer-group member whose group coordinator has not answered for this long is not alive
     * (/health 503: restarting it finds the coordinator afresh); 0 = never. After one session of
     * silence it is already not ready (ADR 0028)
     */
    readonly coordinatorSilenceMaxMs: number;
    /**
     * the group consumers' (aggregator, projector) fetches: the broker answers once this many bytes
     * are there or `fetchMaxWaitMs` passed. Bigger: fewer, larger live batches for later counts, for
     * every fetch of both consumers; the aggregator batches its transactions with
     * AGGREGATOR_COMMIT_INTERVAL_MS instead, which holds no quiet record back (ADR 0030)
     */
    readonly fetchMinBytes: number;
    readonly fetchMaxWaitMs: number;
  };
  readonly registry: { readonly url: string };
  readonly redis: { readonly url: string; readonly keyPrefix: string };
  readonly topics: {
    readonly events: string;
    readonly counts: string;
    readonly deadLetter: string;
    /** the aggregator's store changelog (compacted): a partition that moves restores from it */
    readonly changelog: string;
    readonly partitions: number;
    readonly replicationFactor: number;
  };
  readonly api: {
    readonly host: string;
    readonly port: number;
    readonly bodyLimitBytes: number;
    readonly lingerMs: number;
    readonly batchMaxSize: number;
    readonly queueMax: number;
    readonly produceTimeoutMs: number;
    /** PRODUCER_LANES (1): Kafka producers of LikeEvents, each key always on the same one (ADR 0020) */
    readonly producerLanes: number;
    readonly rateLimitPerSec: number;
    readonly rateLimitBurst: number;
    readonly shutdownGraceMs: number;
    /** admission control of likes and unlikes (docs/adr/0011-admission-control.md); 0 turns a signal off */
    readonly admission: AdmissionSettings;
  };
  readonly auth: {
    readonly hs256Secret: string;
    readonly rs256PublicKey?: string;
    readonly issuer?: string;
    readonly audience?: string;
  };
  readonly aggregator: {
    readonly groupId: string;
    readonly dataDir: string;
    readonly host: string;
    readonly port: number;
    readonly advertisedUrl?: string;
    /** standby stores of partitions it does not own (ADR 0018): `none`, `all` or a count */
    readonly standbys: string;
    /** the consumer's fetch size per partition (kafkajs maxBytesPerPartition): how large a batch gets, bytes */
    readonly fetchPartitionBytes: number;
    /**
     * AGGREGATOR_COMMIT_INTERVAL_MS: a partition's batches at least this far apart, so at most one
     * output transaction per partition per interval under load (ADR 0030); 0 = a batch as soon as records come
     */
    readonly commitIntervalMs: number;
  };
  readonly projector: {
    readonly groupId: string;
    readonly host: string;
    readonly port: number;
    /** how often owned partitions' progress in Redis is checked while no record arrives, ms (0 = never) */
    readonly progressCheckMs: number;
  };
  readonly monitor: { readonly host: string; readonly port: number; readonly intervalMs: number };
  /** the api's near cache of hot posts' counts (ADR 0013); 0 posts turns it off */
  readonly nearCache: { readonly posts: number; readonly maxAgeMs: number };
  /** crash tests only: the aggregator SIGKILLs itself the Nth time it passes a point (0 = never) */
  readonly faults: { readonly killAfterOutputs: number; readonly killAfterCommits: number };
}

/**
 * When the api refuses a like or unlike at once (503 `overloaded` with Retry-After) instead of
 * queueing it. Sampled signals (every sampleMs) refuse every write until the next sample; the
 * counted ones are read on every request. A threshold of 0 turns its signal off.
 */
export interface AdmissionSettings {
  /** ADMISSION_ENABLED (true): false admits every write (the producer's PRODUCER_QUEUE_MAX still holds) */
  readonly enabled: boolean;
  /** ADMISSION_SAMPLE_MS (100): how often the sampled signals are read */
  readonly sampleMs: number;
  /** ADMISSION_MAX_EVENT_LOOP_DELAY_MS (100): the mean event-loop delay since the last sample */
  readonly maxEventLoopDelayMs: number;
  /** ADMISSION_MAX_ELU_PERCENT (0, off): event-loop utilization since the last sample, percent */
  readonly maxEventLoopUtilizationPercent: number;
  /** ADMISSION_MAX_HEAP_PERCENT (90): V8 heap used, percent of its limit */
  readonly maxHeapPercent: number;
  /** ADMISSION_MAX_IN_FLIGHT (128): likes and unlikes admitted and not answered yet (counted) */
  readonly maxInFlight: number;
  /** ADMISSION_MAX_QUEUE_DEPTH (1000): messages in the producer's queue, waiting or in flight (counted) */
  readonly maxQueueDepth: number;
  /** ADMISSION_RETRY_AFTER_MS (1000): the retry hint of a refusal (Retry-After: whole seconds, at least 1) */
  readonly retryAfterMs: number;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const TOPIC = /^[A-Za-z0-9._-]{1,200}$/;
export const DEV_JWT_SECRET = 'doubletap-local-development-secret-change-me';

export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const r = new EnvReader(env);
  const mode = r.oneOf('NODE_ENV', ['development', 'test', 'production'] as const, 'development');
  const secret = r.string('JWT_SECRET', mode === 'production' ? undefined : DEV_JWT_SECRET);
  if (secret.length > 0 && secret.length < 32) {
    r.string('JWT_SECRET', undefined, /^.{32,}$/); // records "JWT_SECRET ... does not match"
  }
  const apiHost = r.string('API_HOST', '127.0.0.1');
  if (secret === DEV_JWT_SECRET) checkDevSecret(r, mode, apiHost, r.optional('JWT_SECRET') !== undefined);
  const settings: Settings = {
    env: mode,
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, mode === 'test' ? 'warn' : 'info'),
    kafka: {
      brokers: r.list('KAFKA_BROKERS', ['127.0.0.1:19092']),
      clientId: r.string('KAFKA_CLIENT_ID', 'doubletap'),
      producerClient: r.oneOf('KAFKA_PRODUCER_CLIENT', ['kafkajs', 'platformatic'] as const, 'platformatic'),
      consumerClient: r.oneOf('KAFKA_CONSUMER_CLIENT', ['kafkajs', 'platformatic'] as const, 'platformatic'),
      sessionTimeoutMs: r.int('KAFKA_SESSION_TIMEOUT_MS', 10000, { min: 2000, max: 300000 }),
      coordinatorSilenceMaxMs: r.int('KAFKA_COORDINATOR_SILENCE_MAX_MS', 120000, { min: 0, max: 86400000 }),
      fetchMinBytes: r.int('KAFKA_FETCH_MIN_BYTES', 1, { min: 1, max: 52428800 }),
      fetchMaxWaitMs: r.int('KAFKA_FETCH_MAX_WAIT_MS', 100, { min: 1, max: 30000 }),
    },
    registry: {
      url: r.url('SCHEMA_REGISTRY_URL', 'http://127.0.0.1:18081/apis/ccompat/v7', ['http:', 'https:']),
    },
    redis: {
      // redis+cluster://h:p,h:p,... = a Redis Cluster (libs/redis, ADR 0017); not a WHATWG URL (several hosts)
      url: r.optional('REDIS_URL')?.startsWith('redis+cluster://')
        ? r.string('REDIS_URL', undefined, /^redis\+cluster:\/\/([^\s@/]+@)?[^\s,/@]+:\d+(,[^\s,/@]+:\d+)*$/)
        : r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
      keyPrefix: r.string('REDIS_KEY_PREFIX', 'dt:', /^[A-Za-z0-9:_.-]{0,64}$/),
    },
    topics: {
      events: r.string('TOPIC_EVENTS', 'likes.events', TOPIC),
      counts: r.string('TOPIC_COUNTS', 'likes.counts', TOPIC),
      deadLetter: r.string('TOPIC_DEAD_LETTER', 'likes.events.dlq', TOPIC),
      changelog: r.string('TOPIC_CHANGELOG', 'likes.aggregator-changelog', TOPIC),
      partitions: r.int('TOPIC_PARTITIONS', 12, { min: 1, max: 1024 }),
      replicationFactor: r.int('TOPIC_REPLICATION_FACTOR', 1, { min: 1, max: 7 }),
    },
    api: {
      host: apiHost,
      port: r.int('API_PORT', 8080, { min: 0, max: 65535 }),
      bodyLimitBytes: r.int('API_BODY_LIMIT_BYTES', 1024, { min: 64, max: 1048576 }),
      lingerMs: r.int('PRODUCER_LINGER_MS', 1, { min: 0, max: 100 }),
      batchMaxSize: r.int('PRODUCER_BATCH_MAX', 500, { min: 1, max: 10000 }),
      queueMax: r.int('PRODUCER_QUEUE_MAX', 20000, { min: 1, max: 1000000 }),
      produceTimeoutMs: r.int('PRODUCER_TIMEOUT_MS', 3000, { min: 100, max: 60000 }),
      producerLanes: r.int('PRODUCER_LANES', 1, { min: 1, max: 16 }),
      rateLimitPerSec: r.int('RATE_LIMIT_PER_SEC', 20, { min: 0, max: 1000000 }),
      rateLimitBurst: r.int('RATE_LIMIT_BURST', 40, { min: 1, max: 1000000 }),
      shutdownGraceMs: r.int('SHUTDOWN_GRACE_MS', 10000, { min: 0, max: 600000 }),
      admission: {
        enabled: r.bool('ADMISSION_ENABLED', true),
        sampleMs: r.int('ADMISSION_SAMPLE_MS', 100, { min: 5, max: 10000 }),
        maxEventLoopDelayMs: r.int('ADMISSION_MAX_EVENT_LOOP_DELAY_MS', 100, { min: 0, max: 60000 }),
        maxEventLoopUtilizationPercent: r.int('ADMISSION_MAX_ELU_PERCENT', 0, { min: 0, max: 100 }),
        maxHeapPercent: r.int('ADMISSION_MAX_HEAP_PERCENT', 90, { min: 0, max: 100 }),
        maxInFlight: r.int('ADMISSION_MAX_IN_FLIGHT', 128, { min: 0, max: 1000000 }),
        maxQueueDepth: r.int('ADMISSION_MAX_QUEUE_DEPTH', 1000, { min: 0, max: 1000000 }),
        retryAfterMs: r.int('ADMISSION_RETRY_AFTER_MS', 1000, { min: 1, max: 3600000 }),
      },
    },
    auth: {
      hs256Secret: secret,
      rs256PublicKey: r.optional('JWT_RS256_PUBLIC_KEY'),
      issuer: r.optional('JWT_ISSUER'),
      audience: r.optional('JWT_AUDIENCE'),
    },
    aggregator: {
      groupId: r.string('AGGREGATOR_GROUP', 'doubletap-aggregator'),
      dataDir: r.string('AGGREGATOR_DATA_DIR', '.data/aggregator'),
      host: r.string('AGGREGATOR_HOST', '127.0.0.1'),
      port: r.int('AGGREGATOR_PORT', 8081, { min: 0, max: 65535 }),
      advertisedUrl: r.optional('AGGREGATOR_ADVERTISED_URL'),
      standbys: r.string('AGGREGATOR_STANDBYS', 'none', /^(none|all|\d{1,4})$/),
      fetchPartitionBytes: r.int('AGGREGATOR_FETCH_PARTITION_BYTES', 1048576, {
        min: 16384,
        max: 64 * 1048576,
      }),
      commitIntervalMs: r.int('AGGREGATOR_COMMIT_INTERVAL_MS', 50, { min: 0, max: 10000 }),
    },
    projector: {
      groupId: r.string('PROJECTOR_GROUP', 'doubletap-projector'),
      host: r.string('PROJECTOR_HOST', '127.0.0.1'),
      port: r.int('PROJECTOR_PORT', 8082, { min: 0, max: 65535 }),
      progressCheckMs: r.int('PROJECTOR_PROGRESS_CHECK_MS', 1000, { min: 0, max: 3600000 }),
    },
    monitor: {
      host: r.string('MONITOR_HOST', '127.0.0.1'),
      port: r.int('MONITOR_PORT', 8083, { min: 0, max: 65535 }),
      intervalMs: r.int('MONITOR_INTERVAL_MS', 5000, { min: 500, max: 600000 }),
    },
    nearCache: {
      posts: r.int('NEAR_CACHE_POSTS', 10000, { min: 0, max: 1000000 }),
      maxAgeMs: r.int('NEAR_CACHE_MAX_AGE_MS', 5000, { min: 1, max: 600000 }),
    },
    faults: {
      killAfterOutputs: r.int('DOUBLETAP_FAULT_KILL_AFTER_OUTPUTS', 0, {
        min: 0,
        max: Number.MAX_SAFE_INTEGER,
      }),
      killAfterCommits: r.int('DOUBLETAP_FAULT_KILL_AFTER_COMMITS', 0, {
        min: 0,
        max: Number.MAX_SAFE_INTEGER,
      }),
    },
  };
  r.done();
  return settings;
}

/**
 * The development secret is public (it is in this file), so whoever can reach an api that uses it
 * can mint a token for any user. It is refused in production, and wherever the api listens on more
 * than loopback; settings are read once at boot, so a bad deployment fails before it serves.
 */
function checkDevSecret(r: EnvReader, mode: Settings['env'], apiHost: string, explicit: boolean): void {
  const which = explicit
    ? 'JWT_SECRET is the public development secret'
    : 'JWT_SECRET is not set, so the public development secret would be used';
  const fix = 'set JWT_SECRET to a private secret of 32+ characters';
  if (mode === 'production') r.fail(`${which}, and NODE_ENV=production: ${fix}`);
  else if (!isLoopbackHost(apiHost))
    r.fail(
      `${which}, and API_HOST=${apiHost} is not a loopback address, so anyone who reaches the api could mint tokens: ` +
        `${fix}, or bind API_HOST to 127.0.0.1, ::1 or localhost`,
    );
}
