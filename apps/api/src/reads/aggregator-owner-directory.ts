import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { createKafka, partitionCount } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { OwnersCache } from '@doubletap/queries';
import { LiveCounts, type OwnerEndpoint, readOwnerMap, type Redis } from '@doubletap/redis';
import { LOGGER, REDIS } from '../platform/tokens';
import type { OwnerDirectory, PartitionOwner } from './owner-directory';

/** The partition count of the events topic is re-read this often (partitions can be added). */
const PARTITIONS_REFRESH_MS = 60_000;
/** The owners map is re-read at least this often, announcements or not. */
const OWNERS_MAX_AGE_MS = 5_000;

/**
 * The owners map in Redis, read whole (HGETALL) and cached (OwnersCache) until an aggregator
 * announces an ownership change on the owners channel (heard through the live-count hub), the hub's
 * connection has a gap, an owner says it is not the owner, or OWNERS_MAX_AGE_MS pass; and the
 * partition count of likes.events from Kafka, not from configuration: asking the owner of the
 * wrong partition could give a wrong answer.
 */
@Injectable()
export class AggregatorOwnerDirectory implements OwnerDirectory, OnModuleInit, OnApplicationShutdown {
  private count = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly owners: OwnersCache<OwnerEndpoint>;

  constructor(
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(REDIS) redis: Redis,
    @Inject(LiveCounts) live: LiveCounts,
  ) {
    this.owners = new OwnersCache(() => readOwnerMap(redis, settings.redis.keyPrefix), OWNERS_MAX_AGE_MS);
    live.listen({ ownersChanged: () => this.owners.invalidate(), gap: () => this.owners.invalidate() });
  }

  get partitions(): number {
    return this.count;
  }

  owner(partition: number): Promise<PartitionOwner | undefined> {
    return this.owners.owner(partition);
  }

  invalidate(): void {
    this.owners.invalidate();
  }

  onModuleInit(): void {
    void this.resolvePartitions();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async resolvePartitions(): Promise<void> {
    let delay = 200;
    const kafka = createKafka({
      brokers: this.settings.kafka.brokers,
      clientId: `${this.settings.kafka.clientId}-api-reads`,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retries: 1,
    });
    const topic = this.settings.topics.events;
    while (!this.stopped) {
      try {
        const n = await partitionCount(kafka, topic);
        if (n > 0) {
          if (n !== this.count) this.logger.info({ topic, partitions: n }, 'reads: partition count known');
          this.count = n;
          delay = PARTITIONS_REFRESH_MS;
        } else {
          this.logger.warn({ topic }, 'reads: events topic has no partitions (does it exist?)');
        }
      } catch (err) {
        this.logger.warn({ err, retryInMs: delay }, 'reads: cannot read the partition count');
      }
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, delay);
        this.timer.unref();
      });
      if (delay < PARTITIONS_REFRESH_MS) delay = Math.min(delay * 2, 5000);
    }
  }
}
