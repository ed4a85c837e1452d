import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { createKafka, createOffsetsReader, type OffsetsReader } from '@doubletap/kafka';
import { LagSampler, type GroupLag } from '@doubletap/lag';
import { createLogger, gauge, type Gauge, type Registry } from '@doubletap/observability';
import { METRICS } from './tokens';

const STATUS_CODE: Record<string, number> = { OK: 0, WARN: 1, REWIND: 2, STALL: 3, STOP: 4, ERR: 5 };

/**
 * Samples the project's consumer groups every interval with the same LagSampler as `doubletap lag`,
 * so the service's figures and the CLI's are the same, and exposes them as Prometheus gauges.
 */
@Injectable()
export class LagMonitorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = createLogger('monitor');
  private readonly reader: OffsetsReader;
  private readonly sampler: LagSampler;
  private timer?: NodeJS.Timeout;
  private latest: GroupLag[] = [];
  private lastError?: string;
  private lastSampleAt = 0;
  private readonly lagMessages: Gauge;
  private readonly lagSeconds: Gauge;
  private readonly partitionStatus: Gauge;
  private readonly groupStatus: Gauge;

  constructor(
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(METRICS) registry: Registry,
  ) {
    this.reader = createOffsetsReader(createKafka({ brokers: settings.kafka.brokers, clientId: 'doubletap-monitor', logger: this.log }));
    this.sampler = new LagSampler(this.reader);
    const labels = ['group', 'topic', 'partition'];
    this.lagMessages = gauge(registry, 'doubletap_consumer_lag_messages', 'committed-to-log-end lag in messages', labels);
    this.lagSeconds = gauge(registry, 'doubletap_consumer_lag_seconds', 'age of the first unconsumed record', labels);
    this.partitionStatus = gauge(registry, 'doubletap_consumer_partition_status', '0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP, 5 ERR', labels);
    this.groupStatus = gauge(registry, 'doubletap_consumer_group_status', '0 OK, 1 WARN, 5 ERR', ['group', 'topic']);
  }

  get targets(): Array<{ group: string; topic: string }> {
    return [
      { group: this.settings.aggregator.groupId, topic: this.settings.topics.events },
      { group: this.settings.projector.groupId, topic: this.settings.topics.counts },
    ];
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.reader.connect();
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.settings.monitor.intervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.reader.close();
  }

  private async tick(): Promise<void> {
    try {
      this.latest = await Promise.all(this.targets.map((t) => this.sampler.sample(t.group, t.topic)));
      this.lastError = undefined;
      this.lastSampleAt = Date.now();
      for (const g of this.latest) {
        this.groupStatus.set({ group: g.group, topic: g.topic }, STATUS_CODE[g.status]);
        for (const p of g.partitions) {
          const labels = { group: g.group, topic: g.topic, partition: String(p.partition) };
          this.lagMessages.set(labels, p.lag);
          this.lagSeconds.set(labels, p.lagSeconds);
          this.partitionStatus.set(labels, STATUS_CODE[p.status]);
        }
      }
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      this.log.warn({ err: this.lastError }, 'lag sample failed');
    }
  }

  status(): { at: string | null; error?: string; groups: GroupLag[] } {
    return { at: this.lastSampleAt ? new Date(this.lastSampleAt).toISOString() : null, error: this.lastError, groups: this.latest };
  }

  /** Ready once a sample succeeded within three intervals. */
  ready(): boolean {
    return !this.lastError && Date.now() - this.lastSampleAt < 3 * this.settings.monitor.intervalMs;
  }
}
