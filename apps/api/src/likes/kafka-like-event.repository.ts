import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { EventCodec, likeKey, type LikeEvent } from '@doubletap/events';
import { type BatchSink, BatchingProducer, createBatchSink, TopicGuard } from '@doubletap/kafka';
import type { HealthRegistry, Logger, Registry } from '@doubletap/observability';
import { HEALTH, LOGGER, METRICS } from '../platform/tokens';
import type { LikeEventRepository } from './like-event.repository';
import { produceMetrics } from './produce-metrics';

/**
 * LikeEvents to Kafka: Avro through the registry (schema id resolved once, in the background until
 * the registry answers), then the micro-batching producer of the configured Kafka client
 * (KAFKA_PRODUCER_CLIENT). Shuts down after the HTTP
 * server stopped (onApplicationShutdown): flushes what is queued, then disconnects.
 */
@Injectable()
export class KafkaLikeEventRepository implements LikeEventRepository, OnModuleInit, OnApplicationShutdown {
  private readonly codec: EventCodec;
  private readonly sink: BatchSink;
  private readonly batcher: BatchingProducer;
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
    this.sink = createBatchSink({
      client: settings.kafka.producerClient,
      brokers: settings.kafka.brokers,
      clientId: `${settings.kafka.clientId}-api`,
      topic: settings.topics.events,
      pinnedPartitions: settings.topics.partitions,
      timeoutMs: api.produceTimeoutMs,
      logger,
    });
    this.topic = new TopicGuard({
      brokers: settings.kafka.brokers,
      topic: settings.topics.events,
      pinnedPartitions: settings.topics.partitions,
      logger,
    });
    this.batcher = new BatchingProducer(this.sink.send, {
      lingerMs: api.lingerMs,
      batchMaxSize: api.batchMaxSize,
      queueMax: api.queueMax,
      timeoutMs: api.produceTimeoutMs,
      unavailable: () => this.sink.unavailable() ?? this.topic.refusal(),
      // a batch whose outcome is unknown retires the producer: nothing else goes out on it
      onInDoubt: (why) => this.sink.discard(why),
      observer: produceMetrics(metrics, () => this.batcher.depth),
    });
    health.register('kafka-producer', async () => {
      if (!this.sink.isConnected) throw new Error('the Kafka producer is not connected');
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
    void this.sink.start();
    void this.topic.start();
    void this.resolveSchema();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    const pending = this.batcher.depth;
    await this.batcher.close();
    await this.sink.stop();
    this.topic.stop();
    this.logger.info({ flushed: pending }, 'producer flushed and disconnected');
  }

  get ready(): boolean {
    return this.codec.ready;
  }

  get queueDepth(): number {
    return this.batcher.depth;
  }

  append(event: LikeEvent): Promise<void> {
    let value: Buffer | undefined;
    try {
      value = this.codec.encodeLikeNow(event);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const key = likeKey(event.postId, event.userId);
    // undefined: the Avro writer rejected the event; the library's encoder gives the reason
    if (value === undefined)
      return this.codec.encodeLike(event).then((v) => this.batcher.send({ key, value: v }));
    return this.batcher.send({ key, value });
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
