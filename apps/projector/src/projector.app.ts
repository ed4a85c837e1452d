import type { Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import {
  consumerDead,
  consumerNotReady,
  coordinatorSilenceGauge,
  createBatchConsumer,
  createKafka,
  type ConsumerHealthLimits,
  type GroupConsumer,
  partitionCount,
  topicOffsets,
  type Kafka,
} from '@doubletap/kafka';
import { createLogger, HealthRegistry, type Logger } from '@doubletap/observability';
import { createRedis, LikesProjection, ReadSideProgress, type Redis } from '@doubletap/redis';
import { startOpsServer, type OpsServer } from '@doubletap/runtime';
import { projectorMetrics, type ProjectorMetrics } from './metrics';
import { ProjectionHandler } from './projection.handler';

export interface ProjectorOptions {
  logger?: Logger;
  /** partitions of likes.counts applied in parallel (each stays in order); default 4 */
  concurrency?: number;
  backoffMs?: { initial: number; max: number };
  /**
   * how often the owned partitions' progress in Redis is checked while no record arrives (a
   * FLUSHALL or an empty restart of Redis is then healed without waiting for traffic), ms; default
   * 1000 (settings.projector.progressCheckMs, PROJECTOR_PROGRESS_CHECK_MS), 0 = never
   */
  progressCheckMs?: number;
}

/**
 * The projector process: likes.counts → guarded apply in Redis (+ PUBLISH), with its progress kept
 * in Redis beside the data (ADR 0008: Redis, not the committed Kafka offsets, says where each
 * partition resumes, and a Redis that lost its data is healed from likes.counts). Kafka offsets are
 * still committed, for lag monitoring only. Starts even when Redis is down (it waits, /ready says
 * why; /health stays green: waiting and healing are work, not death).
 */
export class ProjectorApp {
  readonly logger: Logger;
  readonly metrics: ProjectorMetrics;
  readonly health = new HealthRegistry();
  readonly redis: Redis;
  readonly handler: ProjectionHandler;
  private readonly consumer: GroupConsumer;
  private readonly kafka: Kafka;
  private ops?: OpsServer;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  /** P of likes.counts, read at start */
  private partitionCount = 0;
  private progress?: ReadSideProgress;
  private readonly progressCheckMs: number;
  private readonly groupLimits: ConsumerHealthLimits;

  constructor(
    readonly settings: Settings,
    options: ProjectorOptions = {},
  ) {
    this.logger = options.logger ?? createLogger('projector', settings.logLevel);
    this.metrics = projectorMetrics();
    this.progressCheckMs = options.progressCheckMs ?? 1000;
    this.groupLimits = { sessionTimeoutMs: settings.kafka.sessionTimeoutMs, silenceMaxMs: settings.kafka.coordinatorSilenceMaxMs };
    // no offline queue and no resend after a reconnect: a command meant for the Redis that went away
    // fails instead of landing, unchecked, in a new (possibly empty) one
    this.redis = createRedis({
      url: settings.redis.url,
      name: 'projector',
      offlineQueue: false,
      resendAfterReconnect: false,
      commandTimeoutMs: 5000,
    });
    this.redis.on('error', (err: Error) => this.logger.debug({ err }, 'redis connection error'));
    // Redis Cluster: a master that came back empty removes the progress, so everything heals (ADR 0025)
    const projection = new LikesProjection(this.redis, settings.redis.keyPrefix, Date.now, () => {
      this.metrics.masterLosses.inc();
      this.logger.warn(
        'a Redis Cluster master lost its data (marker missing, found by a batch): healing the whole read side',
      );
    });
    const codec = new EventCodec(settings.registry.url, { events: settings.topics.events, counts: settings.topics.counts });
    const started = () => {
      if (!this.progress) throw new Error('projector not started');
      return this.progress;
    };
    this.handler = new ProjectionHandler({
      decode: (value) => codec.decodeCount(value),
      apply: (changes, step) => projection.applyBatch(changes, step),
      progress: {
        positions: (partitions) => started().positions(partitions),
        startHeal: (partition, low, high) => started().startHeal(partition, low, high),
      },
      control: {
        seek: (partition, offset) => this.consumer.seek(partition, offset),
        pause: (partitions) => this.consumer.pause(partitions),
        resume: (partitions) => this.consumer.resume(partitions),
      },
      logEnds: async () => {
        const ends = await topicOffsets(this.kafka, settings.topics.counts);
        if (ends.length === 0) throw new Error(`topic ${settings.topics.counts} has no partitions (does it exist?)`);
        return new Map(ends.map((e) => [e.partition, { low: e.low, high: e.high }]));
      },
      partitions: () => this.partitionCount,
      metrics: this.metrics,
      logger: this.logger,
      backoffMs: options.backoffMs,
    });
    const kafka = (this.kafka = createKafka({
      brokers: settings.kafka.brokers,
      clientId: `${settings.kafka.clientId}-projector`,
      logger: this.logger,
    }));
    this.consumer = createBatchConsumer({ kafka: { ...settings.kafka, clientId: `${settings.kafka.clientId}-projector` } }, {
      kafka,
      groupId: settings.projector.groupId,
      topic: settings.topics.counts,
      handler: this.handler,
      logger: this.logger,
      fromBeginning: true,
      partitionsConsumedConcurrently: options.concurrency ?? 4,
    });
    coordinatorSilenceGauge(this.metrics.registry, () => this.consumer.status());
    this.health.register('redis', async () => {
      if ((await this.redis.ping()) !== 'PONG') throw new Error('unexpected PING reply');
    });
    this.health.register('consumer', async () => {
      if (this.state !== 'running') throw new Error(`projector is ${this.state}`);
      const why = consumerNotReady(this.consumer.status(), this.groupLimits);
      if (why) throw new Error(why);
      if (!this.handler.joined) throw new Error(`not yet a member of group ${settings.projector.groupId}`);
    });
    this.health.register('read-side', async () => {
      const why = this.handler.tracker.notReady();
      if (why) throw new Error(why);
    });
  }

  /** port of the ops HTTP server (after start) */
  get port(): number {
    return this.ops?.port ?? 0;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot start a ${this.state} projector`);
    const topic = this.settings.topics.counts;
    this.partitionCount = await partitionCount(this.kafka, topic).catch(() => 0);
    if (this.partitionCount === 0)
      throw new Error(`topic ${topic} does not exist (or Kafka is unreachable): run \`doubletap setup\` first`);
    this.progress = new ReadSideProgress(this.redis, this.settings.redis.keyPrefix, this.partitionCount, {
      onMasters: ({ lost, tripped, marked }) => {
        if (tripped) this.metrics.masterLosses.inc();
        if (lost.length > 0)
          this.logger.warn(
            { lost, tripped },
            'a Redis Cluster master lost its data (marker missing): healing the whole read side',
          );
        if (marked.length > 0)
          this.logger.info({ masters: marked }, 'Redis Cluster masters marked (ADR 0025)');
      },
      onMastersError: (err) =>
        this.logger.debug({ err }, 'Redis Cluster master check failed (retried at the next check)'),
    });
    this.ops = await startOpsServer({
      host: this.settings.projector.host,
      port: this.settings.projector.port,
      health: this.health,
      // a consumer that crashed and is not running again, or one its coordinator has stopped
      // answering, is never green (ADR 0028)
      alive: () => (this.state === 'running' ? consumerDead(this.consumer.status(), this.groupLimits) : undefined),
      metrics: this.metrics.registry,
    });
    await this.consumer.start();
    this.handler.tracker.start(this.progressCheckMs);
    this.state = 'running';
    this.logger.info(
      { topic: this.settings.topics.counts, group: this.settings.projector.groupId, port: this.port },
      'projector started',
    );
  }

  /** Graceful: the batch in flight finishes (or is abandoned uncommitted if Redis is down), then leave the group. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    this.handler.tracker.stop();
    try {
      await this.consumer.stop();
    } catch (err) {
      this.logger.warn({ err }, 'consumer stop failed');
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
    await this.ops?.close();
    this.state = 'stopped';
    this.logger.info('projector stopped');
  }
}
