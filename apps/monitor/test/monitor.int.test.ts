import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadSettings } from '@doubletap/config';
import { createIdempotentProducer, createKafka, createOffsetsReader, deleteTopics, ensureTopics } from '@doubletap/kafka';
import { LagSampler, type GroupLag } from '@doubletap/lag';
import { stackEnv, uniqueName, waitFor } from '@doubletap/testing';
import { MonitorModule } from '../src/monitor.module';

describe('lag monitor service', () => {
  const env = stackEnv({
    TOPIC_EVENTS: uniqueName('t-mon-events'),
    TOPIC_COUNTS: uniqueName('t-mon-counts'),
    AGGREGATOR_GROUP: uniqueName('g-mon-agg'),
    PROJECTOR_GROUP: uniqueName('g-mon-proj'),
    MONITOR_INTERVAL_MS: '500',
    MONITOR_PORT: '0',
    LOG_LEVEL: 'warn',
  });
  const settings = loadSettings(env);
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'test-monitor' });
  const reader = createOffsetsReader(kafka);
  let app: NestFastifyApplication;
  let base: string;

  beforeAll(async () => {
    await ensureTopics(kafka, [
      { topic: settings.topics.events, partitions: 2, config: {} },
      { topic: settings.topics.counts, partitions: 2, config: {} },
    ]);
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    await producer.send({ topic: settings.topics.events, acks: -1, messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, value: `v${i}` })) });
    await producer.disconnect();
    await reader.connect();
    await reader.setGroupOffsets(settings.aggregator.groupId, settings.topics.events, [
      { partition: 0, offset: 20 },
      { partition: 1, offset: 5 },
    ]);
    app = await NestFactory.create<NestFastifyApplication>(MonitorModule.register(settings), new FastifyAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await reader.deleteGroup(settings.aggregator.groupId).catch(() => undefined);
    await reader.close();
    await deleteTopics(kafka, [settings.topics.events, settings.topics.counts]);
  });

  it('serves the same figures as the CLI sampler, as JSON and as Prometheus metrics', async () => {
    const status = await waitFor('a sample', async () => {
      const body = (await (await fetch(`${base}/status`)).json()) as { groups: GroupLag[] };
      return body.groups.length === 2 ? body : undefined;
    });
    const cli = await new LagSampler(reader).sample(settings.aggregator.groupId, settings.topics.events);
    const served = status.groups.find((g) => g.group === settings.aggregator.groupId)!;
    expect(served.partitions.map((p) => [p.partition, p.committed, p.logEnd, p.lag])).toEqual(
      cli.partitions.map((p) => [p.partition, p.committed, p.logEnd, p.lag]),
    );
    expect(served.totalLag).toBe(15);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`doubletap_consumer_lag_messages{group="${settings.aggregator.groupId}",topic="${settings.topics.events}",partition="1",app="monitor"} 15`);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    expect(await (await fetch(`${base}/`)).text()).toContain('Consumer lag');
  });
});
