import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings } from '@doubletap/config';
import { createIdempotentProducer, createKafka, createOffsetsReader, deleteTopics, ensureTopics } from '@doubletap/kafka';
import { LagSampler } from '@doubletap/lag';
import { REPO_ROOT, stackEnv, uniqueName } from '@doubletap/testing';

/** Kafka's own kafka-consumer-groups tool, from the kafka-tools artifact the stack fetched. */
function kafkaToolLag(brokers: string, group: string): Map<number, number> {
  const dist = join(REPO_ROOT, '.stack', 'dist');
  const kafkaDir = readdirSync(dist).find((d) => d.startsWith('kafka-'));
  if (!kafkaDir) throw new Error(`no kafka distribution under ${dist}`);
  const text = execFileSync(
    'java',
    ['-Xmx128m', '-cp', join(dist, kafkaDir, 'libs', '*'), 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
      '--bootstrap-server', brokers, '--describe', '--group', group],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const lags = new Map<number, number>();
  const lines = text.split('\n').filter((l) => l.trim().length > 0);
  const header = lines.findIndex((l) => /\bPARTITION\b/.test(l) && /\bLAG\b/.test(l));
  const cols = lines[header].trim().split(/\s+/);
  for (const line of lines.slice(header + 1)) {
    const cells = line.trim().split(/\s+/);
    lags.set(Number(cells[cols.indexOf('PARTITION')]), Number(cells[cols.indexOf('LAG')]));
  }
  return lags;
}

describe('lag', () => {
  const settings = loadSettings(stackEnv());
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'test-lag' });
  const topic = uniqueName('t-lag');
  const group = uniqueName('g-lag');
  const reader = createOffsetsReader(kafka);

  beforeAll(async () => {
    await ensureTopics(kafka, [{ topic, partitions: 3, config: {} }]);
    await reader.connect();
  });
  afterAll(async () => {
    await reader.deleteGroup(group).catch(() => undefined);
    await reader.close();
    await deleteTopics(kafka, [topic]);
  });

  it('in messages equals what kafka-consumer-groups prints; in seconds is the age of the first unconsumed record', async () => {
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 90 }, (_, i) => ({ partition: i % 3, value: `v${i}` })) });
    await producer.disconnect();
    await reader.setGroupOffsets(group, topic, [
      { partition: 0, offset: 30 }, // caught up
      { partition: 1, offset: 10 },
      { partition: 2, offset: 0 },
    ]);

    const sample = await new LagSampler(reader).sample(group, topic);
    const ours = new Map(sample.partitions.map((p) => [p.partition, p.lag]));
    expect(ours).toEqual(new Map([[0, 0], [1, 20], [2, 30]]));
    expect(kafkaToolLag(settings.kafka.brokers[0], group)).toEqual(ours);
    expect(sample.totalLag).toBe(50);

    const p0 = sample.partitions.find((p) => p.partition === 0)!;
    const p1 = sample.partitions.find((p) => p.partition === 1)!;
    expect(p0.lagSeconds).toBe(0);
    expect(p1.lagSeconds).toBeGreaterThan(0);
    expect(p1.lagSeconds).toBeLessThan(120); // produced moments ago: never an absurd age
    expect(sample.status).toBe('ERR'); // no live member and lag on two partitions: STOP
    expect(p1.status).toBe('STOP');
    expect(p0.status).toBe('OK');
  });
});
