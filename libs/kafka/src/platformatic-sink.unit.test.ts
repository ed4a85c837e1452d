import { EventEmitter } from 'node:events';
import { PartitionCountMismatchError, ProducerUnavailableError } from './batching-producer';
import { kafkajsPartition, partitionForKey } from './partitioner';
import { type PlatformaticLibrary, PlatformaticBatchSink } from './platformatic-sink';

/**
 * The sink's own rules over a fake @platformatic/kafka (jest cannot load the real one, an ECMAScript
 * module, on Node 20); the real client is tested through the built api in
 * apps/api/test/kafka-clients.e2e.test.ts.
 */
const compatibilityPartitioner = () => 0;

interface SendCall {
  messages: { topic: string; key: Buffer; value: Buffer; partition?: number }[];
}

class FakeProducer extends EventEmitter {
  static made: FakeProducer[] = [];
  static partitions = 12;
  /** what the next send answers: the partitions it acknowledges, or an error */
  static answer: (
    call: SendCall,
  ) => Promise<{ offsets: { topic: string; partition: number; offset: bigint }[] }>;
  /** acknowledges every partition of the batch */
  static readonly ackAll = (call: SendCall) =>
    Promise.resolve({
      offsets: [...new Set(call.messages.map((m) => partitionForKey(m.key, 12)))].map((partition) => ({
        topic: 't',
        partition,
        offset: 0n,
      })),
    });
  readonly sends: SendCall[] = [];
  closed = false;
  constructor(readonly options: Record<string, unknown>) {
    super();
    FakeProducer.made.push(this);
  }
  metadata = () =>
    Promise.resolve({ topics: new Map([['t', { partitionsCount: FakeProducer.partitions }]]) });
  initIdempotentProducer = () =>
    Promise.resolve({ producerId: BigInt(FakeProducer.made.length), producerEpoch: 0 });
  send = (call: SendCall) => {
    this.sends.push(call);
    return FakeProducer.answer(call);
  };
  close = (_force: boolean, callback: () => void) => {
    this.closed = true;
    callback();
  };
}

const library = (): PlatformaticLibrary =>
  ({
    Producer: FakeProducer,
    ProduceAcks: { ALL: -1 },
    compatibilityPartitioner,
  }) as unknown as PlatformaticLibrary;

const msg = (key: string) => ({ key, value: Buffer.from(key) });

describe('PlatformaticBatchSink', () => {
  let sink: PlatformaticBatchSink;
  beforeEach(() => {
    FakeProducer.made = [];
    FakeProducer.partitions = 12;
    FakeProducer.answer = FakeProducer.ackAll;
    sink = new PlatformaticBatchSink({
      brokers: ['b:1'],
      clientId: 'c',
      topic: 't',
      pinnedPartitions: 12,
      timeoutMs: 3000,
      library,
    });
  });
  afterEach(() => sink.stop());

  it('builds an idempotent acks=all producer placing keys with compatibilityPartitioner, bounded by the timeout', async () => {
    await sink.start();
    expect(sink.isConnected).toBe(true);
    expect(FakeProducer.made[0].options).toMatchObject({
      idempotent: true,
      acks: -1,
      partitioner: compatibilityPartitioner,
      autocreateTopics: false,
      retries: 2,
      timeout: 3000,
      requestTimeout: 3000,
      connectTimeout: 1000,
    });
  });

  it('sends every record with the partition kafkajs and Java clients choose for its key (no partitioner call)', async () => {
    await sink.start();
    const keys = Array.from({ length: 200 }, (_, i) => `post_${i % 37}/user_${i}`);
    await sink.send(keys.map(msg));
    const sent = FakeProducer.made[0].sends[0].messages;
    expect(sent.map((m) => m.partition)).toEqual(keys.map((k) => kafkajsPartition(k, 12)));
    expect(sent.map((m) => m.key)).toEqual(keys.map((k) => Buffer.from(k)));
    expect(FakeProducer.made[0].options.serializers).toBeUndefined();
  });

  it('resolves when every partition the batch went to was acknowledged', async () => {
    await sink.start();
    await sink.send(['a/1', 'b/2', 'c/3'].map(msg));
    expect(FakeProducer.made[0].sends[0].messages.map((m) => m.key.toString())).toEqual([
      'a/1',
      'b/2',
      'c/3',
    ]);
    expect(FakeProducer.made).toHaveLength(1);
  });

  it('rejects a batch whose answer skipped a partition, and retires the producer for a new one', async () => {
    await sink.start();
    const keys = Array.from({ length: 50 }, (_, i) => `p/${i}`);
    FakeProducer.answer = () =>
      Promise.resolve({ offsets: [{ topic: 't', partition: partitionForKey(keys[0], 12), offset: 0n }] });
    const error = await sink.send(keys.map(msg)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProducerUnavailableError);
    expect((error as Error).message).toMatch(/did not acknowledge t\/\d+/);
    expect(FakeProducer.made[0].closed).toBe(true);
    await sink.start(); // a new producer (new producer id) takes the next batch
    FakeProducer.answer = FakeProducer.ackAll;
    await sink.send([msg('a/1')]);
    expect(FakeProducer.made.map((p) => p.sends.length)).toEqual([1, 1]);
  });

  it('turns a failed send into a 503 naming the broker error, and never sends on that producer again', async () => {
    await sink.start();
    const protocol = Object.assign(new Error('Not enough replicas'), { apiId: 'NOT_ENOUGH_REPLICAS' });
    const failure = Object.assign(new Error('Producing messages failed.'), { errors: [protocol, protocol] });
    FakeProducer.answer = () => Promise.reject(failure);
    const error = await sink.send([msg('a/1')]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProducerUnavailableError);
    expect((error as Error).message).toBe(
      'Kafka did not acknowledge the batch: Producing messages failed. NOT_ENOUGH_REPLICAS',
    );
    expect(FakeProducer.made[0].closed).toBe(true);
    await sink.start();
    await expect(sink.send([msg('a/2')])).rejects.toThrow(ProducerUnavailableError);
    // each failed producer sent once and was closed; the next one is a third
    expect(FakeProducer.made.map((p) => [p.sends.length, p.closed])).toEqual([
      [1, true],
      [1, true],
      [0, false],
    ]);
  });

  it('refuses a topic with another partition count than the pinned one before sending anything', async () => {
    await sink.start();
    FakeProducer.partitions = 16;
    await expect(sink.send([msg('a/1')])).rejects.toThrow(PartitionCountMismatchError);
    await expect(sink.send([msg('a/1')])).rejects.toThrow(/t has 16 partitions but 12 are pinned/);
    expect(FakeProducer.made[0].sends).toHaveLength(0);
  });

  it('retires the producer when a broker connection closes, and when a batch is in doubt', async () => {
    await sink.start();
    FakeProducer.made[0].emit('client:broker:disconnect');
    expect(sink.isConnected).toBe(false);
    expect(FakeProducer.made[0].closed).toBe(true);
    await sink.start();
    sink.discard('outcome unknown');
    expect(FakeProducer.made[1].closed).toBe(true);
    await sink.start();
    expect(FakeProducer.made).toHaveLength(3);
  });
});
