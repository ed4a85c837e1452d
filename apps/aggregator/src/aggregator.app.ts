import { hostname } from 'node:os';
import type { Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { consumerDead, consumerNotReady, coordinatorSilenceGauge, createBatchConsumer, createKafka, type GroupConsumer, TopicIdentityReader, topicOffsets } from '@doubletap/kafka';
import { createLogger, createMetricsRegistry, HealthRegistry, type Logger, type Registry } from '@doubletap/observability';
import { createRedis, publishOwners, withdrawOwners, type Redis } from '@doubletap/redis';
import { storeEngine } from '@doubletap/store';
import type { FastifyInstance } from 'fastify';
import {
  Aggregator,
  createAggregatorMetrics,
  KafkaChangelog,
  parseStandbyChoice,
  type AggregatorFaults,
  type OwnershipRegistry,
} from '@doubletap/aggregation';
import { buildInternalServer } from './http/server';

export interface AggregatorAppOptions {
  logger?: Logger;
  /** input partitions applied in parallel (each one still strictly in order) */
  concurrency?: number;
  /** ms between re-publications of the owners map (heals a flushed Redis) */
  ownersRefreshMs?: number;
  /** called once when the process cannot continue (a store that cannot be opened) */
  onFatal?: (error: Error) => void;
  /** fault injection for crash tests (see Aggregator deps) */
  faults?: AggregatorFaults;
  /** first and largest pause between retries while a dependency is down, ms */
  backoffMs?: { initial: number; max: number };
}

/**
 * One aggregator process: consumer-group member, per-partition stores, CountChanged producer,
 * owners map in Redis and the internal HTTP server. `start` returns once it listens and has joined.
 */
export class AggregatorApp {
  private refreshTimer?: NodeJS.Timeout;
  private stopping?: Promise<void>;

  private constructor(
    readonly settings: Settings,
    readonly logger: Logger,
    readonly aggregator: Aggregator,
    readonly metrics: Registry,
    readonly url: string,
    private readonly consumer: GroupConsumer,
    private readonly identity: TopicIdentityReader,
    private readonly redis: Redis,
    private readonly http: FastifyInstance,
  ) {}

  static async start(settings: Settings, options: AggregatorAppOptions = {}): Promise<AggregatorApp> {
    const logger = options.logger ?? createLogger('aggregator', settings.logLevel);
    const registry = createMetricsRegistry('aggregator');
    const metrics = createAggregatorMetrics(registry);
    const health = new HealthRegistry();
    const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: `${settings.kafka.clientId}-aggregator`, logger });
    const topics = settings.topics;

    const identity = new TopicIdentityReader(settings.kafka.brokers, `${settings.kafka.clientId}-aggregator`);
    const found = await identity.describe(topics.events);
    if (!found) throw new Error(`input topic ${topics.events} does not exist (run \`doubletap setup\`)`);
    // the pinned partition count: keys are routed over it; a topic with another count is refused per partition
    const partitions = settings.topics.partitions;
    if (found.partitions !== partitions)
      logger.error(
        { topic: topics.events, partitions: found.partitions, pinned: partitions },
        'the input topic has another partition count than TOPIC_PARTITIONS: its partitions will refuse to apply',
      );
    // CountChanged and changelog records of input partition p go to partition p of these topics
    for (const topic of [topics.counts, topics.changelog]) {
      const t = await identity.describe(topic);
      if (!t || t.partitions < partitions)
        throw new Error(
          `topic ${topic} ${t ? `has ${t.partitions} partitions, fewer than the ${partitions} of ${topics.events}` : 'does not exist'} (run \`doubletap setup\`)`,
        );
    }
    const codec = new EventCodec(settings.registry.url, topics);
    const redis = createRedis({ url: settings.redis.url, name: 'doubletap-aggregator', offlineQueue: true });

    let fatal: Error | undefined;
    let url = '';
    const ownership: OwnershipRegistry = {
      publish: (owned, owner) => publishOwners(redis, settings.redis.keyPrefix, owned, { url, ...owner }),
      withdraw: async (owned, owner) => {
        await withdrawOwners(redis, settings.redis.keyPrefix, owned, { memberId: owner.memberId, url });
      },
    };
    const aggregator = new Aggregator({
      topics,
      partitions,
      dataDir: settings.aggregator.dataDir,
      codec,
      kafka,
      transactionalIdPrefix: settings.aggregator.groupId,
      input: { offsets: () => topicOffsets(kafka, topics.events), identity: () => identity.describeRecent(topics.events) },
      changelog: { io: new KafkaChangelog(kafka, topics.changelog, logger), topic: topics.changelog },
      standbys: parseStandbyChoice(settings.aggregator.standbys),
      logger,
      metrics,
      ownership,
      backoffMs: options.backoffMs,
      faults: options.faults,
      onFatal: (e) => {
        fatal = e;
        options.onFatal?.(e);
      },
    });

    const consumer = createBatchConsumer({ kafka: { ...settings.kafka, clientId: `${settings.kafka.clientId}-aggregator` } }, {
      kafka,
      groupId: settings.aggregator.groupId,
      topic: topics.events,
      handler: aggregator,
      logger,
      fromBeginning: true,
      // AGGREGATOR_FETCH_PARTITION_BYTES (1 MiB) per partition and 8 MiB (at least one partition's)
      // per fetch: batches of ~10k events (one transaction and one store write each) without holding
      // more decoded records than the RSS budget allows (measured: docs/adr/0021)
      maxBytesPerPartition: settings.aggregator.fetchPartitionBytes,
      maxBytes: Math.max(8 * 1048576, settings.aggregator.fetchPartitionBytes),
      partitionsConsumedConcurrently: options.concurrency ?? Math.min(4, partitions),
      // fewer, larger live batches: one output transaction per partition per interval at most (ADR 0030)
      minBatchIntervalMs: settings.aggregator.commitIntervalMs,
      warm: () => aggregator.warmPartitions,
    });
    aggregator.attach(consumer);
    // liveness: a fatal error, a consumer that crashed and is not running again, or one its group
    // coordinator has not answered for KAFKA_COORDINATOR_SILENCE_MAX_MS, is never green (ADR 0028)
    const groupLimits = { sessionTimeoutMs: settings.kafka.sessionTimeoutMs, silenceMaxMs: settings.kafka.coordinatorSilenceMaxMs };
    const alive = (): string | undefined => (fatal ? `fatal: ${fatal.message}` : consumerDead(consumer.status(), groupLimits));
    coordinatorSilenceGauge(registry, () => consumer.status());
    const http = buildInternalServer({ aggregator, partitions, metrics: registry, health, alive });
    const address = await http.listen({ host: settings.aggregator.host, port: settings.aggregator.port });
    const port = Number(new URL(address).port);
    const host = ['0.0.0.0', '::', ''].includes(settings.aggregator.host) ? hostname() : settings.aggregator.host;
    url = settings.aggregator.advertisedUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;


    health.register('consumer', async () => {
      const why = alive() ?? consumerNotReady(consumer.status(), groupLimits);
      if (why) throw new Error(why);
      if (!aggregator.hasAssignment) throw new Error('no partition assignment yet');
    });
    health.register('partitions', async () => {
      const problems: string[] = [];
      for (const s of aggregator.stoppedPartitions) problems.push(`partition ${s.partition} stopped (${s.code}): ${s.reason}`);
      const restoring = aggregator.restoringPartitions;
      if (restoring.length > 0) problems.push(`catching up partitions ${restoring.join(',')}`);
      for (const b of aggregator.blockedPartitions)
        problems.push(`partition ${b.partition} waiting for ${b.what} since ${new Date(b.since).toISOString()}${b.error ? ` (${b.error})` : ''}`);
      if (problems.length > 0) throw new Error(problems.join('; '));
    });
    health.register('redis', async () => {
      await redis.ping();
    });
    health.register('schema-registry', async () => {
      if (!codec.ready) throw new Error('waiting for the schema registry (the schema ids are not resolved yet)');
    });

    const app = new AggregatorApp(settings, logger, aggregator, registry, url, consumer, identity, redis, http);
    // the registry may be down: listen (not ready) and wait for it rather than exit; nothing is
    // consumed before the schema ids are known (no record is ever judged without its schema)
    for (let delay = 200, attempt = 1; ; attempt++) {
      try {
        await codec.init();
        break;
      } catch (e) {
        if (attempt === 1 || attempt % 10 === 0) logger.warn({ err: e, retryInMs: delay }, 'schema registry not reachable; waiting');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    await aggregator.scanStores(); // the first join claims the stores an earlier run left on disk
    await consumer.start();
    const every = options.ownersRefreshMs ?? 30000;
    app.refreshTimer = setInterval(() => {
      const member = aggregator.memberInfo;
      if (!member || aggregator.ownedPartitions.length === 0) return;
      ownership.publish(aggregator.ownedPartitions, member).catch((e: unknown) => logger.warn({ err: e }, 'owners refresh failed'));
    }, every);
    app.refreshTimer.unref();
    const store = storeEngine();
    logger.info(
      { url, partitions, groupId: settings.aggregator.groupId, dataDir: settings.aggregator.dataDir, standbys: settings.aggregator.standbys, store },
      'aggregator started',
    );
    if (store.mappedTables)
      logger.warn(store, 'LevelDB maps its table files: the RSS will count their pages as they are read (ADR 0026: scripts/build-leveldb.sh, LEVELDB_MMAP_LIMIT=0)');
    return app;
  }

  /** Graceful: stop consuming (the batch in flight finishes) → release partitions (close producers and stores) → withdraw ownership. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.refreshTimer);
    const step = async (what: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (e) {
        this.logger.error({ err: e }, `shutdown: ${what} failed`);
      }
    };
    await step('stop consumer', () => this.consumer.stop());
    await step('close stores', () => this.aggregator.close());
    await step('close identity reader', () => this.identity.close());
    await step('close http', () => this.http.close());
    await step('quit redis', () => this.redis.quit());
    this.logger.info('aggregator stopped');
  }
}
