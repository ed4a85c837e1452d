import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { EventCodec, likeKey, type LikeEvent } from '@doubletap/events';
import {
  type BatchSink,
  BatchingProducer,
  createBatchSink,
  partitionForKey,
  TopicGuard,
} from '@doubletap/kafka';
import type { HealthRegistry, Logger, Registry } from '@doubletap/observability';
import { HEALTH, LOGGER, METRICS } from '../platform/tokens';
import type { LikeEventRepository } from './like-event.repository';
import { produceMetrics } from './produce-metrics';

interface Lane {
  sink: BatchSink;
  batcher: BatchingProducer;
}

/**
 * LikeEvents to Kafka: Avro through the registry (schema id resolved once, in the background until
 * the registry answers), then the micro-batching producer of the configured Kafka client
 * (KAFKA_PRODUCER_CLIENT), PRODUCER_LANES of them side by side (ADR 0020). Shuts down after the HTTP
 * server stopped (onApplicationShutdown): flushes what is queued, then disconnects.
 */
@Injectable()
export class KafkaLikeEventRepository implements LikeEventRepository, OnModuleInit, OnApplicationShutdown {
  private readonly codec: EventCodec;
  /** PRODUCER_LANES producers, each with its own batching queue; a key always goes to the same lane */
  private readonly lanes: Lane[];
  private readonly partitions: number;
  /** the events topic must keep its pinned partition count and its topic id, or writes are refused */
  private readonly topic: TopicGuard;
  private stopped = false;

  constructor(
    @Inject(SETTINGS) settings: Settings,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) metrics: Registry,
    @Inject(HEALTH) health: HealthRegistry,
  ) {
    const { api } = settings;
    this.codec = new EventCodec(settings.registry.url, settings.topics);
    this.partitions = settings.topics.partitions;
    this.topic = new TopicGuard({
      brokers: settings.kafka.brokers,
      topic: settings.topics.events,
      pinnedPartitions: settings.topics.partitions,
      logger,
    });
    const observer = produceMetrics(metrics, () => this.queueDepth);
    const count = api.producerLanes;
    this.lanes = Array.from({ length: count }, (_, i) => {
      const sink = createBatchSink({
        client: settings.kafka.producerClient,
        brokers: settings.kafka.brokers,
        clientId: count === 1 ? `${settings.kafka.clientId}-api` : `${settings.kafka.clientId}-api-${i}`,
        topic: settings.topics.events,
        pinnedPartitions: settings.topics.partitions,
        timeoutMs: api.produceTimeoutMs,
        logger,
      });
      const batcher: BatchingProducer = new BatchingProducer(sink.send, {
        lingerMs: api.lingerMs,
        batchMaxSize: api.batchMaxSize,
        // the bound of PRODUCER_QUEUE_MAX holds for all lanes together
        queueMax: Math.max(1, Math.floor(api.queueMax / count)),
        timeoutMs: api.produceTimeoutMs,
        unavailable: () => sink.unavailable() ?? this.topic.refusal(),
        // a batch whose outcome is unknown retires the producer: nothing else goes out on it
        onInDoubt: (why) => sink.discard(why),
        observer,
      });
      return { sink, batcher };
    });
    health.register('kafka-producer', async () => {
      const down = this.lanes.filter((l) => !l.sink.isConnected).length;
      if (down > 0)
        throw new Error(
          this.lanes.length === 1
            ? 'the Kafka producer is not connected'
            : `${down} of ${this.lanes.length} Kafka producers are not connected`,
        );
    });
    health.register('events-topic', async () => {
      const refusal = this.topic.refusal();
      if (refusal) throw new Error(refusal);
    });
    health.register('schema', async () => {
      if (!this.codec.ready) throw new Error('the LikeEvent schema id is not resolved yet');
    });
  }

  onModuleInit(): void {
    for (const lane of this.lanes) void lane.sink.start();
    void this.topic.start();
    void this.resolveSchema();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    const pending = this.queueDepth;
    await Promise.all(this.lanes.map((l) => l.batcher.close()));
    await Promise.all(this.lanes.map((l) => l.sink.stop()));
    this.topic.stop();
    this.logger.info({ flushed: pending }, 'producer flushed and disconnected');
  }

  get ready(): boolean {
    return this.codec.ready;
  }

  get queueDepth(): number {
    let depth = 0;
    for (const lane of this.lanes) depth += lane.batcher.depth;
    return depth;
  }

  append(event: LikeEvent): Promise<void> {
    let value: Buffer | undefined;
    try {
      value = this.codec.encodeLikeNow(event);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const key = likeKey(event.postId, event.userId);
    const batcher = this.laneOf(key).batcher;
    // undefined: the Avro writer rejected the event; the library's encoder gives the reason
    if (value === undefined) return this.codec.encodeLike(event).then((v) => batcher.send({ key, value: v }));
    return batcher.send({ key, value });
  }

  /**
   * The lane of a key: by its partition, so every action on one (post, user) leaves this process
   * in the order it was accepted, through one producer (and each lane's batches touch fewer
   * partitions). One lane: no hashing.
   */
  private laneOf(key: string): Lane {
    const lanes = this.lanes;
    return lanes.length === 1 ? lanes[0] : lanes[partitionForKey(key, this.partitions) % lanes.length];
  }

  private async resolveSchema(): Promise<void> {
    let delay = 200;
    while (!this.stopped) {
      try {
        const ids = await this.codec.init();
        this.logger.info({ schemaIds: ids }, 'schema ids resolved');
        return;
      } catch (e) {
        this.logger.warn({ err: e, retryInMs: delay }, 'schema registry not reachable');
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}
