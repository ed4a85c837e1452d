import type { Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { BatchConsumer, createKafka, partitionCount, type Kafka } from '@doubletap/kafka';
import { createLogger, HealthRegistry, type Logger } from '@doubletap/observability';
import { createRedis, LikesProjection, type Redis } from '@doubletap/redis';
import { projectorMetrics, type ProjectorMetrics } from './metrics';
import { startOpsServer, type OpsServer } from './ops-server';
import { ProjectionHandler } from './projection.handler';

export interface ProjectorOptions {
  logger?: Logger;
  /** partitions of likes.counts applied in parallel (each stays in order); default 4 */
  concurrency?: number;
  backoffMs?: { initial: number; max: number };
}

/**
 * The projector process: likes.counts → guarded apply in Redis (+ PUBLISH), offsets committed
 * after Redis applied. Starts even when Redis is down (it waits, /ready says why).
 */
export class ProjectorApp {
  readonly logger: Logger;
  readonly metrics: ProjectorMetrics;
  readonly health = new HealthRegistry();
  readonly redis: Redis;
  readonly handler: ProjectionHandler;
  private readonly consumer: BatchConsumer;
  private readonly kafka: Kafka;
  private ops?: OpsServer;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(
    readonly settings: Settings,
    options: ProjectorOptions = {},
  ) {
    this.logger = options.logger ?? createLogger('projector', settings.logLevel);
    this.metrics = projectorMetrics();
    this.redis = createRedis({ url: settings.redis.url, name: 'projector', offlineQueue: false, commandTimeoutMs: 5000 });
    this.redis.on('error', (err: Error) => this.logger.debug({ err }, 'redis connection error'));
    const projection = new LikesProjection(this.redis, settings.redis.keyPrefix);
    const codec = new EventCodec(settings.registry.url, { events: settings.topics.events, counts: settings.topics.counts });
    this.handler = new ProjectionHandler({
      decode: (value) => codec.decodeCount(value),
      apply: (changes) => projection.applyBatch(changes),
      metrics: this.metrics,
      logger: this.logger,
      backoffMs: options.backoffMs,
    });
    const kafka = (this.kafka = createKafka({
      brokers: settings.kafka.brokers,
      clientId: `${settings.kafka.clientId}-projector`,
      logger: this.logger,
    }));
    this.consumer = new BatchConsumer({
      kafka,
      groupId: settings.projector.groupId,
      topic: settings.topics.counts,
      handler: this.handler,
      logger: this.logger,
      fromBeginning: true,
      partitionsConsumedConcurrently: options.concurrency ?? 4,
    });
    this.health.register('redis', async () => {
      if ((await this.redis.ping()) !== 'PONG') throw new Error('unexpected PING reply');
    });
    this.health.register('consumer', async () => {
      if (this.state !== 'running') throw new Error(`projector is ${this.state}`);
      if (!this.handler.joined) throw new Error(`not yet a member of group ${settings.projector.groupId}`);
    });
  }

  /** port of the ops HTTP server (after start) */
  get port(): number {
    return this.ops?.port ?? 0;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot start a ${this.state} projector`);
    const topic = this.settings.topics.counts;
    if ((await partitionCount(this.kafka, topic).catch(() => 0)) === 0)
      throw new Error(`topic ${topic} does not exist (or Kafka is unreachable): run \`doubletap setup\` first`);
    this.ops = await startOpsServer({
      host: this.settings.projector.host,
      port: this.settings.projector.port,
      health: this.health,
      metrics: this.metrics.registry,
    });
    await this.consumer.start();
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
