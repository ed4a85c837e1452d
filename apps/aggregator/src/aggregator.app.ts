import { hostname } from 'node:os';
import type { Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { BatchConsumer, createIdempotentProducer, createKafka, topicOffsets, type Producer } from '@doubletap/kafka';
import { createLogger, createMetricsRegistry, HealthRegistry, type Logger, type Registry } from '@doubletap/observability';
import { createRedis, publishOwners, withdrawOwners, type Redis } from '@doubletap/redis';
import type { FastifyInstance } from 'fastify';
import { Aggregator, createAggregatorMetrics, type OwnershipRegistry } from '@doubletap/aggregation';
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
  afterCommit?: (partition: number, commits: number) => void;
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
    private readonly consumer: BatchConsumer,
    private readonly producer: Producer,
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

    const partitions = (await topicOffsets(kafka, topics.events)).length;
    if (partitions === 0) throw new Error(`input topic ${topics.events} does not exist (run \`doubletap setup\`)`);
    const codec = new EventCodec(settings.registry.url, topics);
    await codec.init();
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
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
      producer,
      offsets: () => topicOffsets(kafka, topics.events),
      logger,
      metrics,
      ownership,
      afterCommit: options.afterCommit,
      onFatal: (e) => {
        fatal = e;
        options.onFatal?.(e);
      },
    });

    const http = buildInternalServer({ aggregator, partitions, metrics: registry, health, alive: () => fatal === undefined });
    const address = await http.listen({ host: settings.aggregator.host, port: settings.aggregator.port });
    const port = Number(new URL(address).port);
    const host = ['0.0.0.0', '::', ''].includes(settings.aggregator.host) ? hostname() : settings.aggregator.host;
    url = settings.aggregator.advertisedUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

    const consumer = new BatchConsumer({
      kafka,
      groupId: settings.aggregator.groupId,
      topic: topics.events,
      handler: aggregator,
      logger,
      fromBeginning: true,
      partitionsConsumedConcurrently: options.concurrency ?? Math.min(4, partitions),
    });
    aggregator.attach(consumer);

    health.register('consumer', async () => {
      if (fatal) throw fatal;
      if (consumer.lastCrash) throw new Error(`consumer crashed: ${consumer.lastCrash.message}`);
      if (!aggregator.hasAssignment) throw new Error('no partition assignment yet');
    });
    health.register('restore', async () => {
      const restoring = aggregator.restoringPartitions;
      if (restoring.length > 0) throw new Error(`restoring partitions ${restoring.join(',')}`);
    });
    health.register('redis', async () => {
      await redis.ping();
    });

    const app = new AggregatorApp(settings, logger, aggregator, registry, url, consumer, producer, redis, http);
    await consumer.start();
    const every = options.ownersRefreshMs ?? 30000;
    app.refreshTimer = setInterval(() => {
      const member = aggregator.memberInfo;
      if (!member || aggregator.ownedPartitions.length === 0) return;
      ownership.publish(aggregator.ownedPartitions, member).catch((e: unknown) => logger.warn({ err: e }, 'owners refresh failed'));
    }, every);
    app.refreshTimer.unref();
    logger.info({ url, partitions, groupId: settings.aggregator.groupId, dataDir: settings.aggregator.dataDir }, 'aggregator started');
    return app;
  }

  /** Graceful: stop consuming (the batch in flight finishes) → flush outboxes → close stores → withdraw ownership. */
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
    await step('disconnect producer', () => this.producer.disconnect());
    await step('close http', () => this.http.close());
    await step('quit redis', () => this.redis.quit());
    this.logger.info('aggregator stopped');
  }
}
